"""Loopback provider servers for the LLM tests (see ``servers.py`` for the scripting API)."""

from __future__ import annotations

import socket

import pytest

from tests.llm.servers import LLMServer


@pytest.fixture
def openai_server():
    with LLMServer("openai", api_key="sk-loopback-openai-0123456789") as server:
        yield server


@pytest.fixture
def anthropic_server():
    with LLMServer("anthropic", api_key="sk-ant-loopback-0123456789") as server:
        yield server


@pytest.fixture
def gemini_server():
    with LLMServer("gemini", api_key="AIza-loopback-0123456789") as server:
        yield server


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on: connecting is refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


class Sleeps(list):
    """An injectable ``sleep`` that records the waits instead of taking them."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()
