"""In Chromium: the schedule form's live preview follows what is typed, then create and pause."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import expect  # noqa: E402  (after the Chromium check)

from tests.orchestration.helpers import shop_pipeline
from tests.web.test_browser import CHROMIUM, browser, new_page, server  # noqa: F401


class Person:
    def __init__(self, token: str):
        self.h = {"Authorization": f"Bearer {token}"}


def test_schedule_form_previews_and_creates(server, browser, settings):  # noqa: F811
    http = httpx.Client(base_url=server)
    r = http.post(
        "/api/v1/auth/signup",
        json={"email": "sam@example.com", "password": "correct-horse-battery", "name": "Sam"},
    )
    sam = Person(r.json()["access_token"])
    http.post("/api/v1/orgs", json={"name": "Cron", "slug": "cron"}, headers=sam.h)
    shop_pipeline(http, settings, sam, "cron")

    page = new_page(browser, server)
    page.goto("/login")
    page.fill("#f-email", "sam@example.com")
    page.fill("#f-password", "correct-horse-battery")
    page.click("main button[type=submit]")
    page.goto("/o/cron")
    page.click("[data-nav=schedules]")
    page.click("text=New schedule")
    preview = page.locator("[data-testid=cron-preview]")
    expect(preview.locator("[data-preview-description]")).to_have_text("At 06:00")
    page.fill("#f-cron", "*/20 9-17 * * 1-5")
    page.fill("#f-timezone", "Asia/Tokyo")
    expect(preview.locator("[data-preview-description]")).to_have_text(
        "Every 20 minutes, between 09:00 and 17:59, Monday through Friday"
    )
    items = preview.locator("[data-preview-list] li")
    expect(items).to_have_count(5)
    expect(items.first).to_contain_text("+09:00")
    page.fill("#f-cron", "*/20 9-17 * *")
    expect(preview.locator("[data-preview-error]")).to_contain_text("has 4 fields")
    expect(items).to_have_count(0)
    page.fill("#f-cron", "*/20 9-17 * * 1-5")
    page.fill("#f-name", "Office hours")
    page.select_option("#f-target", label="Orders")
    page.click("[data-testid=schedule-form] button[type=submit]")
    expect(page.locator(".alert-success")).to_contain_text("Created Office hours")
    expect(page).to_have_url(re.compile(r"/o/cron/schedules/[0-9a-f]{32}$"))
    page.click("[data-testid=pause]")
    expect(page.locator("h1 [data-testid=paused]")).to_be_visible()
    page.click("[data-nav=schedules]")
    expect(page.locator("[data-schedule='Office hours'] [data-testid=paused]")).to_be_visible()
