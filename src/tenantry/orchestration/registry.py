"""What the data domains tell orchestration, which imports none of them.

- run handlers: how to prepare the job of a run of a kind (``register`` / ``handler``);
- targets: how to name a pipeline or transformation and its retry policy, so schedules and
  the DAG can start runs of it (``register_target`` / ``target``);
- DAG nodes: the nodes of an organization with what each produces and consumes, from which
  the DAG's inferred edges follow (``register_nodes`` / ``nodes``).

The composition root (``tenantry.runkinds``) registers them for the app, worker and CLI.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class Target:
    """Something a run can be started for."""

    kind: str
    id: str
    name: str
    max_attempts: int = 1
    backoff_seconds: float = 0.0


ResolveTarget = Callable[[AsyncSession, str, str], Awaitable[Target | None]]
_TARGETS: dict[str, ResolveTarget] = {}


def register_target(kind: str, resolve: ResolveTarget) -> None:
    _TARGETS[kind] = resolve


async def target(session: AsyncSession, org_id: str, kind: str, target_id: str) -> Target | None:
    """The live target (None: missing, deleted, or another organization's)."""
    if kind not in _TARGETS:
        return None
    return await _TARGETS[kind](session, org_id, target_id)


@dataclass(frozen=True)
class Node:
    """A DAG node. ``produces``/``consumes`` are relation keys ("raw.orders", "model:stg_x"):
    a node consuming a key another produces depends on it."""

    kind: str
    id: str
    name: str
    produces: frozenset[str] = field(default_factory=frozenset)
    consumes: frozenset[str] = field(default_factory=frozenset)

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"


ListNodes = Callable[[AsyncSession, Settings, str], Awaitable[list[Node]]]
_NODES: dict[str, ListNodes] = {}


def register_nodes(kind: str, list_nodes: ListNodes) -> None:
    _NODES[kind] = list_nodes


async def nodes(session: AsyncSession, settings: Settings, org_id: str) -> list[Node]:
    out: list[Node] = []
    for list_nodes in _NODES.values():
        out += await list_nodes(session, settings, org_id)
    return out


Finished = Callable[..., Awaitable[None]]  # (db, settings, org_id, details)
_FINISHED: dict[str, Finished] = {}


def register_finished(kind: str, hook: Finished) -> None:
    """Called when a run of ``kind`` ends (any status), before it shows as finished: e.g. to
    record what it built from the details it recorded."""
    _FINISHED[kind] = hook


def finished_hook(kind: str) -> Finished | None:
    return _FINISHED.get(kind)
