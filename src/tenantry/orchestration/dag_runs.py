"""DAG runs: a ``Run`` of kind ``dag`` whose node runs carry its id as ``parent_id``.

It is not executed by a worker: it advances whenever one of its node runs finishes
(``advance``), under a write lock on its row, so two node runs finishing at once never start a
node twice.
"""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tenantry.core.config import Settings
from tenantry.core.db import Database, utcnow
from tenantry.core.errors import NotFound, ValidationFailed
from tenantry.orchestration import service as runs
from tenantry.orchestration.dag import Dag, build, get_settings, node_key, select_nodes
from tenantry.orchestration.models import FINISHED, NODE_KINDS, Run
from tenantry.tenancy.context import OrgContext


def _label(dag: Dag, start: str | None, mode: str, include_start: bool) -> str:
    if start is None or mode == "all":
        return "DAG (all nodes)"
    if mode == "upstream":
        return f"DAG up to {dag.name(start)}"
    return f"DAG {'from' if include_start else 'after'} {dag.name(start)}"


async def start(
    session: AsyncSession,
    settings: Settings,
    *,
    org_id: str,
    node: tuple[str, str] | None,
    mode: str = "all",
    trigger: str = "manual",
    created_by_id: str | None = None,
    include_start: bool = True,
) -> Run:
    """One DAG run over the whole DAG, downstream of a node, or up to a node."""
    dag = await build(session, settings, org_id)
    start_key = node_key(*node) if node else None
    order = select_nodes(dag, start_key, mode, include_start=include_start)
    if not order:
        raise ValidationFailed.field("mode", "there is nothing to run: the selection is empty")
    chosen = set(order)
    plan = {
        k: {
            "kind": dag.nodes[k].kind,
            "id": dag.nodes[k].id,
            "name": dag.nodes[k].name,
            "upstream": sorted(dag.upstream[k] & chosen),
        }
        for k in order
    }
    return await _create(
        session,
        org_id=org_id,
        label=_label(dag, start_key, mode, include_start),
        trigger=trigger,
        created_by_id=created_by_id,
        order=order,
        plan=plan,
        details={"mode": mode, "node": start_key, "include_start": include_start},
    )


async def _create(
    session: AsyncSession,
    *,
    org_id: str,
    label: str,
    trigger: str,
    created_by_id: str | None,
    order: list[str],
    plan: dict[str, dict],
    details: dict[str, Any],
    retry_of: Run | None = None,
) -> Run:
    prefs = await get_settings(session, org_id)
    run = await runs.enqueue(
        session,
        org_id=org_id,
        kind="dag",
        target_id=org_id,  # replaced below by the run's own id
        target_name=label,
        trigger=trigger,
        created_by_id=created_by_id,
        status="running",
        retry_of=retry_of,
        details=details | {"order": order, "plan": plan, "max_parallel": prefs.max_parallel},
    )
    # Its own id as target: never a node's (the dispatcher keeps one run per target at a time,
    # and a node must not wait for the DAG run it belongs to) nor anything else's.
    run.target_id = run.id
    run.started_at = run.heartbeat_at = utcnow()
    await session.commit()
    await advance(session, run.id)
    await session.refresh(run)
    return run


async def rerun(session: AsyncSession, *, ctx: OrgContext, dag_run: Run) -> Run:
    """Retry a DAG run: its nodes that did not succeed, in the same order and edges."""
    details = dag_run.details or {}
    done = {
        node_key(c.kind, c.target_id)
        for c in await session.scalars(
            sa.select(Run).where(Run.parent_id == dag_run.id, Run.status == "succeeded")
        )
    }
    order = [k for k in details.get("order", []) if k not in done]
    plan = {
        k: v | {"upstream": [u for u in v["upstream"] if u in order]}
        for k, v in details.get("plan", {}).items()
        if k in order
    }
    return await _create(
        session,
        org_id=dag_run.org_id,
        label=dag_run.target_name,
        trigger="manual",
        created_by_id=ctx.user.id if ctx.user else None,
        order=order,
        plan=plan,
        details={k: details.get(k) for k in ("mode", "node", "include_start")},
        retry_of=dag_run,
    )


_local_locks: dict[str, asyncio.Lock] = {}


async def advance(session: AsyncSession, dag_run_id: str) -> None:
    lock = _local_locks.setdefault(dag_run_id, asyncio.Lock())
    async with lock:
        await _advance(session, dag_run_id)
    dag_run = await session.get(Run, dag_run_id)
    if dag_run is not None and dag_run.finished:
        _local_locks.pop(dag_run_id, None)


