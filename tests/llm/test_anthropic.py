"""The Anthropic adapter against a loopback server speaking the Messages API."""

from __future__ import annotations

import pytest

from tenantry.llm.clients import client_for
from tenantry.llm.errors import ProviderError
from tenantry.llm.types import ChatRequest, Message, Tool, ToolCall
from tests.llm.servers import Call, Reply

MODEL = "claude-sonnet-4-20250514"
LOOKUP = Tool(
    name="lookup_order",
    description="Find an order",
    parameters={"type": "object", "properties": {"order_id": {"type": "string"}}},
)


def ask(*messages: Message, **kw) -> ChatRequest:
    return ChatRequest(model=MODEL, messages=list(messages), **kw)


async def test_chat_sends_system_on_top_and_a_default_max_tokens(anthropic_server):
    async with client_for(anthropic_server.config()) as client:
        reply = await client.chat(
            ask(Message("system", "Be brief."), Message("user", "total revenue"), stop=["END"])
        )

    assert reply.text == "echo: total revenue"
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (4, 3)
    assert reply.finish_reason == "stop"
    [sent] = anthropic_server.requests
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == anthropic_server.api_key
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent.headers
    assert sent.body["system"] == "Be brief."
    assert sent.body["max_tokens"] == 1024
    assert sent.body["stop_sequences"] == ["END"]
    assert sent.body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "total revenue"}]}
    ]


async def test_api_version_overrides_the_version_header(anthropic_server):
    async with client_for(anthropic_server.config(api_version="2024-01-01")) as client:
        await client.chat(ask(Message("user", "hi")))
    assert anthropic_server.requests[0].headers["anthropic-version"] == "2024-01-01"


async def test_max_tokens_stop_reason_maps_to_length(anthropic_server):
    async with client_for(anthropic_server.config()) as client:
        reply = await client.chat(ask(Message("user", "a b c d e f"), max_tokens=2))
    assert anthropic_server.requests[0].body["max_tokens"] == 2
    assert reply.text == "echo: a"
    assert reply.finish_reason == "length"
    assert reply.usage.output_tokens == 2


async def test_stream_reads_text_and_usage_from_start_and_delta_events(anthropic_server):
    async with client_for(anthropic_server.config()) as client:
        events = [e async for e in client.stream(ask(Message("user", "stream me now")))]

    texts = [e.text for e in events if e.type == "text"]
    done = events[-1].response
    assert "".join(texts) == done.text == "echo: stream me now"
    assert len(texts) == 4
    assert (done.usage.input_tokens, done.usage.output_tokens) == (3, 4)
    assert done.finish_reason == "stop"
    assert anthropic_server.requests[0].body["stream"] is True


@pytest.mark.parametrize(
    ("choice", "wire"),
    [
        ("auto", {"type": "auto"}),
        ("required", {"type": "any"}),
        ("lookup_order", {"type": "tool", "name": "lookup_order"}),
    ],
)
async def test_tools_are_sent_with_input_schema(anthropic_server, choice, wire):
    async with client_for(anthropic_server.config()) as client:
        await client.chat(ask(Message("user", "order 7?"), tools=[LOOKUP], tool_choice=choice))
    sent = anthropic_server.requests[0].body
    assert sent["tools"] == [
        {"name": "lookup_order", "description": "Find an order", "input_schema": LOOKUP.parameters}
    ]
    assert sent["tool_choice"] == wire


async def test_tool_choice_none_omits_the_tools(anthropic_server):
    async with client_for(anthropic_server.config()) as client:
        await client.chat(ask(Message("user", "hi"), tools=[LOOKUP], tool_choice="none"))
    assert "tools" not in anthropic_server.requests[0].body
    assert "tool_choice" not in anthropic_server.requests[0].body


async def test_tool_choice_none_keeps_tools_when_the_history_has_tool_blocks(anthropic_server):
    call = ToolCall("toolu_a", "lookup_order", {"order_id": "7"})
    history = [
        Message("user", "order 7?"),
        Message("assistant", None, tool_calls=[call]),
        Message("tool", "shipped", tool_call_id="toolu_a"),
    ]
    async with client_for(anthropic_server.config()) as client:
        await client.chat(ask(*history, tools=[LOOKUP], tool_choice="none"))
    sent = anthropic_server.requests[0].body
    # Anthropic refuses tool_use blocks without tool definitions: they stay, switched off.
    assert [t["name"] for t in sent["tools"]] == ["lookup_order"]
    assert sent["tool_choice"] == {"type": "none"}


