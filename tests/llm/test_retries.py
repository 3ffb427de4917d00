"""Retries, backoff, Retry-After and the wording of provider failures, over real sockets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from tenantry.llm.clients import client_for
from tenantry.llm.errors import ProviderError, ProviderTimeout
from tenantry.llm.transport import BACKOFF_CAP, parse_retry_after
from tenantry.llm.types import ChatRequest, Message, ProviderConfig
from tests.llm.servers import Reply


def ask(model: str = "gpt-4o-mini") -> ChatRequest:
    return ChatRequest(model=model, messages=[Message("user", "hello")])


async def test_429_retry_after_is_honoured_then_succeeds(openai_server):
    openai_server.script(Reply(status=429, error="Rate limit reached", retry_after="1"))
    # The real sleep: the second request must arrive a full second after the first.
    async with client_for(openai_server.config()) as client:
        reply = await client.chat(ask())

    assert reply.text == "echo: hello"
    first, second = openai_server.requests
    assert second.at - first.at >= 0.95


async def test_503_then_success_backs_off_with_jitter(anthropic_server, sleeps):
    anthropic_server.script(Reply(status=503, error="upstream down"), Reply(status=529))
    async with client_for(anthropic_server.config(), sleep=sleeps) as client:
        reply = await client.chat(ask("claude-sonnet-4"))

    assert reply.text == "echo: hello"
    assert len(anthropic_server.requests) == 3
    # Base 0.5 s doubling, each wait jittered down to no less than half.
    assert 0.25 <= sleeps[0] <= 0.5 and 0.5 <= sleeps[1] <= 1.0


async def test_retries_exhausted_is_transient_and_names_provider_and_status(openai_server, sleeps):
    openai_server.script(*[Reply(status=503, error="The server is overloaded")] * 3)
    async with client_for(openai_server.config(max_retries=2), sleep=sleeps) as client:
        with pytest.raises(ProviderError) as caught:
            await client.chat(ask())

    error = caught.value
    assert error.transient and error.status_code == 503
    assert '"loopback-openai" (openai)' in error.detail
    assert "HTTP 503" in error.detail and "The server is overloaded" in error.detail
    assert "3 attempts" in error.detail
    assert len(openai_server.requests) == 3 and len(sleeps) == 2
    assert error.problem()["provider"] == "loopback-openai"


async def test_retry_after_beyond_the_cap_fails_fast_saying_when(openai_server, sleeps):
    openai_server.script(Reply(status=429, error="Quota exhausted", retry_after="600"))
    async with client_for(openai_server.config(), sleep=sleeps) as client:
        with pytest.raises(ProviderError) as caught:
            await client.chat(ask())
    assert caught.value.transient
    assert caught.value.retry_after == 600
    assert "600 seconds" in caught.value.detail
    assert sleeps == [] and len(openai_server.requests) == 1


def test_retry_after_as_an_http_date():
    when = datetime.now(UTC) + timedelta(seconds=30)
    seconds = parse_retry_after(httpx.Headers({"Retry-After": format_datetime(when, usegmt=True)}))
    assert 25 <= seconds <= 31
    assert parse_retry_after(httpx.Headers({"Retry-After": "2"})) == 2
    assert parse_retry_after(httpx.Headers({"retry-after-ms": "1500"})) == 1.5
    assert parse_retry_after(httpx.Headers({"Retry-After": "soon"})) is None


@pytest.mark.parametrize("kind", ["openai", "anthropic", "gemini"])
async def test_refused_key_is_terminal_and_never_shows_the_key(
    kind, openai_server, anthropic_server, gemini_server, sleeps
):
    server = {"openai": openai_server, "anthropic": anthropic_server, "gemini": gemini_server}[kind]
    wrong = f"sk-wrong-{kind}-key-9f8e7d6c5b4a"
    async with client_for(server.config(api_key=wrong), sleep=sleeps) as client:
        with pytest.raises(ProviderError) as caught:
            await client.chat(ask(server.config().default_model))

    error = caught.value
    assert error.terminal and error.status_code == 401
    assert "refused the API key" in error.detail and "provider settings" in error.detail
    assert "Incorrect API key provided" in error.detail  # the provider's words are kept …
    for text in (str(error), error.detail, repr(error.problem())):
        assert wrong not in text  # … but not the key the server echoed back
    assert len(server.requests) == 1 and sleeps == []


async def test_bad_request_is_terminal_and_not_retried(openai_server, sleeps):
    openai_server.script(Reply(status=400, error="'messages' must not be empty"))
    async with client_for(openai_server.config(), sleep=sleeps) as client:
        with pytest.raises(ProviderError) as caught:
            await client.chat(ask())
    assert caught.value.terminal and caught.value.status_code == 400
    assert "must not be empty" in caught.value.detail
    assert len(openai_server.requests) == 1


async def test_connection_refused_is_transient(closed_port, sleeps):
    config = ProviderConfig(
        kind="openai",
        name="local-vllm",
        base_url=f"http://127.0.0.1:{closed_port}/v1",
        max_retries=1,
    )
    async with client_for(config, sleep=sleeps) as client:
        with pytest.raises(ProviderError) as caught:
            await client.chat(ask())
    assert caught.value.transient
    assert '"local-vllm"' in caught.value.detail
    assert f"127.0.0.1:{closed_port}" in caught.value.detail
    assert len(sleeps) == 1  # retried once, then gave up


async def test_dropped_connection_is_retried(openai_server, sleeps):
    openai_server.script(Reply(disconnect=True))
    async with client_for(openai_server.config(), sleep=sleeps) as client:
        reply = await client.chat(ask())
    assert reply.text == "echo: hello"
    assert len(openai_server.requests) == 2


async def test_timeout_is_a_transient_provider_timeout(openai_server):
    openai_server.script(Reply(delay=3))
    config = openai_server.config(timeout_seconds=0.3, max_retries=0)
    async with client_for(config) as client:
        with pytest.raises(ProviderTimeout) as caught:
            await client.chat(ask())
    assert caught.value.transient
    assert "0.3 seconds" in caught.value.detail


async def test_stream_is_retried_before_its_body_starts(openai_server, sleeps):
    openai_server.script(Reply(status=502, error="bad gateway"))
    async with client_for(openai_server.config(), sleep=sleeps) as client:
        events = [e async for e in client.stream(ask())]
    assert events[-1].response.text == "echo: hello"
    assert len(openai_server.requests) == 2 and len(sleeps) == 1


async def test_stream_failing_after_it_started_is_not_resent(openai_server, sleeps):
    openai_server.script(Reply(text="half an answer", stream_error="server had an error"))
    async with client_for(openai_server.config(), sleep=sleeps) as client:
        with pytest.raises(ProviderError) as caught:
            _ = [e async for e in client.stream(ask())]
    assert "server had an error" in caught.value.detail
    assert len(openai_server.requests) == 1 and sleeps == []


def test_backoff_is_capped():
    from tenantry.llm.transport import Transport

    transport = Transport(ProviderConfig(kind="openai", name="x"))
    assert all(transport.backoff(n) <= BACKOFF_CAP for n in range(20))
