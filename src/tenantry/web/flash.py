"""One-shot messages shown on the next page, carried in a signed cookie."""

from __future__ import annotations

import base64
import json

from fastapi import Request
from starlette.responses import Response

from tenantry.core.security import constant_time_equal, keyed_hash

COOKIE = "tenantry_flash"


def flash(response: Response, request: Request, message: str, kind: str = "success") -> None:
    pending = list(getattr(request.state, "pending_flashes", []))
    pending.append({"kind": kind, "message": message})
    request.state.pending_flashes = pending
    payload = base64.urlsafe_b64encode(json.dumps(pending).encode()).decode()
    sig = keyed_hash(request.app.state.keys.session, "flash:" + payload)
    response.set_cookie(COOKIE, f"{payload}.{sig}", httponly=True, samesite="lax", max_age=60)


def pop_flashes(request: Request) -> list[dict]:
    raw = request.cookies.get(COOKIE)
    if not raw or "." not in raw:
        return []
    payload, sig = raw.rsplit(".", 1)
    if not constant_time_equal(sig, keyed_hash(request.app.state.keys.session, "flash:" + payload)):
        return []
    try:
        return json.loads(base64.urlsafe_b64decode(payload))
    except ValueError:
        return []


REVEAL_COOKIE = "tenantry_reveal"
REVEAL_TTL = 120


def reveal_once(response: Response, data: dict, path: str) -> None:
    """Carry a just-created secret across the redirect that follows a form post.

    Encrypted (not merely signed), HttpOnly, scoped to the page that shows it, short-lived, and
    removed by the first view — so a reload cannot re-submit the form, and the secret never sits
    in a URL or a log line.
    """
    from tenantry.core import secrets

    response.set_cookie(
        REVEAL_COOKIE,
        secrets.encrypt(data),
        httponly=True,
        samesite="strict",
        max_age=REVEAL_TTL,
        path=path,
    )


def take_revealed(request: Request) -> dict | None:
    raw = request.cookies.get(REVEAL_COOKIE)
    if not raw:
        return None
    from cryptography.fernet import InvalidToken

    from tenantry.core import secrets

    try:
        return json.loads(secrets.box().decrypt(raw.encode(), ttl=REVEAL_TTL))
    except (InvalidToken, ValueError):
        return None


def forget_revealed(response: Response, path: str) -> None:
    response.delete_cookie(REVEAL_COOKIE, path=path)
