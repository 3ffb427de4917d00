"""The Python client (`tenantry.client`) against a real `uvicorn` server on loopback: get by
label and version, local render equal to the server's, the cache (a hit makes no request;
stale-while-revalidate; a stale copy while the server is down), fallbacks, retries of transient
failures, quota refusals, streaming execution, and the API key kept out of every error."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time

import httpx
import pytest

from tenantry.client import (
    ConnectionFailed,
    NotFound,
    QuotaExceeded,
    ServerError,
    Tenantry,
    TenantryClientError,
    Unauthenticated,
    ValidationError,
)
from tests.llm.servers import Reply

HOUSE_STYLE = "Be brief and kind.\n"
V1 = """id: order-summary
description: Summarise orders
tags: [sales]
model: {provider: loop, model: gpt-4o-mini, temperature: 0.2, max_tokens: 40}
inputs:
  customer: {type: string}
  orders: {type: array<object>}
  count: {type: integer, default: 3}
messages:
  - role: system
    content: '{% include "house_style" %}'
  - role: user
    content: >-
      Summarise {{ orders | length }} of {{ count }} orders for {{ customer }}:
      {{ orders | json }}
"""
V2 = V1.replace("Summarise {{", "Please summarise {{")
INPUTS = {"customer": "Ada", "orders": [{"id": 1, "amount": 9.5}], "count": "2"}
FALLBACK = """id: order-summary
template: "Orders of {{ customer }} (offline copy)"
inputs:
  customer: {type: string}
