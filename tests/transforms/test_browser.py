"""The SQL editor in a real Chromium: highlighting, the inline error as you type, save, compile."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect  # noqa: E402  (after the Chromium check)

from tests.web.test_browser import CHROMIUM, browser, new_page, server  # noqa: F401

pytestmark = pytest.mark.browser
assert CHROMIUM


def test_sql_editor_shows_errors_inline_as_you_type(server, browser):  # noqa: F811
    http = httpx.Client(base_url=server)
    r = http.post(
        "/api/v1/auth/signup",
        json={"email": "tara@example.com", "password": "correct-horse-battery", "name": "Tara"},
    )
    h = {"Authorization": f"Bearer {r.json()['access_token']}"}
    http.post("/api/v1/orgs", json={"name": "Models", "slug": "models"}, headers=h)

    page = new_page(browser, server)
    page.goto("/login")
    page.fill("#f-email", "tara@example.com")
    page.fill("#f-password", "correct-horse-battery")
    page.click("main button[type=submit]")
    page.goto("/o/models")
    page.click("[data-nav=transformations]")
    page.click("text=New transformation")

    # Options follow the kind: a snapshot has a strategy, no materialization.
    expect(page.locator("#f-materialization")).to_be_visible()
    expect(page.locator("#f-snapshot_strategy")).to_be_hidden()
    page.select_option("#f-kind", "snapshot")
    expect(page.locator("#f-materialization")).to_be_hidden()
    expect(page.locator("#f-updated_at")).to_be_visible()
    page.select_option("#f-kind", "model")

    page.fill("#f-name", "stg_numbers")
    editor = page.locator("#f-sql")
    editor.click()
    editor.press_sequentially("select 1 as id,\n  2 as amount\nfrom where")
    # Highlighted as typed: keywords and numbers get their own colours.
    layer = page.locator("[data-sql-highlight]")
    expect(layer.locator(".sql-keyword").first).to_have_text("select")
    expect(layer.locator(".sql-number").first).to_have_text("1")
    # The check runs as you type: the error names the line, and that line is marked.
    error = page.locator("[data-sql-error]")
    expect(error).to_contain_text("model 'stg_numbers', line 3", timeout=10_000)
    expect(page.locator(".sql-line-number.sql-error-line")).to_have_text("3")
    expect(page.locator("[data-sql-marker]")).to_be_visible()

    # Fixing it clears the error and the mark.
    editor.press("End")
    for _ in range(len("from where")):
        editor.press("Backspace")
    editor.press_sequentially("-- {{ 'a comment' }}")
    expect(error).to_be_hidden(timeout=10_000)
    expect(page.locator(".sql-line-number.sql-error-line")).to_have_count(0)
    expect(page.locator("[data-sql-marker]")).to_be_hidden()
    expect(page.locator("[data-sql-status]")).to_contain_text("The SQL is valid")
    expect(layer.locator(".sql-comment")).to_have_count(1)

    page.click("[data-testid=save]")
    expect(page.locator(".alert-success")).to_contain_text("Created stg_numbers")
    expect(page).to_have_url(re.compile(r"/o/models/transformations/[0-9a-f]{32}$"))
    expect(page.locator("#f-sql")).to_have_value(
        "select 1 as id,\n  2 as amount\n-- {{ 'a comment' }}"
    )

    # Compile: dbt's SQL for what is in the editor, shown highlighted under it.
    page.click("[data-testid=compile]")
    compiled = page.locator("[data-output-sql]")
    expect(compiled).to_contain_text("2 as amount", timeout=60_000)
    expect(compiled.locator(".sql-keyword").first).to_have_text("select")
