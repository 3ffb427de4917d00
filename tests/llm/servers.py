"""Loopback LLM providers: a real HTTP server speaking the OpenAI Chat Completions, Anthropic
Messages and Gemini generateContent wire protocols, streamed (SSE over chunked encoding) or not.

One server answers all three protocols by path; ``kind`` picks ``base_url`` and ``config()``::

    from tests.llm.servers import Call, LLMServer, Reply

    with LLMServer("openai", api_key="sk-test") as server:   # or the fixtures in conftest.py
        config = server.config()            # ProviderConfig(kind, name, api_key, base_url) …
        server.script(                      # FIFO: each request takes the next scripted reply
            Reply(status=429, retry_after="1"),
            Reply(text="hello"),
            Reply(tool_calls=[Call("get_weather", {"city": "Paris"})]),
        )
        ...                                 # run client code (any thread, any event loop)
        server.requests[0].body["messages"]  # what was received, in arrival order

Paths: ``POST /v1/chat/completions`` (OpenAI; ``base_url`` is ``<url>/v1``), ``POST /v1/messages``
(Anthropic), ``POST /v1beta/models/<model>:generateContent`` and ``:streamGenerateContent``
(Gemini), ``GET /v1/models`` and ``GET /v1beta/models`` (list ``server.models``). Streaming is
chosen by the request, exactly as the real APIs do.

``Reply`` fields (all optional; ``Reply()`` is the default echo):
  text, tool_calls (``Call(name, arguments, id=None)``; a ``str`` argument is sent verbatim, e.g.
  invalid JSON), status + error (message in the provider's error shape) or body (raw body:
  dict → JSON, str → text), headers, retry_after (the ``Retry-After`` header value), delay
  (seconds before answering), input_tokens / output_tokens (reported usage), finish_reason
  (the provider's own value), disconnect (close the socket without answering), stream_error (a
  streamed reply sends one text piece, then this error the way the provider reports one).

Unscripted requests get the default: ``"echo: <last user or tool text>"``, usage = words in all
message texts / words out, cut to ``max_tokens`` words (finish "length"), after ``server.delay``.
A scripted reply is used by the next request of any path; ``GET /models`` uses only its error.
With ``api_key`` set, a request carrying another key gets 401 whose message echoes the presented
key verbatim (so tests prove the client scrubs it); 401s do not consume scripted replies.

Recorded requests (``server.requests``, a copy): ``Recorded(method, path, query, headers (lower-
case names), body (parsed JSON or None), at (time.monotonic() on arrival))``. ``server.in_flight``
and ``server.max_in_flight`` count concurrent requests. Thread-safe; each request has a thread.
Also: ``server.pending`` (scripted replies left), ``server.reset()`` (forget script and
records), ``server.delay`` / ``server.models`` / ``server.api_key`` (settable at any time),
``server.url`` / ``server.port``, ``server.config(**overrides)`` (any ProviderConfig field).
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tenantry.llm.types import ProviderConfig

from .wire import (
    STREAM_ERROR_AFTER,
    error_body,
    models_body,
    outcome,
    render,
    stream_error,
    stream_frames,
)


@dataclass
class Call:
    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str | None = None


@dataclass
class Reply:
    text: str = ""
    tool_calls: list[Call] = field(default_factory=list)
    status: int = 200
    error: str = "scripted error"
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    retry_after: str | None = None
    delay: float = 0.0
    input_tokens: int | None = None
    output_tokens: int | None = None
    finish_reason: str | None = None
    disconnect: bool = False
    stream_error: str | None = None


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    at: float


_DEFAULT_MODELS = ["gpt-4o-mini", "gpt-4.1", "claude-sonnet-4-20250514", "gemini-2.5-flash"]


class LLMServer:
    def __init__(
        self,
        kind: str = "openai",
        *,
        api_key: str | None = None,
        delay: float = 0.0,
        models: list[str] | None = None,
    ):
        self.kind = kind
        self.api_key = api_key  # None: any key (or none) is accepted
        self.delay = delay  # seconds before each unscripted reply
        self.models = list(models or _DEFAULT_MODELS)
        self.in_flight = 0
        self.max_in_flight = 0
        self._replies: deque[Reply] = deque()
        self._requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> LLMServer:
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler, bind_and_activate=False)
        httpd.daemon_threads = True
        httpd.block_on_close = False  # a handler sleeping through a scripted delay must not block
        httpd.request_queue_size = 128  # ~20 clients connect at once
        httpd.allow_reuse_address = True
        httpd.server_bind()
        httpd.server_activate()
        httpd.owner = self  # type: ignore[attr-defined]
        httpd.handle_error = lambda request, address: None  # clients that hang up are normal
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, args=(0.05,), daemon=True, name="llm-server"
        )  # a short poll interval: stopping (each test's teardown) takes ~50 ms, not 500
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> LLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1" if self.kind == "openai" else self.url

    def config(self, **overrides: Any) -> ProviderConfig:
        """A ProviderConfig for this server (``kind``, base URL, the server's key if any)."""
        values: dict[str, Any] = {
            "kind": self.kind,
            "name": f"loopback-{self.kind}",
            "api_key": self.api_key or "test-key",
            "base_url": self.base_url,
            "default_model": {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-20250514"}.get(
                self.kind, "gemini-2.5-flash"
            ),
            "timeout_seconds": 10.0,
        }
        values.update(overrides)
        return ProviderConfig(**values)

    # -- scripting and inspection ------------------------------------------------------------

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._replies.extend(replies)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._replies)

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    def reset(self) -> None:
        with self._lock:
            self._replies.clear()
            self._requests.clear()
            self.max_in_flight = 0

    def _arrive(self, rec: Recorded, authorized: bool) -> Reply | None:
        with self._lock:
            self._requests.append(rec)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            return self._replies.popleft() if authorized and self._replies else None

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1


