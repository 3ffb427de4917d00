"""The UI in a real Chromium: sign up → create org → invite → accept → change role → viewer sees no
admin actions → create and revoke an API key."""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time

import httpx
import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    if os.environ.get("CI"):
        pytest.fail("Chromium is required in CI (apt-get install -y chromium)", pytrace=False)
    pytest.skip("no Chromium (shutil.which found none)", allow_module_level=True)

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

pytestmark = pytest.mark.browser
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(settings):
    """The real app on a real uvicorn, on loopback."""
    import uvicorn

    from tenantry.app import create_app

    port = _free_port()
    settings.base_url = f"http://127.0.0.1:{port}"
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not srv.started:
        assert time.time() < deadline, "server did not start"
        time.sleep(0.05)
    yield settings.base_url
    srv.should_exit = True
    thread.join(10)


@pytest.fixture
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def new_page(browser, base: str) -> Page:
    page = browser.new_context(base_url=base).new_page()
    page.on("dialog", lambda d: d.accept())  # confirm() before destructive actions
    return page


def test_team_and_api_key_flow(server, browser, tmp_path):
    base = server
    owner = new_page(browser, base)

    # Sign up and create an organization.
    owner.goto("/signup")
    owner.fill("#f-name", "Olivia Owner")
    owner.fill("#f-email", "olivia@example.com")
    owner.fill("#f-password", "correct-horse-battery")
    owner.click("button[type=submit]")
    expect(owner).to_have_url(re.compile(r"/orgs/new$"))
    owner.fill("#f-name", "Acme Browser")
    owner.click("main button[type=submit]")
    expect(owner).to_have_url(re.compile(r"/o/acme-browser$"))
    expect(owner.locator(".alert-success")).to_contain_text("You are its owner")
    owner.screenshot(path=str(tmp_path / "overview.png"))

    # Invite a new person as editor.
    owner.click("[data-nav=members]")
    owner.fill("#f-email", "bob@example.com")
    owner.select_option("#f-role", "editor")
    owner.click("[data-testid=invite-form] button[type=submit]")
    link = owner.locator("#invite-link").inner_text().strip()
    assert link.startswith(base + "/invite/")
    expect(owner.locator("[data-testid=invites-table]")).to_contain_text("bob@example.com")

    # Bob opens the link in his own browser and signs up through it.
    bob = new_page(browser, base)
    bob.goto(link)
    expect(bob.locator("h1")).to_contain_text("Join Acme Browser")
    bob.fill("#f-name", "Bob")
    bob.fill("#f-password", "bobs-password-1")
    bob.click("button[type=submit]")
    expect(bob).to_have_url(re.compile(r"/o/acme-browser$"))
    expect(bob.locator(".role-badge")).to_have_text("editor")
    # The link is single-use.
    bob.goto(link)
    expect(bob.locator(".alert-error")).to_contain_text("already been accepted")

    # The owner makes Bob a viewer.
    owner.goto("/o/acme-browser/members")
    row = owner.locator("tr[data-email='bob@example.com']")
    row.locator("select[name=role]").select_option("viewer")
    row.locator("button", has_text="Change").click()
    expect(owner.locator(".alert-success")).to_contain_text("bob@example.com is now viewer")

    # As a viewer, Bob sees no admin areas or actions.
    bob.goto("/o/acme-browser")
    expect(bob.locator(".role-badge")).to_have_text("viewer")
    for area in ("api_keys", "secrets", "audit", "settings"):
        expect(bob.locator(f"[data-nav={area}]")).to_have_count(0)
    bob.click("[data-nav=members]")
    expect(bob.locator("[data-testid=invite-form]")).to_have_count(0)
    expect(bob.locator("[data-testid=members-table] select")).to_have_count(0)
    expect(bob.locator("[data-testid=members-table] button", has_text="Remove")).to_have_count(0)
    bob.goto("/o/acme-browser/api-keys")
    expect(bob.locator("h1")).to_contain_text("403")

    # The owner creates an API key: shown once, works, then revoked and refused at once.
    owner.click("[data-nav=api_keys]")
    owner.fill("#f-name", "nightly export")
    owner.locator("button", has_text="Create key").click()
    secret = owner.locator("#new-key-secret").inner_text().strip()
    assert secret.startswith("tny_")
    owner.screenshot(path=str(tmp_path / "api-keys.png"))
    api = f"{base}/api/v1/orgs/acme-browser"
    assert httpx.get(api, headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    owner.reload()
    expect(owner.locator("#new-key-secret")).to_have_count(0)
    owner.locator("tr[data-key-name='nightly export'] button", has_text="Revoke").click()
    expect(owner.locator(".alert-success")).to_contain_text("Revoked")
    expect(owner.locator("tr[data-key-name='nightly export']")).to_contain_text("revoked")
    assert httpx.get(api, headers={"Authorization": f"Bearer {secret}"}).status_code == 401

    # Every step is in the audit log.
    owner.click("[data-nav=audit]")
    table = owner.locator("[data-testid=audit-table]")
    for action in (
        "api_key.revoke",
        "api_key.create",
        "member.role_change",
        "invitation.accept",
        "org.create",
    ):
        expect(table).to_contain_text(action)
    shots = os.environ.get("TENANTRY_SCREENSHOTS")
    if shots:
        os.makedirs(shots, exist_ok=True)
        owner.screenshot(path=os.path.join(shots, "audit.png"), full_page=True)
        for name in ("overview.png", "api-keys.png"):
            shutil.copy(tmp_path / name, os.path.join(shots, name))


def test_api_reference_works_offline_under_the_page_policy(server, browser):
    page = new_page(browser, server)
    blocked = []
    page.on(
        "console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None
    )
    requested = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto("/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Tenantry")
    expect(page.locator(".opblock-tag-section").first).to_be_visible()
    assert not blocked, blocked
    assert all(url.startswith(server) for url in requested), [
        u for u in requested if not u.startswith(server)
    ]
