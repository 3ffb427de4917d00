"""Executing prompts through real provider clients against loopback OpenAI- and Anthropic-
speaking servers: streamed and not, tool calls, usage and cost, failures, retries, the log."""

from __future__ import annotations

import json

import pytest

from tests.llm.servers import Call, Reply
from tests.prompts.helpers import create_prompt

SPEC = {
    "id": "ask",
    "template": "Answer briefly: {{ question }}",
    "inputs": {"question": {"type": "string"}},
    "model": {"model": "gpt-4o-mini", "max_tokens": 50, "temperature": 0.1},
}


def add_provider(client, person, org, server, name="loop", **extra) -> dict:
    body = {
        "name": name,
        "kind": server.kind,
        "base_url": server.base_url,
        "api_key": server.api_key,
    } | extra
    r = client.post(f"/api/v1/orgs/{org}/llm/providers", json=body, headers=person.h)
    assert r.status_code == 201, r.text
    return r.json()


def execute(client, person, org, ref="ask", **body):
    body.setdefault("inputs", {"question": "why is the sky blue"})
    return client.post(f"/api/v1/orgs/{org}/prompts/{ref}/execute", json=body, headers=person.h)


def sse(client, person, org, ref="ask", **body) -> list[tuple[str, dict]]:
    body.setdefault("inputs", {"question": "why is the sky blue"})
    events, name = [], None
    with client.stream(
        "POST",
        f"/api/v1/orgs/{org}/prompts/{ref}/execute",
        json=body | {"stream": True},
        headers=person.h,
    ) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:])))
    return events


def test_execute_records_output_usage_and_cost(client, world, openai_server):
    owner = world.people["owner"]
    add_provider(client, owner, world.a, openai_server)
    create_prompt(client, owner, world.a, SPEC, labels=["production"])
    openai_server.script(Reply(text="Rayleigh scattering.", input_tokens=120, output_tokens=4))
    r = execute(client, owner, world.a)
    assert r.status_code == 200, r.text
    e = r.json()
    assert e["status"] == "succeeded" and e["output"] == "Rayleigh scattering."
    assert (e["input_tokens"], e["output_tokens"]) == (120, 4)
    # gpt-4o-mini's list price: cost computed, not guessed.
    from tenantry.llm.pricing import cost_micros, lookup, usd
    from tenantry.llm.types import Usage

    assert e["cost_usd"] == usd(cost_micros(Usage(120, 4), lookup("gpt-4o-mini")))
    assert e["cost_usd"] > 0
    assert (e["prompt"], e["version"], e["label"], e["provider"]) == (
        "ask",
        1,
        "production",
        "loop",
    )
    assert e["inputs"] == {"question": "why is the sky blue"}
    sent = openai_server.requests[-1].body
    assert sent["model"] == "gpt-4o-mini" and sent["max_tokens"] == 50
    assert sent["messages"] == [{"role": "user", "content": "Answer briefly: why is the sky blue"}]
    logged = client.get(f"/api/v1/orgs/{world.a}/prompt-executions", headers=owner.h).json()
    assert logged["total"] == 1 and logged["items"][0]["id"] == e["id"]


