"""The app's effective route table (full paths, methods, dependency tree), for inventory checks.

FastAPI may keep included routers as nested objects; this flattens them on any version.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from starlette.routing import Mount


@dataclass(frozen=True)
class RouteInfo:
    path: str
    methods: frozenset[str]
    dependant: Any | None  # None for plain Starlette routes and mounts
    is_mount: bool = False


def iter_routes(app: FastAPI) -> Iterator[RouteInfo]:
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: the route table is already flat
        contexts = app.routes
    else:
        contexts = iter_route_contexts(app.routes)
    for ctx in contexts:
        route = getattr(ctx, "original_route", ctx)
        if isinstance(route, Mount):
            yield RouteInfo(route.path, frozenset(), None, is_mount=True)
            continue
        dependant = getattr(ctx, "dependant", None)
        yield RouteInfo(ctx.path, frozenset(ctx.methods or ()), dependant)
