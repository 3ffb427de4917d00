"""CSRF protection for every state-changing form.

The token is an HMAC of the session cookie (or, before login, of an anonymous cookie), so it is
bound to the browser session and needs no server-side storage. POST handlers take their form
through ``verified_form``; a test checks every POST page route does.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Depends, Request
from starlette.datastructures import FormData

from tenantry.core.errors import PermissionDenied
from tenantry.core.security import constant_time_equal, keyed_hash, random_token

SESSION_COOKIE = "tenantry_session"
ANON_COOKIE = "tenantry_anon"
FIELD = "csrf_token"


def _seed(request: Request) -> str:
    seed = request.cookies.get(SESSION_COOKIE) or request.cookies.get(ANON_COOKIE)
    if seed is None:
        # First visit: make a seed now; render() sets it as a cookie on the response.
        seed = getattr(request.state, "new_anon_seed", None) or random_token("an_")
        request.state.new_anon_seed = seed
    return seed


def csrf_token(request: Request) -> str:
    return keyed_hash(request.app.state.keys.csrf, _seed(request))


def token_for_session(request: Request, session_token: str) -> str:
    """The token pages will expect right after login (the seed changes with the new cookie)."""
    return keyed_hash(request.app.state.keys.csrf, session_token)


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", "")


async def _verified_form(request: Request) -> FormData:
    form = await request.form()
    sent = form.get(FIELD)
    seed = request.cookies.get(SESSION_COOKIE) or request.cookies.get(ANON_COOKIE)
    if not isinstance(sent, str) or seed is None or not _same_origin(request):
        raise PermissionDenied(
            "The form expired or came from another site; reload the page and try again."
        )
    if not constant_time_equal(sent, keyed_hash(request.app.state.keys.csrf, seed)):
        raise PermissionDenied(
            "The form expired or came from another site; reload the page and try again."
        )
    return form


_verified_form.csrf = True
verified_form = Depends(_verified_form)