"""


class Recorder:
    """ASGI middleware: records every request; can answer 503s or slow down prompt reads."""

    def __init__(self, app):
        self.app = app
        self.requests: list[tuple[str, str]] = []
        self.fail_next = 0
        self.retry_after = "0"
        self.delay = 0.0

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            self.requests.append((scope["method"], scope["path"]))
            if self.fail_next > 0:
                self.fail_next -= 1
                body = json.dumps({"title": "Service unavailable", "status": 503, "detail": "busy"})
                await send(
                    {
                        "type": "http.response.start",
                        "status": 503,
                        "headers": [
                            (b"content-type", b"application/problem+json"),
                            (b"retry-after", self.retry_after.encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body.encode()})
                return
            if self.delay and scope["method"] == "GET" and "/prompts/" in scope["path"]:
                await asyncio.sleep(self.delay)
        await self.app(scope, receive, send)

    def count(self, path_end: str, method: str = "GET") -> int:
        return sum(1 for m, p in list(self.requests) if m == method and p.endswith(path_end))


class Live:
    def __init__(self, settings):
        import uvicorn

        from tenantry.app import create_app

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        settings.base_url = self.url
        self.recorder = Recorder(create_app(settings))
        config = uvicorn.Config(
            self.recorder, host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started:
            assert time.time() < deadline, "server did not start"
            time.sleep(0.05)
        self.http = httpx.Client(base_url=self.url)
        self._setup()

    def _setup(self) -> None:
        r = self.http.post(
            "/api/v1/auth/signup", json={"email": "owner@client.example", "password": "pw-" * 4}
        )
        assert r.status_code == 201, r.text
        self.access = r.json()["access_token"]
        self.h = {"Authorization": f"Bearer {self.access}"}
        self.ok(
            self.http.post("/api/v1/orgs", json={"name": "Shop", "slug": "shop"}, headers=self.h)
        )
        self.org = "shop"
        r = self.ok(
            self.http.post(
                "/api/v1/orgs/shop/api-keys",
                json={"name": "app", "scopes": ["read", "run"]},
                headers=self.h,
            )
        )
        self.key = r.json()["key"]
        self.ok(
            self.http.post(
                "/api/v1/orgs/shop/prompt-parts",
                json={"name": "house_style", "content": HOUSE_STYLE},
                headers=self.h,
            )
        )
        self.ok(self.api("POST", "prompts", {"yaml": V1, "labels": ["production"]}))
        self.ok(self.api("PUT", "prompts/order-summary", {"yaml": V2, "labels": ["staging"]}))

    def api(self, method: str, path: str, body=None) -> httpx.Response:
        return self.http.request(method, f"/api/v1/orgs/shop/{path}", json=body, headers=self.h)

    @staticmethod
    def ok(r: httpx.Response) -> httpx.Response:
        assert r.status_code < 300, r.text
        return r

    def client(self, **kwargs) -> Tenantry:
        kwargs.setdefault("retry_backoff", 0.01)
        return Tenantry(self.url, self.key, org=self.org, **kwargs)

    def stop(self) -> None:
        if self.thread.is_alive():
            self.server.should_exit = True
            self.thread.join(10)


@pytest.fixture
def live(settings):
    server = Live(settings)
    yield server
    server.http.close()
    server.stop()


@pytest.fixture
def closed_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


def test_get_by_label_and_version_and_local_render_equals_the_server(live):
    tn = live.client()
    prod = tn.prompts.get("order-summary")
    assert (prod.id, prod.version, prod.label, prod.is_fallback) == (
        "order-summary",
        1,
        "production",
        False,
    )
    assert prod.labels == {"latest": 2, "production": 1, "staging": 2}
    assert prod.config == {
        "provider": "loop",
        "model": "gpt-4o-mini",
        "temperature": 0.2,
        "max_tokens": 40,
    }
    assert prod.part_contents == {"house_style": HOUSE_STYLE} and prod.parts == {"house_style": 1}
    staging = tn.prompts.get("order-summary", label="staging")
    assert staging.version == 2 and "Please summarise" in staging.spec["messages"][1]["content"]
    pinned = tn.prompts.get("order-summary", version=1)
    assert (pinned.version, pinned.label) == (1, None)

    for label in ("production", "staging"):
        local = tn.prompts.get("order-summary", label=label).render(**INPUTS)
        served = tn.prompts.render("order-summary", inputs=INPUTS, label=label)
        assert local.to_dict() == served["rendered"]  # "2" coerced to 2 on both sides
    assert "Summarise 1 of 2 orders for Ada" in prod.messages(**INPUTS)[1]["content"]
    with pytest.raises(ValidationError) as bad:
        prod.render(customer="Ada", orders="not a list")
    assert "orders" in str(bad.value)
    with pytest.raises(NotFound) as missing:
        tn.prompts.get("no-such-prompt")
    assert "no-such-prompt" in missing.value.detail and missing.value.status == 404
    assert [p["slug"] for p in tn.prompts.list()] == ["order-summary"]
    assert tn.prompts.list(tag="nothing") == []


def test_a_cache_hit_makes_no_request(live):
    tn = live.client(cache_ttl=60)
    first = tn.prompts.get("order-summary", label="production")
    before = len(live.recorder.requests)
    for _ in range(20):
        again = tn.prompts.get("order-summary", label="production")
        assert again is first
        again.render(**INPUTS)  # local rendering asks nothing either
    assert len(live.recorder.requests) == before
    tn.prompts.get("order-summary", label="staging")  # another key: one request
    assert len(live.recorder.requests) == before + 1
    tn.prompts.get("order-summary", label="staging", cache_ttl=0)  # per call: always ask
    assert len(live.recorder.requests) == before + 2


def test_stale_while_revalidate_returns_the_stale_copy_at_once_and_refreshes(live):
    tn = live.client(cache_ttl=0.3)
    assert tn.prompts.get("order-summary").version == 1
    live.ok(live.api("PUT", "prompts/order-summary/labels/production", {"version": 2}))
    time.sleep(0.4)
    live.recorder.delay = 1.0  # the refresh takes a second; the caller must not wait for it
    reads_before = live.recorder.count("/prompts/order-summary")
    started = time.monotonic()
    stale = [tn.prompts.get("order-summary") for _ in range(5)]
    assert time.monotonic() - started < 0.5
    assert {p.version for p in stale} == {1}
    tn.prompts.wait_for_refreshes(10)
    assert live.recorder.count("/prompts/order-summary") == reads_before + 1  # one refresh
    live.recorder.delay = 0.0
    before = len(live.recorder.requests)
    fresh = tn.prompts.get("order-summary")
    assert fresh.version == 2 and len(live.recorder.requests) == before


def test_a_stale_copy_is_served_while_the_server_is_down(live):
    tn = live.client(cache_ttl=0.2, max_retries=0)
    assert tn.prompts.get("order-summary").version == 1
    live.stop()
    time.sleep(0.3)
    assert tn.prompts.get("order-summary").version == 1  # stale, refresh fails in background
    tn.prompts.wait_for_refreshes(10)
    again = tn.prompts.get("order-summary")
    assert again.version == 1 and not again.is_fallback
    assert again.render(**INPUTS).messages[0]["content"] == HOUSE_STYLE
    # cache_ttl=0 still falls back on the copy it has rather than failing.
    assert tn.prompts.get("order-summary", cache_ttl=0).version == 1


def test_fallback_when_the_server_is_down_and_a_clear_error_without_one(closed_url):
    tn = Tenantry(closed_url, "tny_secret-key-0123456789", org="shop", retry_backoff=0.01)
    p = tn.prompts.get("order-summary", fallback=FALLBACK)
    assert p.is_fallback and p.version is None and p.label == "production"
    assert p.render(customer="Ada").text == "Orders of Ada (offline copy)"
    plain = tn.prompts.get("greeting", fallback="Hello {{ name }}, {{ n + 1 }}")
    assert plain.is_fallback and plain.render(name="Ada", n=1).text == "Hello Ada, 2"
    as_dict = tn.prompts.get("chat", fallback={"messages": [{"role": "user", "content": "Hi"}]})
    assert as_dict.messages() == [{"role": "user", "content": "Hi"}]
    with pytest.raises(ValidationError) as broken:
        tn.prompts.get("x", fallback={"template": "a", "messages": []})
    assert "fallback" in str(broken.value)

    with pytest.raises(ConnectionFailed) as exc:
        tn.prompts.get("order-summary")
    message = str(exc.value)
    assert isinstance(exc.value, TenantryClientError)
    assert "Cannot reach Tenantry" in message and closed_url in message
    assert "order-summary" in message and "fallback" in message
    assert "4 attempt(s)" in message  # the first try and max_retries=3
    assert "secret-key" not in message and "secret-key" not in repr(tn)


def test_fallback_on_5xx_but_not_on_a_refusal(live):
    tn = live.client(max_retries=1)
    live.recorder.fail_next = 2
    p = tn.prompts.get("order-summary", fallback=FALLBACK)
    assert p.is_fallback
    live.recorder.fail_next = 2
    with pytest.raises(ServerError) as exc:
        tn.prompts.get("order-summary", label="staging")
    assert exc.value.status == 503 and "busy" in str(exc.value)
    with pytest.raises(NotFound):
        tn.prompts.get("no-such-prompt", fallback=FALLBACK)


def test_transient_errors_are_retried_honouring_retry_after(live):
    tn = live.client(max_retries=3)
    live.recorder.fail_next = 2
    before = live.recorder.count("/prompts/order-summary")
    assert tn.prompts.get("order-summary").version == 1
    assert live.recorder.count("/prompts/order-summary") == before + 3  # 503, 503, 200

    live.recorder.fail_next, live.recorder.retry_after = 1, "1"
    started = time.monotonic()
    served = tn.prompts.render("order-summary", inputs=INPUTS)
    assert served["version"] == 1 and time.monotonic() - started >= 0.9

    live.recorder.retry_after = "0"
    live.recorder.fail_next = 5
    with pytest.raises(ServerError):
        tn.prompts.render("order-summary", inputs=INPUTS)
    live.recorder.fail_next = 0


def test_the_api_key_never_appears_in_errors_reprs_or_logs(live, closed_url, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "tny_" + "w" * 40
    tn = Tenantry(live.url, wrong, org="shop", retry_backoff=0.01)
    with pytest.raises(Unauthenticated) as exc:
        tn.prompts.get("order-summary")
    assert exc.value.status == 401
    down = Tenantry(closed_url, wrong, org="shop", max_retries=1, retry_backoff=0.01)
    with pytest.raises(ConnectionFailed) as exc2:
        down.prompts.get("order-summary")
    good = live.client()
    good.prompts.get("order-summary")
    texts = [
        str(exc.value),
        repr(exc.value),
        json.dumps(exc.value.problem),
        str(exc2.value),
        repr(tn),
        repr(good),
        repr(good.prompts.get("order-summary")),
        caplog.text,
    ]
    for text in texts:
        assert wrong not in text and live.key not in text


def test_the_organization_comes_from_the_key_or_the_token(live, closed_url):
    # Tenantry(base_url, api_key) is enough: the key names its organization.
    tn = Tenantry(live.url, live.key)
    assert tn.prompts.get("order-summary").version == 1 and tn.org == "shop"
    tn = Tenantry(live.url, live.access)  # a signed-in user's token, in one organization
    assert tn.org == "shop" and tn.prompts.get("order-summary").version == 1
    # Server down before the organization is known: the fallback still answers.
    down = Tenantry(closed_url, live.key, max_retries=0)
    assert down.prompts.get("order-summary", fallback="Offline {{ x }}").is_fallback


def add_provider(live, server) -> None:
    body = {
        "name": "loop",
        "kind": "openai",
        "base_url": server.base_url,
        "api_key": server.api_key,
    }
    live.ok(live.api("POST", "llm/providers", body))


def test_execute_streamed_and_not_and_the_execution_log(live, openai_server):
    add_provider(live, openai_server)
    tn = live.client()
    openai_server.script(Reply(text="Two orders, all shipped.", input_tokens=30, output_tokens=5))
    done = tn.prompts.execute("order-summary", inputs=INPUTS)
    assert done["status"] == "succeeded" and done["output"] == "Two orders, all shipped."
    assert (done["version"], done["label"], done["total_tokens"]) == (1, "production", 35)

    events = list(tn.prompts.execute("order-summary", inputs=INPUTS, label="staging", stream=True))
    names = [e["event"] for e in events]
    assert names[0] == "start" and names[-1] == "done" and "text" in names
    text = "".join(e["data"]["text"] for e in events if e["event"] == "text")
    assert text == events[-1]["data"]["output"] and text.startswith("echo:")
    assert events[0]["data"]["version"] == 2

    log = tn.executions.list()
    assert [e["label"] for e in log] == ["staging", "production"]
    assert tn.executions.list(status="failed") == []
    assert tn.executions.get(done["id"])["output"] == "Two orders, all shipped."


def test_a_quota_refusal_is_raised_and_not_retried(live, openai_server):
    add_provider(live, openai_server)
    tn = live.client()
    live.ok(live.api("PUT", "prompt-settings", {"monthly_token_limit": 10}))
    calls = len(openai_server.requests)
    before = live.recorder.count("/prompts/order-summary/execute", "POST")
    with pytest.raises(QuotaExceeded) as exc:
        tn.prompts.execute("order-summary", inputs=INPUTS)
    assert exc.value.status == 429 and "quota" in str(exc.value).lower()
    assert exc.value.retry_after and exc.value.retry_after > 0
    assert (
        live.recorder.count("/prompts/order-summary/execute", "POST") == before + 1
    )  # not retried
    assert len(openai_server.requests) == calls


def test_importing_the_client_loads_only_httpx_and_the_standard_library():
    import subprocess
    import sys

    code = (
        "import sys, tenantry.client\n"
        "heavy = {'pydantic', 'jinja2', 'yaml', 'sqlalchemy', 'fastapi', 'starlette', 'typer'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
