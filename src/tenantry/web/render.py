"""Template rendering for every domain's pages, with the shell's context (user, org, nav, CSRF)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

from tenantry import __version__
from tenantry.core.db import utcnow
from tenantry.web import csrf, flash
from tenantry.web.nav import nav_for

WEB_DIR = Path(__file__).parent
_template_dirs: list[Path] = [WEB_DIR / "templates"]

_env = Environment(
    loader=ChoiceLoader([]),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates = Jinja2Templates(env=_env)


def register_templates(directory: Path) -> None:
    """Each domain keeps its page templates next to its ``pages.py`` and registers the folder."""
    if directory not in _template_dirs:
        _template_dirs.append(directory)
    _env.loader = ChoiceLoader([FileSystemLoader(str(d)) for d in _template_dirs])


register_templates(WEB_DIR / "templates")


def mount_static(app: FastAPI) -> None:
    from importlib.util import find_spec

    # Swagger UI's assets from its installed package (/docs works offline, no CDN). Located,
    # not imported: importing it would add a third of a second to every start.
    package = Path(find_spec("swagger_ui").submodule_search_locations[0])
    swagger = StaticFiles(directory=package / "static")
    app.mount("/static/swagger", swagger, name="swagger")
    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")


def api_docs_page() -> HTMLResponse:
    return HTMLResponse((WEB_DIR / "templates" / "api_docs.html").read_text())


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    ctx = getattr(request.state, "ctx", None)
    user = getattr(request.state, "user", None)
    data = {
        "request": request,
        "user": user,
        "ctx": ctx,
        "org": ctx.org if ctx else None,
        "role": ctx.role if ctx else None,
        "nav": nav_for(request, ctx) if ctx else [],
        "csrf_token": csrf.csrf_token(request),
        "flashes": flash.pop_flashes(request),
        "version": __version__,
        "now": utcnow(),
        "errors": {},
        "values": {},
    }
    data.update(context or {})
    response = templates.TemplateResponse(request, name, data, status_code=status_code)
    if request.cookies.get(flash.COOKIE):
        response.delete_cookie(flash.COOKIE)
    seed = getattr(request.state, "new_anon_seed", None)
    if seed:
        response.set_cookie(csrf.ANON_COOKIE, seed, httponly=True, samesite="lax")
    return response


def redirect(
    url: str, request: Request | None = None, message: str | None = None, kind: str = "success"
):
    response = RedirectResponse(url, status_code=303)
    if message and request is not None:
        flash.flash(response, request, message, kind)
    return response