def test_streamed_execution_through_anthropic(client, world, anthropic_server):
    owner = world.people["owner"]
    add_provider(client, owner, world.a, anthropic_server, default_model="claude-3-5-haiku")
    spec = SPEC | {
        "model": {"max_tokens": 64},
        "template": None,
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Q: {{ question }}"},
        ],
    }
    spec = {k: v for k, v in spec.items() if v is not None}
    create_prompt(client, owner, world.a, spec, labels=["production"])
    anthropic_server.script(Reply(text="Because of Rayleigh scattering of sunlight."))
    events = sse(client, owner, world.a)
    names = [n for n, _ in events]
    assert names[0] == "start" and names[-1] == "done" and names.count("text") >= 2
    text = "".join(d["text"] for n, d in events if n == "text")
    done = events[-1][1]
    assert text == done["output"] == "Because of Rayleigh scattering of sunlight."
    assert done["streamed"] and done["model"].startswith("claude-3-5-haiku")
    assert done["input_tokens"] > 0 and done["output_tokens"] > 0
    sent = anthropic_server.requests[-1].body
    assert sent["system"] == "You are terse." and sent["stream"] is True
    assert sent["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Q: why is the sky blue"}]}
    ]


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_tool_calls_are_normalized(client, world, openai_server, anthropic_server, kind):
    server = openai_server if kind == "openai" else anthropic_server
    owner = world.people["owner"]
    add_provider(client, owner, world.a, server)
    tool = {
        "name": "lookup_order",
        "description": "Find an order",
        "parameters": {"type": "object", "properties": {"id": {"type": "integer"}}},
    }
    create_prompt(client, owner, world.a, SPEC | {"tools": [tool]}, labels=["production"])
    server.script(Reply(tool_calls=[Call("lookup_order", {"id": 42}, id="call_1")]))
    e = execute(client, owner, world.a).json()
    assert e["tool_calls"] == [{"id": "call_1", "name": "lookup_order", "arguments": {"id": 42}}]
    assert e["finish_reason"] == "tool_calls"
    sent = server.requests[-1].body["tools"][0]
    if kind == "openai":
        assert sent["function"]["name"] == "lookup_order"
    else:
        assert sent["name"] == "lookup_order" and "input_schema" in sent
    # Streamed, the call arrives in pieces and is assembled the same way.
    server.script(Reply(tool_calls=[Call("lookup_order", {"id": 7}, id="call_2")]))
    events = sse(client, owner, world.a)
    assert any(n == "tool_call" for n, _ in events)
    assert events[-1][1]["tool_calls"] == [
        {"id": "call_2", "name": "lookup_order", "arguments": {"id": 7}}
    ]


def test_provider_failure_is_recorded_with_a_clear_error(client, world, openai_server):
    owner = world.people["owner"]
    add_provider(client, owner, world.a, openai_server)
    create_prompt(client, owner, world.a, SPEC, labels=["production"])
    openai_server.script(*[Reply(status=503, error="overloaded")] * 3)
    r = execute(client, owner, world.a)
    assert r.status_code == 502
    body = r.json()
    assert "loop" in body["detail"] and "503" in body["detail"]
    assert openai_server.api_key not in r.text
    failed = client.get(
        f"/api/v1/orgs/{world.a}/prompt-executions/{body['execution_id']}", headers=owner.h
    ).json()
    assert failed["status"] == "failed" and "overloaded" in failed["error"]
    assert failed["input_tokens"] == 0 and failed["cost_usd"] is None
    # A refused key: terminal, the key never shown.
    client.patch(
        f"/api/v1/orgs/{world.a}/llm/providers/loop",
        json={"api_key": "sk-wrong-key-123456"},
        headers=owner.h,
    )
    r = execute(client, owner, world.a)
    assert r.status_code == 502 and "sk-wrong-key-123456" not in r.text
    log = client.get(
        f"/api/v1/orgs/{world.a}/prompt-executions?status=failed", headers=owner.h
    ).json()
    assert log["total"] == 2
    assert all("sk-wrong-key-123456" not in e["error"] for e in log["items"])


def test_a_429_is_retried_after_the_wait_it_asks_for(client, world, openai_server):
    owner = world.people["owner"]
    add_provider(client, owner, world.a, openai_server)
    create_prompt(client, owner, world.a, SPEC, labels=["production"])
    openai_server.script(Reply(status=429, retry_after="1"), Reply(text="fine"))
    r = execute(client, owner, world.a)
    assert r.status_code == 200 and r.json()["output"] == "fine"
    first, second = openai_server.requests[-2:]
    assert second.at - first.at >= 0.95


def test_inputs_can_be_left_out_of_the_log_and_unknown_prices_are_null(
    client, world, openai_server
):
    owner = world.people["owner"]
    add_provider(client, owner, world.a, openai_server)
    create_prompt(
        client, owner, world.a, SPEC | {"model": {"model": "house-model-1"}}, labels=["production"]
    )
    e = execute(client, owner, world.a, store_inputs=False).json()
    assert e["status"] == "succeeded" and e["inputs"] is None and e["inputs_stored"] is False
    assert e["cost_usd"] is None
    # An organization's own price makes it known.
    client.put(
        f"/api/v1/orgs/{world.a}/llm/prices",
        json={"model": "house-model-1", "input_per_mtok": 1.0, "output_per_mtok": 2.0},
        headers=owner.h,
    )
    e = execute(client, owner, world.a).json()
    assert e["cost_usd"] == pytest.approx((e["input_tokens"] * 1 + e["output_tokens"] * 2) / 1e6)


