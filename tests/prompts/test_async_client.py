"""``AsyncTenantry`` against the same real ``uvicorn`` server as test_client.py: get by label and
version, the cache (a hit makes no request; stale-while-revalidate with one refresh task per
prompt; a stale copy while the server is down), fallbacks, retries, streamed execution whose
events arrive as the server sends them, quota refusals, and the API key kept out of errors."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest

from tenantry.client import (
    AsyncTenantry,
    ConnectionFailed,
    NotFound,
    QuotaExceeded,
    ServerError,
    TenantryClientError,
    Unauthenticated,
    ValidationError,
)
from tests.llm.servers import Reply
from tests.prompts.test_client import (  # noqa: F401 - the live server fixtures
    FALLBACK,
    HOUSE_STYLE,
    INPUTS,
    Live,
    add_provider,
    closed_url,
    live,
)

KEY = "tny_secret-key-0123456789"


def client(server: Live, **kwargs) -> AsyncTenantry:
    kwargs.setdefault("retry_backoff", 0.01)
    return AsyncTenantry(server.url, server.key, org=server.org, **kwargs)


async def test_get_by_label_and_version_and_the_rest_of_the_registry(live):  # noqa: F811
    async with client(live) as tn:
        prod = await tn.prompts.get("order-summary")
        assert (prod.id, prod.version, prod.label, prod.is_fallback) == (
            "order-summary",
            1,
            "production",
            False,
        )
        assert prod.labels == {"latest": 2, "production": 1, "staging": 2}
        assert prod.part_contents == {"house_style": HOUSE_STYLE}
        staging = await tn.prompts.get("order-summary", label="staging")
        assert staging.version == 2 and "Please summarise" in staging.spec["messages"][1]["content"]
        pinned = await tn.prompts.get("order-summary", version=1)
        assert (pinned.version, pinned.label) == (1, None)
        with pytest.raises(ValueError):
            await tn.prompts.get("order-summary", label="staging", version=1)

        served = await tn.prompts.render("order-summary", inputs=INPUTS, label="staging")
        assert staging.render(**INPUTS).to_dict() == served["rendered"]
        with pytest.raises(NotFound) as missing:
            await tn.prompts.get("no-such-prompt", fallback=FALLBACK)  # a refusal, not an outage
        assert missing.value.status == 404 and "no-such-prompt" in missing.value.detail
        assert [p["slug"] for p in await tn.prompts.list()] == ["order-summary"]
        assert await tn.prompts.list(tag="nothing") == []
        assert (await tn.request("GET", "prompt-parts"))["items"][0]["name"] == "house_style"

    # The organization comes from the key (GET /api/v1/api-key), or a user's only one.
    async with AsyncTenantry(live.url, live.key) as tn:
        assert (await tn.prompts.get("order-summary")).version == 1
        assert await tn.get_org() == "shop" and "shop" in repr(tn)
    async with AsyncTenantry(live.url, live.access) as tn:
        assert await tn.get_org() == "shop"
    assert live.recorder.count("/api/v1/api-key") == 1


async def test_a_cache_hit_makes_no_request(live):  # noqa: F811
    async with client(live, cache_ttl=60) as tn:
        first = await tn.prompts.get("order-summary", label="production")
        before = len(live.recorder.requests)
        for _ in range(20):
            assert await tn.prompts.get("order-summary", label="production") is first
        assert len(live.recorder.requests) == before
        await tn.prompts.get("order-summary", label="staging")  # another key: one request
        assert len(live.recorder.requests) == before + 1
        await tn.prompts.get("order-summary", label="staging", cache_ttl=0)  # always ask
        assert len(live.recorder.requests) == before + 2
        tn.prompts.invalidate("order-summary")
        await tn.prompts.get("order-summary", label="production")
        assert len(live.recorder.requests) == before + 3


async def test_stale_while_revalidate_answers_at_once_with_one_refresh_task(live):  # noqa: F811
    async with client(live, cache_ttl=0.3) as tn:
        assert (await tn.prompts.get("order-summary")).version == 1
        live.ok(live.api("PUT", "prompts/order-summary/labels/production", {"version": 2}))
        await asyncio.sleep(0.4)
        live.recorder.delay = 1.0  # the refresh takes a second; callers must not wait for it
        reads_before = live.recorder.count("/prompts/order-summary")
        started = time.monotonic()
        stale = await asyncio.gather(*(tn.prompts.get("order-summary") for _ in range(5)))
        stale.append(await tn.prompts.get("order-summary"))
        assert time.monotonic() - started < 0.5
        assert {p.version for p in stale} == {1}
        await tn.prompts.wait_for_refreshes(10)
        assert live.recorder.count("/prompts/order-summary") == reads_before + 1  # one refresh
        live.recorder.delay = 0.0
        before = len(live.recorder.requests)
        fresh = await tn.prompts.get("order-summary")
        assert fresh.version == 2 and len(live.recorder.requests) == before


async def test_closing_cancels_a_refresh_in_progress(live):  # noqa: F811
    tn = client(live, cache_ttl=0.1)
    await tn.prompts.get("order-summary")
    await asyncio.sleep(0.2)
    live.recorder.delay = 3.0
    await tn.prompts.get("order-summary")  # starts a refresh that would take 3 s
    started = time.monotonic()
    await tn.aclose()
    assert time.monotonic() - started < 2 and not tn.prompts._refreshing
    live.recorder.delay = 0.0


async def test_a_stale_copy_is_served_while_the_server_is_down(live):  # noqa: F811
    async with client(live, cache_ttl=0.2, max_retries=0) as tn:
        assert (await tn.prompts.get("order-summary")).version == 1
        await asyncio.to_thread(live.stop)
        await asyncio.sleep(0.3)
        assert (await tn.prompts.get("order-summary")).version == 1  # refresh fails behind
        await tn.prompts.wait_for_refreshes(10)
        again = await tn.prompts.get("order-summary")
        assert again.version == 1 and not again.is_fallback
        assert again.render(**INPUTS).messages[0]["content"] == HOUSE_STYLE
        assert (await tn.prompts.get("order-summary", cache_ttl=0)).version == 1


async def test_fallback_when_the_server_is_down_and_a_clear_error_without_one(closed_url):  # noqa: F811
    async with AsyncTenantry(closed_url, KEY, org="shop", retry_backoff=0.01) as tn:
        p = await tn.prompts.get("order-summary", fallback=FALLBACK)
        assert p.is_fallback and p.version is None and p.label == "production"
        assert p.render(customer="Ada").text == "Orders of Ada (offline copy)"
        plain = await tn.prompts.get("greeting", fallback="Hello {{ name }}")
        assert plain.render(name="Ada").text == "Hello Ada"
        with pytest.raises(ValidationError):
            await tn.prompts.get("x", fallback={"template": "a", "messages": []})
        with pytest.raises(ConnectionFailed) as exc:
            await tn.prompts.get("order-summary")
    message = str(exc.value)
    assert isinstance(exc.value, TenantryClientError)
    assert "Cannot reach Tenantry" in message and closed_url in message
    assert "fallback" in message and "4 attempt(s)" in message  # the first try and 3 retries
    assert "secret-key" not in message and "secret-key" not in repr(tn)
    # The organization unknown and the server down: the fallback still answers.
    async with AsyncTenantry(closed_url, KEY, max_retries=0) as down:
        assert (await down.prompts.get("order-summary", fallback="Offline")).is_fallback


async def test_retries_honour_retry_after_and_5xx_falls_back(live):  # noqa: F811
    async with client(live, max_retries=3) as tn:
        live.recorder.fail_next = 2
        before = live.recorder.count("/prompts/order-summary")
        assert (await tn.prompts.get("order-summary")).version == 1
        assert live.recorder.count("/prompts/order-summary") == before + 3  # 503, 503, 200
        live.recorder.fail_next, live.recorder.retry_after = 1, "1"
        started = time.monotonic()
        served = await tn.prompts.render("order-summary", inputs=INPUTS)
        assert served["version"] == 1 and time.monotonic() - started >= 0.9
        live.recorder.retry_after = "0"
    async with client(live, max_retries=1) as tn:
        live.recorder.fail_next = 2
        assert (await tn.prompts.get("order-summary", fallback=FALLBACK)).is_fallback
        live.recorder.fail_next = 2
        with pytest.raises(ServerError) as exc:
            await tn.prompts.get("order-summary", label="staging")
        assert exc.value.status == 503 and "busy" in str(exc.value)
    live.recorder.fail_next = 0


async def test_execute_streams_events_as_they_arrive_and_the_execution_log(live, openai_server):  # noqa: F811
    add_provider(live, openai_server)
    async with client(live) as tn:
        openai_server.script(Reply(text="Two orders, all shipped.", input_tokens=30))
        done = await tn.prompts.execute("order-summary", inputs=INPUTS)
        assert done["status"] == "succeeded" and done["output"] == "Two orders, all shipped."

        openai_server.script(Reply(text="Slow and steady.", delay=1.0))
        started = time.monotonic()
        events, arrived = [], []
        stream = await tn.prompts.execute("order-summary", INPUTS, label="staging", stream=True)
        async for event in stream:
            events.append(event)
            arrived.append(time.monotonic() - started)
        names = [e["event"] for e in events]
        assert names[0] == "start" and names[-1] == "done" and "text" in names
        assert arrived[0] < 0.8 <= arrived[-1]  # "start" came before the provider answered
        assert events[0]["data"]["version"] == 2
        text = "".join(e["data"]["text"] for e in events if e["event"] == "text")
        assert text == events[-1]["data"]["output"] == "Slow and steady."
        assert live.recorder.count("/prompts/order-summary/execute", "POST") == 2

        log = await tn.executions.list()
        assert [e["label"] for e in log] == ["staging", "production"]
        assert await tn.executions.list(status="failed") == []
        assert (await tn.executions.get(done["id"]))["output"] == "Two orders, all shipped."
        totals = await tn.executions.totals(by="prompt")
        assert "order-summary" in json.dumps(totals)


async def test_a_quota_refusal_is_raised_and_not_retried(live, openai_server):  # noqa: F811
    add_provider(live, openai_server)
    live.ok(live.api("PUT", "prompt-settings", {"monthly_token_limit": 10}))
    calls = len(openai_server.requests)
    async with client(live) as tn:
        before = live.recorder.count("/prompts/order-summary/execute", "POST")
        with pytest.raises(QuotaExceeded) as exc:
            await tn.prompts.execute("order-summary", inputs=INPUTS)
        assert exc.value.status == 429 and exc.value.retry_after
        with pytest.raises(QuotaExceeded):
            async for _ in await tn.prompts.execute("order-summary", INPUTS, stream=True):
                pass
    assert live.recorder.count("/prompts/order-summary/execute", "POST") == before + 2
    assert len(openai_server.requests) == calls


async def test_the_api_key_never_appears_in_errors_reprs_or_logs(live, closed_url, caplog):  # noqa: F811
    caplog.set_level(logging.DEBUG)
    wrong = "tny_" + "w" * 40
    async with AsyncTenantry(live.url, wrong, org="shop", retry_backoff=0.01) as tn:
        with pytest.raises(Unauthenticated) as exc:
            await tn.prompts.get("order-summary")
        with pytest.raises(Unauthenticated) as streamed:
            async for _ in await tn.prompts.execute("order-summary", INPUTS, stream=True):
                pass
    async with AsyncTenantry(live.url, wrong, retry_backoff=0.01) as discovering:
        with pytest.raises(Unauthenticated) as org_exc:
            await discovering.prompts.get("order-summary", fallback=FALLBACK)
    async with AsyncTenantry(closed_url, wrong, max_retries=1, retry_backoff=0.01) as down:
        with pytest.raises(ConnectionFailed) as exc2:
            await down.prompts.get("order-summary")
    async with client(live) as good:
        prompt = await good.prompts.get("order-summary")
    texts = [
        str(exc.value),
        repr(exc.value),
        json.dumps(exc.value.problem),
        str(streamed.value),
        str(org_exc.value),
        str(exc2.value),
        repr(tn),
        repr(good),
        repr(good._transport),
        repr(prompt),
        caplog.text,
    ]
    assert exc.value.status == 401
    for text in texts:
        assert wrong not in text and live.key not in text