async def test_tool_use_blocks_become_tool_calls(anthropic_server):
    anthropic_server.script(
        Reply(text="Let me look.", tool_calls=[Call("lookup_order", {"order_id": "7"}, id="tu_1")])
    )
    async with client_for(anthropic_server.config()) as client:
        reply = await client.chat(ask(Message("user", "order 7?"), tools=[LOOKUP]))
    assert reply.text == "Let me look."
    assert reply.tool_calls == [ToolCall("tu_1", "lookup_order", {"order_id": "7"})]
    assert reply.finish_reason == "tool_calls"


async def test_streamed_tool_calls_are_numbered_among_tool_calls(anthropic_server):
    calls = [Call("lookup_order", {"order_id": "7"}), Call("lookup_order", {"order_id": "8"})]
    anthropic_server.script(Reply(text="Checking both.", tool_calls=calls))
    async with client_for(anthropic_server.config()) as client:
        events = [e async for e in client.stream(ask(Message("user", "7 and 8?"), tools=[LOOKUP]))]

    starts = [(e.index, e.id, e.name) for e in events if e.type == "tool_call" and e.name]
    # Content block 0 is the text: the tool calls are still numbered 0 and 1.
    assert starts == [(0, "toolu_00", "lookup_order"), (1, "toolu_01", "lookup_order")]
    fragments = [e for e in events if e.type == "tool_call" and e.arguments]
    assert len(fragments) > 2
    done = events[-1].response
    assert done.text == "Checking both."
    assert [c.arguments for c in done.tool_calls] == [{"order_id": "7"}, {"order_id": "8"}]
    assert done.finish_reason == "tool_calls"


async def test_tool_results_are_user_turns_of_tool_result_blocks_merged(anthropic_server):
    calls = [
        ToolCall("toolu_a", "lookup_order", {"order_id": "7"}),
        ToolCall("toolu_b", "lookup_order", {"order_id": "8"}),
    ]
    conversation = [
        Message("system", "You answer about orders."),
        Message("user", "Orders 7 and 8?"),
        Message("assistant", "Looking them up.", tool_calls=calls),
        Message("tool", "order 7: shipped", tool_call_id="toolu_a"),
        Message("tool", "order 8: pending", tool_call_id="toolu_b"),
        Message("user", "Summarize."),
    ]
    async with client_for(anthropic_server.config()) as client:
        reply = await client.chat(ask(*conversation, tools=[LOOKUP]))

    assert reply.text == "echo: order 7: shipped order 8: pending Summarize."
    sent = anthropic_server.requests[0].body
    assert sent["system"] == "You answer about orders."
    assert sent["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Orders 7 and 8?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Looking them up."},
                {
                    "type": "tool_use",
                    "id": "toolu_a",
                    "name": "lookup_order",
                    "input": {"order_id": "7"},
                },
                {
                    "type": "tool_use",
                    "id": "toolu_b",
                    "name": "lookup_order",
                    "input": {"order_id": "8"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_a", "content": "order 7: shipped"},
                {"type": "tool_result", "tool_use_id": "toolu_b", "content": "order 8: pending"},
                {"type": "text", "text": "Summarize."},
            ],
        },
    ]


async def test_error_event_mid_stream_is_a_provider_error(anthropic_server):
    anthropic_server.script(Reply(text="partial answer here", stream_error="Overloaded"))
    async with client_for(anthropic_server.config()) as client:
        seen = []
        with pytest.raises(ProviderError) as caught:
            async for event in client.stream(ask(Message("user", "hi"))):
                seen.append(event)
    assert [e.text for e in seen] == ["partial"]
    assert caught.value.transient  # overloaded: worth retrying later
    assert "overloaded_error" in caught.value.detail
    assert "Overloaded" in caught.value.detail
    # The body had started: the adapter does not silently re-send the request.
    assert len(anthropic_server.requests) == 1


async def test_list_models(anthropic_server):
    async with client_for(anthropic_server.config()) as client:
        models = await client.list_models()
    assert models == anthropic_server.models
    sent = anthropic_server.requests[0]
    assert sent.path == "/v1/models"
    assert sent.headers["x-api-key"] == anthropic_server.api_key