def test_model_override_and_missing_provider(client, world, openai_server):
    owner = world.people["owner"]
    create_prompt(client, owner, world.a, SPEC, labels=["production"])
    r = execute(client, owner, world.a)
    assert r.status_code == 422 and "provider" in r.json()["detail"]
    add_provider(client, owner, world.a, openai_server)
    e = execute(client, owner, world.a, model={"model": "gpt-4o", "max_tokens": 5}).json()
    assert e["model"] == "gpt-4o"
    assert openai_server.requests[-1].body["max_tokens"] == 5
    r = execute(client, owner, world.a, inputs={})
    assert r.status_code == 422 and "inputs.question" in r.text


def test_totals_per_prompt_and_day(client, world, openai_server):
    owner = world.people["owner"]
    add_provider(client, owner, world.a, openai_server)
    create_prompt(client, owner, world.a, SPEC, labels=["production"])
    create_prompt(client, owner, world.a, SPEC | {"id": "ask2"}, labels=["production"])
    openai_server.script(
        Reply(text="a", input_tokens=10, output_tokens=1),
        Reply(text="b", input_tokens=20, output_tokens=2),
        Reply(text="c", input_tokens=30, output_tokens=3),
    )
    execute(client, owner, world.a)
    execute(client, owner, world.a)
    execute(client, owner, world.a, "ask2")
    base = f"/api/v1/orgs/{world.a}/prompt-executions"
    by_prompt = client.get(f"{base}/totals?by=prompt", headers=owner.h).json()
    rows = {r["key"]: r for r in by_prompt["rows"]}
    assert rows["ask"]["executions"] == 2 and rows["ask"]["input_tokens"] == 30
    assert rows["ask2"]["output_tokens"] == 3
    assert by_prompt["total"]["input_tokens"] == 60
    by_day = client.get(f"{base}/totals?by=day", headers=owner.h).json()
    assert len(by_day["rows"]) == 1 and by_day["rows"][0]["executions"] == 3
    filtered = client.get(f"{base}?prompt=ask2&model=gpt-4o-mini", headers=owner.h).json()
    assert filtered["total"] == 1
    assert (
        client.get(f"{base}?since=2000-01-01&until=2000-01-02", headers=owner.h).json()["total"]
        == 0
    )


def test_provider_keys_are_write_only(client, world, openai_server):
    owner = world.people["owner"]
    made = add_provider(client, owner, world.a, openai_server)
    assert made["api_key"] == "********"
    listed = client.get(f"/api/v1/orgs/{world.a}/llm/providers", headers=owner.h)
    assert openai_server.api_key not in listed.text
    audit = client.get(f"/api/v1/orgs/{world.a}/audit", headers=owner.h)
    assert openai_server.api_key not in audit.text
    # Test provider: lists the models with the stored key.
    t = client.post(f"/api/v1/orgs/{world.a}/llm/providers/loop/test", headers=owner.h).json()
    assert t["ok"] is True and t["models"]
    client.patch(
        f"/api/v1/orgs/{world.a}/llm/providers/loop",
        json={"api_key": "sk-not-the-key-98765"},
        headers=owner.h,
    )
    t = client.post(f"/api/v1/orgs/{world.a}/llm/providers/loop/test", headers=owner.h).json()
    assert t["ok"] is False and "sk-not-the-key-98765" not in json.dumps(t)
    # Viewers see the entry, not the key, and cannot change it.
    viewer = world.people["viewer"]
    assert client.get(f"/api/v1/orgs/{world.a}/llm/providers", headers=viewer.h).status_code == 200
    r = client.patch(
        f"/api/v1/orgs/{world.a}/llm/providers/loop", json={"api_key": "x"}, headers=viewer.h
    )
    assert r.status_code == 403


def test_provider_urls_on_the_platform_network_need_the_operator(client, world, settings):
    owner = world.people["owner"]
    settings.allowed_private_networks = None
    r = client.post(
        f"/api/v1/orgs/{world.a}/llm/providers",
        json={"name": "meta", "kind": "openai", "base_url": "http://169.254.169.254/v1"},
        headers=owner.h,
    )
    assert r.status_code == 422 and "base_url" in r.text
