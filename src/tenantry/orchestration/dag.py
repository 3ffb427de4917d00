"""The dependency DAG of an organization: nodes (pipelines, transformations), explicit edges
plus edges inferred from what nodes produce and consume, its settings, and which nodes a DAG
run covers. DAG runs themselves live in ``dag_runs``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tenantry.core.config import Settings
from tenantry.core.errors import Conflict, NotFound, ValidationFailed
from tenantry.orchestration import graph, registry
from tenantry.orchestration import service as runs
from tenantry.orchestration.models import DagEdge, DagSettings, Run
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
