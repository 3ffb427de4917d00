"""Prompt tests call providers on loopback: allow 127.0.0.0/8 as an operator would for a local
model server, and share the LLM tests' loopback servers."""

from __future__ import annotations

import pytest

from tests.llm.conftest import anthropic_server, closed_port, openai_server  # noqa: F401


@pytest.fixture
def settings(settings):
    settings.allowed_private_networks = "127.0.0.0/8"
    settings.llm_max_retries = 2
    return settings
