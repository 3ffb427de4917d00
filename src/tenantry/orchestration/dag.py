"""The dependency DAG of an organization: nodes (pipelines, transformations), explicit edges
plus edges inferred from what nodes produce and consume, and DAG runs.

A DAG run is a ``Run`` of kind ``dag`` whose node runs carry its id as ``parent_id``. It is
not executed by a worker: it advances whenever one of its node runs finishes (``advance``),
under a write lock on its row, so two node runs finishing at once never start a node twice.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tenantry.core.config import Settings
from tenantry.core.db import Database, utcnow
from tenantry.core.errors import Conflict, NotFound, ValidationFailed
from tenantry.orchestration import graph, registry
from tenantry.orchestration import service as runs
from tenantry.orchestration.models import FINISHED, NODE_KINDS, DagEdge, DagSettings, Run
from tenantry.tenancy import audit
from tenantry.tenancy.context import OrgContext

MODES = ("all", "downstream", "upstream")


@dataclass
class Dag:
    nodes: dict[str, registry.Node]
    upstream: dict[str, set[str]]
    edges: list[dict[str, Any]] = field(default_factory=list)

    def name(self, key: str) -> str:
        node = self.nodes.get(key)
        return node.name if node else key


def node_key(kind: str, node_id: str) -> str:
    return f"{kind}:{node_id}"


async def build(session: AsyncSession, settings: Settings, org_id: str) -> Dag:
    nodes = {n.key: n for n in await registry.nodes(session, settings, org_id)}
    upstream: dict[str, set[str]] = {k: set() for k in nodes}
    edges: list[dict[str, Any]] = []
    producers: dict[str, set[str]] = {}
    for n in nodes.values():
        for rel in n.produces:
            producers.setdefault(rel, set()).add(n.key)
    for n in nodes.values():
        for rel in sorted(n.consumes):
            for p in sorted(producers.get(rel, ())):
                if p != n.key and p not in upstream[n.key]:
                    upstream[n.key].add(p)
                    edges.append({"id": None, "from": p, "to": n.key, "inferred": True, "via": rel})
    for e in await session.scalars(sa.select(DagEdge).where(DagEdge.org_id == org_id)):
        up, down = (
            node_key(e.upstream_kind, e.upstream_id),
            node_key(e.downstream_kind, e.downstream_id),
        )
        if up in nodes and down in nodes:
            upstream[down].add(up)
            edges.append({"id": e.id, "from": up, "to": down, "inferred": False, "via": None})
    return Dag(nodes, upstream, edges)


def _cycle_text(dag: Dag, cycle: list[str]) -> str:
    return " → ".join(dag.name(k) for k in cycle)


async def add_edge(
    session: AsyncSession,
    settings: Settings,
    *,
    ctx: OrgContext,
    upstream: tuple[str, str],
    downstream: tuple[str, str],
) -> DagEdge:
    dag = await build(session, settings, ctx.org.id)
    up, down = node_key(*upstream), node_key(*downstream)
    for field_name, key in (("upstream_id", up), ("downstream_id", down)):
        if key not in dag.nodes:
            raise ValidationFailed.field(field_name, "names no pipeline or transformation here")
    if up == down:
        raise ValidationFailed.field("downstream_id", "a node cannot depend on itself")
    if up in dag.upstream[down]:
        raise Conflict(f"'{dag.name(down)}' already runs after '{dag.name(up)}'.")
    trial = {k: set(v) for k, v in dag.upstream.items()}
    trial[down].add(up)
    cycle = graph.find_cycle(trial)
    if cycle:
        raise ValidationFailed.field(
            "downstream_id", f"this edge would make a cycle: {_cycle_text(dag, cycle)}"
        )
    edge = DagEdge(
        org_id=ctx.org.id,
        upstream_kind=upstream[0],
        upstream_id=upstream[1],
        downstream_kind=downstream[0],
        downstream_id=downstream[1],
        created_by_id=ctx.user.id if ctx.user else None,
    )
    session.add(edge)
    await session.flush()
    audit.log(session, ctx, "dag.edge.add", "dag_edge", edge.id, after={"from": up, "to": down})
    await session.commit()
    return edge


async def remove_edge(session: AsyncSession, *, ctx: OrgContext, edge_id: str) -> None:
    edge = await session.scalar(
        sa.select(DagEdge).where(DagEdge.id == edge_id, DagEdge.org_id == ctx.org.id)
    )
    if edge is None:
        raise NotFound("There is no such edge in this organization's DAG.")
    before = {"from": node_key(edge.upstream_kind, edge.upstream_id)}
    before["to"] = node_key(edge.downstream_kind, edge.downstream_id)
    await session.delete(edge)
    audit.log(session, ctx, "dag.edge.remove", "dag_edge", edge_id, before=before)
    await session.commit()


async def get_settings(session: AsyncSession, org_id: str) -> DagSettings:
    row = await session.get(DagSettings, org_id)
    return row or DagSettings(org_id=org_id, auto_downstream=True, max_parallel=4)


async def update_settings(
    session: AsyncSession,
    *,
    ctx: OrgContext,
    auto_downstream: bool | None,
    max_parallel: int | None,
) -> DagSettings:
    row = await session.get(DagSettings, ctx.org.id)
    if row is None:
        row = DagSettings(org_id=ctx.org.id, auto_downstream=True, max_parallel=4)
        session.add(row)
    before = {"auto_downstream": row.auto_downstream, "max_parallel": row.max_parallel}
    if auto_downstream is not None:
        row.auto_downstream = auto_downstream
    if max_parallel is not None:
        row.max_parallel = max_parallel
    after = {"auto_downstream": row.auto_downstream, "max_parallel": row.max_parallel}
    audit.log(session, ctx, "dag.settings", "dag", ctx.org.id, before=before, after=after)
    await session.commit()
    return row


def select_nodes(dag: Dag, start: str | None, mode: str, *, include_start: bool = True) -> list:
    """The nodes a DAG run covers, in topological order."""
    if mode not in MODES:
        raise ValidationFailed.field("mode", f"use one of {', '.join(MODES)}")
    if start is None or mode == "all":
        chosen = set(dag.nodes)
    elif start not in dag.nodes:
        raise ValidationFailed.field("node_id", "names no pipeline or transformation here")
    elif mode == "downstream":
        chosen = graph.reach(start, graph.downstream_map(dag.upstream))
    else:
        chosen = graph.reach(start, dag.upstream)
    if not include_start and start is not None:
        chosen.discard(start)
    sub = {k: dag.upstream[k] & chosen for k in chosen}
    return [k for layer in graph.layers(sub) for k in layer]


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


def view(dag: Dag, last: dict[str, Run]) -> dict[str, Any]:
    return {
        "nodes": [
            {
                "key": k,
                "kind": n.kind,
                "id": n.id,
                "name": n.name,
                "upstream": sorted(dag.upstream[k]),
                "last_run": runs.view(last[n.id]) if n.id in last else None,
            }
            for k, n in sorted(dag.nodes.items(), key=lambda kv: kv[1].name)
        ],
        "edges": dag.edges,
        "layers": graph.layers(dag.upstream),
    }
