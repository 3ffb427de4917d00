"""The pipeline form and a run's live log in a real Chromium."""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import expect  # noqa: E402  (after the Chromium check)

from tests.web.test_browser import CHROMIUM, browser, new_page, server  # noqa: F401

pytestmark = pytest.mark.browser
assert CHROMIUM


class SlowPages(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802
        page = int(parse_qs(urlsplit(self.path).query).get("page", ["1"])[0])
        time.sleep(0.4)
        nxt = f"http://{self.headers['Host']}/v1/items?page={page + 1}" if page < 12 else None
        body = {"data": [{"id": page * 10 + i} for i in range(10)], "next": nxt}
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(body).encode())


def test_pipeline_form_and_live_run_log(server, browser, settings):  # noqa: F811
    api = ThreadingHTTPServer(("127.0.0.1", 0), SlowPages)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    settings.allowed_private_networks = "127.0.0.0/8"
    try:
        http = httpx.Client(base_url=server)
        r = http.post(
            "/api/v1/auth/signup",
            json={"email": "pia@example.com", "password": "correct-horse-battery", "name": "Pia"},
        )
        h = {"Authorization": f"Bearer {r.json()['access_token']}"}
        http.post("/api/v1/orgs", json={"name": "Live", "slug": "live"}, headers=h)
        config = {
            "base_url": f"http://127.0.0.1:{api.server_address[1]}/v1",
            "resources": "items",
            "data_selector": "data",
            "paginator": "json_link",
        }
        http.post(
            "/api/v1/orgs/live/connections",
            json={"name": "Items API", "kind": "rest_api", "config": config},
            headers=h,
        )

        page = new_page(browser, server)
        page.goto("/login")
        page.fill("#f-email", "pia@example.com")
        page.fill("#f-password", "correct-horse-battery")
        page.click("main button[type=submit]")
        page.goto("/o/live")
        page.click("[data-nav=pipelines]")
        page.click("text=New pipeline")
        # Options appear only where they apply: a REST source offers rest mode only, and
        # the primary key shows for merge only.
        expect(page.locator("#f-mode")).to_have_value("rest")
        expect(page.locator("#f-table")).to_be_hidden()
        expect(page.locator("#f-primary_key")).to_be_hidden()
        page.select_option("#f-write_disposition", "merge")
        expect(page.locator("#f-primary_key")).to_be_visible()
        page.select_option("#f-write_disposition", "append")
        page.fill("#f-name", "Items")
        page.click("[data-testid=pipeline-form] button[type=submit]")
        expect(page.locator(".alert-success")).to_contain_text("Created Items")

        page.click("[data-testid=run-now]")
        expect(page).to_have_url(re.compile(r"/o/live/runs/[0-9a-f]{32}$"))
        log = page.locator("[data-testid=run-log]")
        # Lines arrive while the run is still running: the page is following the stream.
        expect(log).to_contain_text("Read so far", timeout=20_000)
        expect(page.locator("[data-run-status] .badge")).to_have_text("running")
        # When it ends the page shows the outcome and the loaded table.
        expect(page.locator("[data-run-status] .badge")).to_have_text("succeeded", timeout=30_000)
        expect(page.locator("[data-testid=run-tables]")).to_contain_text("120")
        expect(page.locator("[data-testid=cancel]")).to_have_count(0)
    finally:
        api.shutdown()
