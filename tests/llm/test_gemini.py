"""The Gemini adapter against a loopback server speaking generateContent."""

from __future__ import annotations

import pytest

from tenantry.core.errors import ValidationFailed
from tenantry.llm.clients import client_for
from tenantry.llm.types import ChatRequest, Message, Tool, ToolCall
from tests.llm.servers import Call, Reply

MODEL = "gemini-2.5-flash"
SEARCH = Tool(
    name="search_docs",
    description="Search the docs",
    parameters={"type": "object", "properties": {"q": {"type": "string"}}},
)


def ask(*messages: Message, **kw) -> ChatRequest:
    return ChatRequest(model=MODEL, messages=list(messages), **kw)


async def test_chat_sends_system_instruction_and_generation_config(gemini_server):
    request = ask(
        Message("system", "Be brief."),
        Message("user", "what is churn"),
        temperature=0.1,
        max_tokens=50,
        top_p=0.9,
        stop=["END"],
    )
    async with client_for(gemini_server.config()) as client:
        reply = await client.chat(request)

    assert reply.text == "echo: what is churn"
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (5, 4)
    assert reply.finish_reason == "stop"
    [sent] = gemini_server.requests
    assert sent.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert sent.headers["x-goog-api-key"] == gemini_server.api_key
    assert "key" not in sent.query  # the key travels in a header, never in the URL
    assert sent.body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert sent.body["contents"] == [{"role": "user", "parts": [{"text": "what is churn"}]}]
    assert sent.body["generationConfig"] == {
        "temperature": 0.1,
        "maxOutputTokens": 50,
        "topP": 0.9,
        "stopSequences": ["END"],
    }


async def test_stream_uses_sse_and_reads_usage(gemini_server):
    async with client_for(gemini_server.config()) as client:
        events = [e async for e in client.stream(ask(Message("user", "stream it")))]

    texts = [e.text for e in events if e.type == "text"]
    done = events[-1].response
    assert len(texts) == 3
    assert "".join(texts) == done.text == "echo: stream it"
    assert (done.usage.input_tokens, done.usage.output_tokens) == (2, 3)
    sent = gemini_server.requests[0]
    assert sent.path.endswith(":streamGenerateContent")
    assert sent.query == {"alt": "sse"}


async def test_max_output_tokens_maps_to_length(gemini_server):
    async with client_for(gemini_server.config()) as client:
        reply = await client.chat(ask(Message("user", "a b c d"), max_tokens=2))
    assert reply.finish_reason == "length"
    assert reply.text == "echo: a"


async def test_tools_are_function_declarations_and_calls_get_ids(gemini_server):
    gemini_server.script(
        Reply(tool_calls=[Call("search_docs", {"q": "churn"}), Call("search_docs", {"q": "ltv"})])
    )
    async with client_for(gemini_server.config()) as client:
        reply = await client.chat(
            ask(Message("user", "define"), tools=[SEARCH], tool_choice="required")
        )

    sent = gemini_server.requests[0].body
    assert sent["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "search_docs",
                    "description": "Search the docs",
                    "parameters": SEARCH.parameters,
                }
            ]
        }
    ]
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    assert reply.tool_calls == [
        ToolCall("call_0", "search_docs", {"q": "churn"}),
        ToolCall("call_1", "search_docs", {"q": "ltv"}),
    ]
    assert reply.finish_reason == "tool_calls"


async def test_streamed_tool_calls(gemini_server):
    gemini_server.script(Reply(tool_calls=[Call("search_docs", {"q": "churn"})]))
    async with client_for(gemini_server.config()) as client:
        events = [e async for e in client.stream(ask(Message("user", "define"), tools=[SEARCH]))]
    [call] = [e for e in events if e.type == "tool_call"]
    assert (call.index, call.id, call.name, call.arguments) == (
        0,
        "call_0",
        "search_docs",
        '{"q": "churn"}',
    )
    assert events[-1].response.tool_calls == [ToolCall("call_0", "search_docs", {"q": "churn"})]


async def test_tool_results_are_function_responses_matched_by_name(gemini_server):
    calls = [ToolCall("call_0", "search_docs", {"q": "churn"}), ToolCall("call_1", "count", {})]
    conversation = [
        Message("user", "Explain churn"),
        Message("assistant", None, tool_calls=calls),
        # No name on the first result: it is found from the call id.
        Message("tool", "churn is lost customers", tool_call_id="call_0"),
        Message("tool", "42", tool_call_id="call_1", name="count"),
    ]
    async with client_for(gemini_server.config()) as client:
        reply = await client.chat(ask(*conversation, tools=[SEARCH]))

    assert reply.text == "echo: churn is lost customers 42"
    assert gemini_server.requests[0].body["contents"] == [
        {"role": "user", "parts": [{"text": "Explain churn"}]},
        {
            "role": "model",
            "parts": [
                {"functionCall": {"name": "search_docs", "args": {"q": "churn"}}},
                {"functionCall": {"name": "count", "args": {}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {
                    "functionResponse": {
                        "name": "search_docs",
                        "response": {"content": "churn is lost customers"},
                    }
                },
                {"functionResponse": {"name": "count", "response": {"content": "42"}}},
            ],
        },
    ]


async def test_tool_result_without_a_known_name_is_refused(gemini_server):
    async with client_for(gemini_server.config()) as client:
        with pytest.raises(ValidationFailed) as caught:
            await client.chat(ask(Message("tool", "x", tool_call_id="call_9")))
    assert caught.value.errors[0]["field"] == "messages[0].name"
    assert gemini_server.requests == []


async def test_list_models(gemini_server):
    async with client_for(gemini_server.config()) as client:
        models = await client.list_models()
    assert models == gemini_server.models
    assert gemini_server.requests[0].path == "/v1beta/models"


async def test_a_thinking_models_call_signature_goes_back_with_the_call(gemini_server):
    call = {
        "functionCall": {"name": "search_docs", "args": {"q": "x"}},
        "thoughtSignature": "sig==",
    }
    gemini_server.script(
        Reply(body={"candidates": [{"content": {"role": "model", "parts": [call]}}]}),
        Reply(text="done"),
    )
    async with client_for(gemini_server.config()) as client:
        first = await client.chat(ask(Message("user", "define"), tools=[SEARCH]))
        made = first.tool_calls[0]
        assert made.provider_data == {"thoughtSignature": "sig=="}
        await client.chat(
            ask(
                Message("user", "define"),
                Message("assistant", tool_calls=[made]),
                Message("tool", "found", tool_call_id=made.id, name="search_docs"),
                tools=[SEARCH],
            )
        )
    sent = gemini_server.requests[1].body["contents"][1]["parts"][0]
    assert sent["thoughtSignature"] == "sig==" and sent["functionCall"]["name"] == "search_docs"
