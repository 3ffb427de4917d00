"""Run kinds register how to prepare their job; orchestration imports no data domain."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from tenantry.core.config import Settings

if TYPE_CHECKING:
    from tenantry.orchestration.control import Job
    from tenantry.orchestration.models import Run

Prepare = Callable[[AsyncSession, Settings, "Run"], Awaitable["Job"]]
_HANDLERS: dict[str, Prepare] = {}


def register(kind: str, prepare: Prepare) -> None:
    _HANDLERS[kind] = prepare


def handler(kind: str) -> Prepare:
    if kind not in _HANDLERS:
        raise LookupError(f"no handler registered for runs of kind {kind!r}")
    return _HANDLERS[kind]