async def _advance(session: AsyncSession, dag_run_id: str) -> None:
    from tenantry.orchestration import executors

    await session.commit()  # what follows starts with the write lock, reading fresh state
    # The row lock (PostgreSQL) / write lock (SQLite) serializes concurrent advances.
    await session.execute(sa.update(Run).where(Run.id == dag_run_id).values(heartbeat_at=utcnow()))
    dag_run = await session.get(Run, dag_run_id, populate_existing=True)
    if dag_run is None or dag_run.finished:
        await session.commit()
        return
    details = dag_run.details or {}
    plan: dict[str, dict] = details.get("plan", {})
    latest: dict[str, Run] = {}
    for child in await session.scalars(
        sa.select(Run).where(Run.parent_id == dag_run_id).order_by(Run.attempt, Run.created_at)
    ):
        latest[node_key(child.kind, child.target_id)] = child
    state = {k: (latest[k].status if k in latest else None) for k in plan}
    launched: list[Run] = []
    cancelling = dag_run.cancel_requested
    changed = True
    while changed:
        changed = False
        active = sum(1 for s in state.values() if s in ("queued", "running"))
        for key in details.get("order", list(plan)):
            if state[key] is not None:
                continue
            info = plan[key]
            bad = [
                u for u in info["upstream"] if state.get(u) in ("failed", "cancelled", "skipped")
            ]
            if cancelling or bad:
                reason = (
                    "Skipped: the DAG run was cancelled."
                    if cancelling
                    else f"Skipped: upstream '{plan[bad[0]]['name']}' {state[bad[0]]}."
                )
                await _skip(session, dag_run, info, reason)
                state[key], changed = "skipped", True
                continue
            ready = all(state.get(u) == "succeeded" for u in info["upstream"])
            if ready and active < int(details.get("max_parallel", 4)):
                try:
                    child = await runs.launch(
                        session,
                        org_id=dag_run.org_id,
                        kind=info["kind"],
                        target_id=info["id"],
                        trigger=dag_run.trigger if dag_run.trigger != "retry" else "manual",
                        created_by_id=dag_run.created_by_id,
                        parent_id=dag_run.id,
                        submit=False,
                        commit=False,
                    )
                except NotFound:
                    await _skip(session, dag_run, info, "Skipped: it was deleted.", status="failed")
                    state[key], changed = "failed", True
                    continue
                launched.append(child)
                state[key], changed = "queued", True
                active += 1
    if all(s in FINISHED for s in state.values()):
        _settle(dag_run, state, plan)
    await session.commit()
    for child in launched:
        await executors.submit(child)


async def _skip(session, dag_run: Run, info: dict, reason: str, status: str = "skipped") -> None:
    run = await runs.enqueue(
        session,
        org_id=dag_run.org_id,
        kind=info["kind"],
        target_id=info["id"],
        target_name=info["name"],
        trigger=dag_run.trigger if dag_run.trigger != "retry" else "manual",
        parent_id=dag_run.id,
        status=status,
        created_by_id=dag_run.created_by_id,
        commit=False,
    )
    run.finished_at, run.error = utcnow(), reason
    run.error_class = "terminal" if status == "failed" else None


def _settle(dag_run: Run, state: dict[str, str | None], plan: dict[str, dict]) -> None:
    failed = [plan[k]["name"] for k, s in state.items() if s in ("failed", "cancelled")]
    skipped = [k for k, s in state.items() if s == "skipped"]
    dag_run.finished_at = dag_run.heartbeat_at = utcnow()
    if dag_run.cancel_requested:
        dag_run.status, dag_run.error = "cancelled", "Cancelled on request."
    elif failed:
        dag_run.status, dag_run.error_class = "failed", "terminal"
        dag_run.error = (
            f"{len(failed)} of {len(plan)} nodes failed ({', '.join(failed[:5])}); "
            f"{len(skipped)} skipped downstream."
        )
    else:
        dag_run.status = "succeeded"


async def cancel(session: AsyncSession, *, ctx: OrgContext, dag_run: Run) -> Run:
    dag_run.cancel_requested = True
    await session.commit()
    for child in await session.scalars(
        sa.select(Run).where(Run.parent_id == dag_run.id, Run.status.in_(("queued", "running")))
    ):
        await runs.cancel(session, ctx=ctx, run_id=child.id)
    await advance(session, dag_run.id)
    await session.refresh(dag_run)
    return dag_run


async def on_finished(db: Database, settings: Settings, run_id: str) -> None:
    """A run ended: advance its DAG run, or start what depends on it (event-driven)."""
    async with db.session() as session:
        run = await session.get(Run, run_id)
        if run is None or run.kind not in NODE_KINDS:
            return
        if run.parent_id:
            await advance(session, run.parent_id)
            return
        if (
            run.status != "succeeded"
            or not (await get_settings(session, run.org_id)).auto_downstream
        ):
            return
        dag = await build(session, settings, run.org_id)
        key = node_key(run.kind, run.target_id)
        if key not in dag.nodes or not select_nodes(dag, key, "downstream", include_start=False):
            return
        await start(
            session,
            settings,
            org_id=run.org_id,
            node=(run.kind, run.target_id),
            mode="downstream",
            trigger="dependency",
            include_start=False,
        )
