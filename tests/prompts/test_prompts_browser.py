"""The prompt editor and the run panel in a real Chromium: write a prompt (its problems listed
with their lines as you type; clicking one selects the line), type into the input form generated
from its declared inputs and watch the preview change, save it, then run it against a loopback
OpenAI-compatible server and see the answer stream in with its tokens and cost — and a quota
refusal shown where the answer would be."""

from __future__ import annotations

import os
import re

import httpx
import pytest
from playwright.sync_api import expect  # noqa: E402  (after the Chromium check)

from tests.llm.servers import Reply
from tests.web.test_browser import CHROMIUM, browser, new_page, server  # noqa: F401

pytestmark = pytest.mark.browser
assert CHROMIUM

PROMPT = """id: greet
description: Greets a customer
tags: [support]
model:
  model: gpt-4o-mini
  max_tokens: 60
inputs:
  name:
    type: string
    description: Who is greeted
  tone:
    type: enum
    values: [warm, dry]
    default: warm
  times:
    type: integer
    default: 1
messages:
  - role: system
    content: Be {{ tone }}.
  - role: user
    content: Say hello to {{ name }} {{ times }} times.
"""


def _shot(page, name: str) -> None:
    shots = os.environ.get("TENANTRY_SCREENSHOTS")
    if shots:
        os.makedirs(shots, exist_ok=True)
        page.screenshot(path=os.path.join(shots, name), full_page=True)


def test_prompt_editor_preview_and_streamed_run(server, settings, browser, openai_server):  # noqa: F811
    http = httpx.Client(base_url=server)
    r = http.post(
        "/api/v1/auth/signup",
        json={"email": "lea@example.com", "password": "correct-horse-battery", "name": "Lea"},
    )
    h = {"Authorization": f"Bearer {r.json()['access_token']}"}
    http.post("/api/v1/orgs", json={"name": "Lab", "slug": "lab"}, headers=h).raise_for_status()
    provider = {
        "name": "loopback",
        "kind": "openai",
        "base_url": openai_server.base_url,
        "api_key": openai_server.api_key,
    }
    http.post("/api/v1/orgs/lab/llm/providers", json=provider, headers=h).raise_for_status()

    page = new_page(browser, server)
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on(
        "console",
        lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.goto("/login")
    page.fill("#f-email", "lea@example.com")
    page.fill("#f-password", "correct-horse-battery")
    page.click("main button[type=submit]")
    page.goto("/o/lab")
    page.click("[data-nav=prompts]")
    page.click("[data-testid=new-prompt]")

    # The starter's inputs are already a form; then our prompt, typed with a mistake.
    expect(page.locator("[data-input=customer_name]")).to_be_visible(timeout=10_000)
    page.fill("#f-yaml", PROMPT.replace("{{ name }}", "{{ nmae }}"))
    listed = page.locator("[data-problem-list] li[data-line]")
    expect(listed.first).to_contain_text("nmae", timeout=10_000)
    expect(listed.first).to_contain_text("line 22")
    expect(page.locator(".sql-line-number.sql-error-line")).to_have_text("22")
    listed.first.click()  # selects the line in the editor
    selected = page.evaluate(
        "() => { const t = document.querySelector('#f-yaml');"
        " return t.value.slice(t.selectionStart, t.selectionEnd); }"
    )
    assert selected == "    content: Say hello to {{ nmae }} {{ times }} times."
    # Tab inserts spaces, not focus moves.
    page.press("#f-yaml", "End")
    page.press("#f-yaml", "Tab")
    assert "times.  " in page.input_value("#f-yaml")
    page.fill("#f-yaml", PROMPT)
    expect(page.locator("[data-prompt-status]")).to_contain_text("Valid", timeout=10_000)
    expect(page.locator("[data-problems]")).to_be_hidden()

    # The input form follows the declared inputs: text, a select with its default, a number.
    name = page.locator("[data-input=name]")
    expect(name).to_be_visible()
    expect(page.locator("[data-input=customer_name]")).to_have_count(0)
    expect(page.locator("select[data-input=tone]")).to_have_value("warm")
    expect(page.locator("input[type=number][data-input=times]")).to_have_value("1")
    expect(page.locator("[data-input-field=name] .hint")).to_have_text("Who is greeted")
    rendered = page.locator("[data-testid=rendered]")
    # Required and empty: the preview names the input.
    expect(page.locator("[data-testid=preview-error]")).to_contain_text("name", timeout=10_000)
    name.fill("Ann")
    expect(rendered).to_contain_text("Say hello to Ann 1 times.", timeout=10_000)
    expect(rendered.locator(".msg-role-system")).to_have_text("system")
    expect(rendered.locator(".msg-role-user")).to_have_text("user")
    page.select_option("select[data-input=tone]", "dry")
    page.fill("[data-input=times]", "3")
    expect(rendered).to_contain_text("Say hello to Ann 3 times.", timeout=10_000)
    expect(rendered).to_contain_text("Be dry.")
    expect(page.locator("[data-testid=preview-error]")).to_be_hidden()
    _shot(page, "prompt-editor.png")

    # Save it, pointing production at version 1.
    page.check("[data-save-label=production]")
    page.fill("#f-message", "First greeting")
    page.click("[data-testid=save]")
    expect(page.locator(".alert-success").first).to_contain_text("Created greet, version 1.")
    expect(page).to_have_url(re.compile(r"/o/lab/prompts/greet$"))
    expect(page.locator("[data-testid=prompt-labels] [data-label=production]")).to_be_visible()

    # Run it: the answer streams in, then tokens, cost and latency.
    openai_server.script(
        Reply(text="Hello Ann! Hello Ann! Hello Ann!", input_tokens=21, output_tokens=9)
    )
    page.click("[data-tab=run]")
    expect(page.locator("[data-testid=run-version]")).to_have_text("1")
    page.fill("[data-input=name]", "Ann")
    page.fill("[data-input=times]", "3")
    page.click("[data-testid=run]")
    output = page.locator("[data-testid=run-output]")
    expect(output).to_have_text("Hello Ann! Hello Ann! Hello Ann!", timeout=15_000)
    stats = page.locator("[data-testid=run-stats]")
    expect(stats).to_contain_text("Tokens in 21 · out 9", timeout=15_000)
    expect(stats).to_contain_text("cost $0.000009")  # 21 × 0.15 + 9 × 0.6 micro-USD
    expect(stats).to_contain_text("latency")
    sent = openai_server.requests[-1].body
    assert sent["stream"] is True
    assert sent["messages"][-1]["content"] == "Say hello to Ann 3 times."
    _shot(page, "prompt-run.png")
    page.click("[data-testid=execution-link]")
    expect(page.locator("[data-testid=execution-output]")).to_contain_text("Hello Ann!")

    # Over the monthly quota: the refusal shows where the answer would be.
    r = http.put("/api/v1/orgs/lab/prompt-settings", json={"monthly_token_limit": 10}, headers=h)
    r.raise_for_status()
    page.goto("/o/lab/prompts/greet/run")
    page.fill("[data-input=name]", "Bo")
    page.click("[data-testid=run]")
    error = page.locator("[data-testid=run-error]")
    expect(error).to_contain_text("monthly token quota", timeout=10_000)
    expect(output).to_be_empty()
    assert len([q for q in openai_server.requests if q.method == "POST"]) == 1
    assert not problems, problems
