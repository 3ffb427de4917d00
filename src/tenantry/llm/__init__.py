"""LLM providers behind one interface: chat, tool calls, streaming, usage, pricing."""