def _protocol(path: str, default: str) -> str:
    if path.endswith("/chat/completions"):
        return "openai"
    if path.endswith("/v1/messages"):
        return "anthropic"
    if "/v1beta/" in path:
        return "gemini"
    return default


def _presented_key(headers: dict[str, str], query: dict[str, str]) -> str:
    bearer = headers.get("authorization", "")
    return (
        bearer.removeprefix("Bearer ").strip()
        or headers.get("api-key")
        or headers.get("x-api-key")
        or headers.get("x-goog-api-key")
        or query.get("key", "")
    )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # chunked streaming and keep-alive, like real providers

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        owner: LLMServer = self.server.owner  # type: ignore[attr-defined]
        arrived = time.monotonic()
        parts = urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in self.headers.items()}
        query = dict(parse_qsl(parts.query))
        proto = _protocol(parts.path, owner.kind)
        presented = _presented_key(headers, query)
        authorized = owner.api_key is None or presented == owner.api_key
        reply = owner._arrive(
            Recorded(self.command, parts.path, query, headers, body, arrived), authorized
        )
        try:
            self._answer(owner, proto, parts.path, query, body, reply, authorized, presented)
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True  # the client gave up (e.g. its timeout): fine
        finally:
            owner._leave()

    def _answer(self, owner, proto, path, query, body, reply, authorized, presented) -> None:
        delay = reply.delay if reply else owner.delay
        if delay and owner._stopping.wait(delay):
            return
        if reply and reply.disconnect:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if not authorized:
            message = f"Incorrect API key provided: {presented}."
            return self._json(401, error_body(proto, 401, message))
        if reply and (reply.status >= 400 or reply.body is not None):
            payload = (
                reply.body
                if reply.body is not None
                else error_body(proto, reply.status, reply.error)
            )
            headers = dict(reply.headers)
            if reply.retry_after is not None:
                headers["Retry-After"] = reply.retry_after
            return self._json(reply.status, payload, headers)
        if self.command == "GET" and path.rstrip("/").endswith("/models"):
            return self._json(200, models_body(proto, owner.models))
        if self.command != "POST" or not isinstance(body, dict):
            return self._json(404, error_body(proto, 404, f"No route for {path}"))
        model = body.get("model") or _gemini_model(path)
        result = outcome(proto, body, reply or Reply())
        streamed = body.get("stream") is True or path.endswith(":streamGenerateContent")
        if not streamed:
            return self._json(200, render(proto, model, result))
        self._start_stream(reply.headers if reply else {})
        frames = stream_frames(proto, model, result, body)
        if reply and reply.stream_error:
            cut = min(STREAM_ERROR_AFTER[proto], len(frames))
            frames = [*frames[:cut], stream_error(proto, reply.stream_error)]
        for frame in frames:
            self._chunk(frame)
        self._chunk(b"")  # terminating zero-length chunk

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _start_stream(self, headers: dict[str, str]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()


def _gemini_model(path: str) -> str:
    match = re.search(r"/models/([^/:]+):", path)
    return match.group(1) if match else ""
