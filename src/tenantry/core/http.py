"""HTTP plumbing shared by every domain: request ids, security headers, problem-details errors."""

from __future__ import annotations

import html
import json
import logging
import re
import time
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tenantry.core.errors import TenantryError
from tenantry.core.logging import org_var, request_id_var

log = logging.getLogger("tenantry.http")
access = logging.getLogger("tenantry.access")
# Probes hit these every few seconds; logging each would drown the log.
QUIET_PATHS = frozenset({"/healthz", "/readyz"})
_NAMED_FIELD = re.compile(r"^([a-z_][a-z0-9_.]*): ")
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]
# Pages load only their own scripts, styles and images.
PAGE_CSP = (
    b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    b"frame-ancestors 'none'; form-action 'self'; base-uri 'self'"
)


class RequestContextMiddleware:
    """Pure ASGI (no per-request task spawn): request id in, request id and headers out."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        incoming = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        rid = incoming if incoming and _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(rid)
        org_token = org_var.set(None)
        began = time.perf_counter()
        status = 500
        is_api = scope["path"].startswith(("/api/", "/cubejs-api/"))
        started = False

        async def send_with_headers(message):
            nonlocal started
            nonlocal status
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode()))
                headers.extend(SECURITY_HEADERS)
                if not is_api:
                    headers.append((b"content-security-policy", PAGE_CSP))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # Caught here, not in Starlette's outermost handler, so the request id is still
            # known and the response still gets its headers. Nothing internal reaches the client.
            log.exception("unhandled error on %s %s", scope.get("method"), scope["path"])
            if started:
                raise
            await _internal_error(send_with_headers, rid, is_api)
        finally:
            if scope["path"] not in QUIET_PATHS:
                access.info(
                    "%s %s %s %.1fms",
                    scope.get("method"),
                    scope["path"],
                    status,
                    (time.perf_counter() - began) * 1000,
                )
            org_var.reset(org_token)
            request_id_var.reset(token)


async def _internal_error(send, rid: str, is_api: bool) -> None:
    detail = f"Something went wrong on our side. Quote request id {rid} when reporting it."
    if is_api:
        body = json.dumps(
            {
                "type": "https://tenantry.dev/problems/internal",
                "title": "Internal error",
                "status": 500,
                "detail": detail,
                "error": detail,  # what Cube's clients read
            }
        ).encode()
        ctype = b"application/problem+json"
    else:
        body = (
            "<!doctype html><title>Error · Tenantry</title>"
            '<link rel="stylesheet" href="/static/app.css"><main class="content">'
            f"<h1>500 · Internal error</h1><p>{html.escape(detail)}</p>"
            '<p><a href="/">Back to Tenantry</a></p></main>'
        ).encode()
        ctype = b"text/html; charset=utf-8"
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def problem_response(status: int, body: dict, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(
        body, status_code=status, headers=headers, media_type="application/problem+json"
    )


def error_response(exc: TenantryError) -> JSONResponse:
    headers = {}
    if getattr(exc, "retry_after", None):
        headers["Retry-After"] = str(exc.retry_after)
    if exc.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return problem_response(exc.status, exc.problem(), headers)


def _field_name(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or str(loc[-1] if loc else "request")


def validation_problem(exc: RequestValidationError) -> JSONResponse:
    errors = []
    for err in exc.errors():
        field = _field_name(tuple(err.get("loc", ())))
        message = err.get("msg", "is invalid")
        if err.get("type") == "missing":
            message = "is required"
        if err.get("type") == "value_error":
            # Whole-object checks name the field they are about: "primary_key: merge needs …".
            message = message.removeprefix("Value error, ")
            named = _NAMED_FIELD.match(message)
            if named:
                field = f"{field}.{named[1]}" if field else named[1]
                message = message[named.end() :]
        errors.append({"field": field, "message": message})
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem_response(
        422,
        {
            "type": "https://tenantry.dev/problems/validation",
            "title": "Invalid input",
            "status": 422,
            "detail": detail,
            "errors": errors,
        },
    )


CUBE_PREFIX = "/cubejs-api/"


def cube_error(exc: TenantryError) -> JSONResponse:
    """Cube's error shape, ``{"error": "..."}``: 400 for what the caller got wrong, 403 auth."""
    status = 400 if exc.status in (404, 409, 422) else exc.status
    if status == 401:
        status = 403
    return JSONResponse({"error": exc.detail}, status_code=status)


def install_api_error_handlers(app: FastAPI, page_handler=None) -> None:
    """Map the taxonomy to responses in exactly one place. ``page_handler`` renders HTML errors."""

    def wants_html(request: Request) -> bool:
        return page_handler is not None and not request.url.path.startswith(
            ("/api/", "/cubejs-api/")
        )

    @app.exception_handler(TenantryError)
    async def _tenantry(request: Request, exc: TenantryError):
        if request.url.path.startswith(CUBE_PREFIX):
            return cube_error(exc)
        if wants_html(request):
            return await page_handler(request, exc)
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        if request.url.path.startswith(CUBE_PREFIX):
            first = exc.errors()[0] if exc.errors() else {}
            where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query"))
            return JSONResponse({"error": f"{where}: {first.get('msg', 'invalid')}"}, 400)
        return validation_problem(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        titles = {404: "Not found", 405: "Method not allowed"}
        err = TenantryError(str(exc.detail))
        err.status, err.title = exc.status_code, titles.get(exc.status_code, "Error")
        err.code = err.title.lower().replace(" ", "-")
        if wants_html(request):
            return await page_handler(request, err)
        return error_response(err)


class PrefixCORS:
    """CORS for one path prefix only (the Cube API), so the rest of the app stays same-origin."""

    def __init__(self, app, *, prefix: str, origins: list[str]):
        from starlette.middleware.cors import CORSMiddleware

        self.app, self.prefix = app, prefix
        self.cors = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["authorization", "content-type", "x-request-id", "x-tenantry-org"],
            allow_credentials=False,  # tokens travel in headers, never cookies, cross-origin
            max_age=600,
        )

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith(self.prefix):
            return await self.cors(scope, receive, send)
        return await self.app(scope, receive, send)


async def _awaiting(fn) -> None:
    # A background task runs plain callables in a thread; ``after`` returns a coroutine.
    await fn()


def event_stream(events, *, after=None) -> StreamingResponse:
    """Server-sent events from an async iterator of ``{"event": name, "data": jsonable}``; no
    proxy buffering, so each event reaches the client as it happens. ``after`` (an async
    callable) runs once the response is over, also when the client left before it began."""
    from fastapi.encoders import jsonable_encoder
    from starlette.background import BackgroundTask

    async def body():
        async for ev in events:
            data = json.dumps(jsonable_encoder(ev["data"]), ensure_ascii=False)
            yield f"event: {ev['event']}\ndata: {data}\n\n"

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        background=BackgroundTask(_awaiting, after) if after is not None else None,
    )
