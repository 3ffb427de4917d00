"""The OpenAI-compatible adapter against a loopback server speaking Chat Completions."""

from __future__ import annotations

import asyncio
import json

import pytest

from tenantry.core.errors import ValidationFailed
from tenantry.llm.clients import client_for
from tenantry.llm.errors import ProviderError
from tenantry.llm.openai import OpenAIClient
from tenantry.llm.types import ChatRequest, Message, ProviderConfig, Tool, ToolCall
from tests.llm.servers import Call, Reply

WEATHER = Tool(
    name="get_weather",
    description="Current weather for a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def ask(text: str, **kw) -> ChatRequest:
    return ChatRequest(model="gpt-4o-mini", messages=[Message("user", text)], **kw)


async def test_chat_sends_the_key_and_reads_text_and_usage(openai_server):
    async with client_for(openai_server.config()) as client:
        reply = await client.chat(ask("how are the sales", temperature=0.2))

    assert reply.text == "echo: how are the sales"
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (4, 5)
    assert reply.finish_reason == "stop"
    [sent] = openai_server.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {openai_server.api_key}"
    assert sent.body["messages"] == [{"role": "user", "content": "how are the sales"}]
    assert sent.body["temperature"] == 0.2
    assert "stream" not in sent.body


async def test_max_tokens_caps_the_reply(openai_server):
    async with client_for(openai_server.config()) as client:
        reply = await client.chat(ask("one two three four five", max_tokens=3))
        await client.chat(ChatRequest(model="o4-mini", messages=[], max_tokens=7))

    assert reply.text == "echo: one two"
    assert reply.usage.output_tokens == 3
    assert reply.finish_reason == "length"
    # Reasoning models refuse max_tokens; they get max_completion_tokens instead.
    assert openai_server.requests[1].body["max_completion_tokens"] == 7
    assert "max_tokens" not in openai_server.requests[1].body


async def test_stream_yields_text_deltas_and_usage(openai_server):
    async with client_for(openai_server.config()) as client:
        events = [e async for e in client.stream(ask("stream this please"))]

    texts = [e.text for e in events if e.type == "text"]
    assert len(texts) == 4
    done = events[-1]
    assert done.type == "done"
    assert "".join(texts) == done.response.text == "echo: stream this please"
    assert (done.response.usage.input_tokens, done.response.usage.output_tokens) == (3, 4)
    sent = openai_server.requests[0].body
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}


async def test_tools_are_sent_in_function_shape_and_calls_parsed(openai_server):
    openai_server.script(Reply(tool_calls=[Call("get_weather", {"city": "Paris"}, id="call_w")]))
    async with client_for(openai_server.config()) as client:
        reply = await client.chat(ask("weather?", tools=[WEATHER], tool_choice="get_weather"))

    sent = openai_server.requests[0].body
    assert sent["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather for a city",
                "parameters": WEATHER.parameters,
            },
        }
    ]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert reply.tool_calls == [
        ToolCall(id="call_w", name="get_weather", arguments={"city": "Paris"})
    ]
    assert reply.finish_reason == "tool_calls"


@pytest.mark.parametrize("choice", ["auto", "none", "required"])
async def test_tool_choice_keywords_pass_through(openai_server, choice):
    async with client_for(openai_server.config()) as client:
        await client.chat(ask("hi", tools=[WEATHER], tool_choice=choice))
    assert openai_server.requests[0].body["tool_choice"] == choice


async def test_streamed_parallel_tool_calls_are_assembled_by_index(openai_server):
    calls = [
        Call("get_weather", {"city": "Paris", "unit": "celsius"}),
        Call("get_weather", {"city": "Tokyo", "unit": "celsius"}),
    ]
    openai_server.script(Reply(tool_calls=calls))
    async with client_for(openai_server.config()) as client:
        events = [e async for e in client.stream(ask("both", tools=[WEATHER]))]

    deltas = [e for e in events if e.type == "tool_call"]
    firsts = [e for e in deltas if e.id]
    assert [(e.index, e.id, e.name) for e in firsts] == [
        (0, "call_0", "get_weather"),
        (1, "call_1", "get_weather"),
    ]
    # The server interleaves the two calls' fragments; each arrives in several pieces.
    assert [e.index for e in deltas if e.arguments][:4] == [0, 1, 0, 1]
    response = events[-1].response
    assert [c.arguments for c in response.tool_calls] == [
        {"city": "Paris", "unit": "celsius"},
        {"city": "Tokyo", "unit": "celsius"},
    ]
    assert response.finish_reason == "tool_calls"


