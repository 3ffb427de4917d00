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