async def test_tool_call_and_result_round_trip_in_openai_wire_shape(openai_server):
    call = ToolCall(id="call_abc", name="get_weather", arguments={"city": "Paris"})
    conversation = [
        Message("system", "You are terse."),
        Message("user", "Weather in Paris?"),
        Message("assistant", None, tool_calls=[call]),
        Message("tool", "18 degrees and sunny", tool_call_id="call_abc", name="get_weather"),
    ]
    async with client_for(openai_server.config()) as client:
        reply = await client.chat(ChatRequest(model="gpt-4o", messages=conversation))

    assert reply.text == "echo: 18 degrees and sunny"
    assert openai_server.requests[0].body["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_abc",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_abc", "content": "18 degrees and sunny"},
    ]


async def test_arguments_that_are_not_json_are_a_terminal_error_naming_the_tool(openai_server):
    openai_server.script(Reply(tool_calls=[Call("get_weather", '{"city": "Par')]))
    async with client_for(openai_server.config()) as client:
        with pytest.raises(ProviderError) as caught:
            await client.chat(ask("weather?", tools=[WEATHER]))
    assert caught.value.terminal
    assert '"get_weather"' in caught.value.detail
    assert "loopback-openai" in caught.value.detail


async def test_azure_mode_sends_api_key_header_and_api_version(openai_server):
    config = openai_server.config(api_version="2024-10-21")
    async with client_for(config) as client:
        await client.chat(ask("hi"))
        models = await client.list_models()

    assert "gpt-4o-mini" in models
    for sent in openai_server.requests:
        assert sent.headers["api-key"] == openai_server.api_key
        assert "authorization" not in sent.headers
        assert sent.query == {"api-version": "2024-10-21"}


async def test_empty_key_sends_no_auth_header(openai_server):
    openai_server.api_key = None  # a local Ollama / vLLM: no key at all
    async with client_for(openai_server.config(api_key="")) as client:
        reply = await client.chat(ask("local model"))
    assert reply.text == "echo: local model"
    headers = openai_server.requests[0].headers
    assert "authorization" not in headers and "api-key" not in headers


async def test_list_models(openai_server):
    async with client_for(openai_server.config()) as client:
        models = await client.list_models()
    assert models == openai_server.models
    assert openai_server.requests[0].path == "/v1/models"


async def test_unknown_model_is_terminal_and_names_it(openai_server):
    openai_server.script(Reply(status=404, error="The model `gpt-9` does not exist"))
    async with client_for(openai_server.config()) as client:
        with pytest.raises(ProviderError) as caught:
            await client.chat(ChatRequest(model="gpt-9", messages=[Message("user", "hi")]))
    assert caught.value.terminal
    assert caught.value.status_code == 404
    assert '"gpt-9"' in caught.value.detail
    assert "does not exist" in caught.value.detail
    assert len(openai_server.requests) == 1


async def test_twenty_concurrent_requests_are_served_concurrently(openai_server):
    openai_server.delay = 0.5
    async with client_for(openai_server.config()) as client:
        replies = await asyncio.gather(*(client.chat(ask(f"question {i}")) for i in range(20)))
    assert sorted(r.text for r in replies) == sorted(f"echo: question {i}" for i in range(20))
    # The server answers them side by side, not one after another.
    assert openai_server.max_in_flight >= 10


def test_client_for_picks_the_adapter_and_refuses_unknown_kinds():
    config = ProviderConfig(kind="openai", name="main", api_key="sk-x")
    assert isinstance(client_for(config), OpenAIClient)
    with pytest.raises(ValidationFailed) as caught:
        client_for(ProviderConfig(kind="cohere", name="c"))
    assert caught.value.errors[0]["field"] == "kind"
    assert "openai, anthropic, gemini" in caught.value.detail
    assert "sk-x" not in repr(config)


async def test_model_falls_back_to_the_default_model(openai_server):
    async with client_for(openai_server.config(default_model="gpt-4.1")) as client:
        await client.chat(ChatRequest(model="", messages=[Message("user", "hi")]))
    assert openai_server.requests[0].body["model"] == "gpt-4.1"
    assert json.dumps(openai_server.requests[0].body)  # what was sent is plain JSON
