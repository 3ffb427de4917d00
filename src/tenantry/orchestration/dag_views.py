"""JSON API: the organization's DAG — view, add/remove edges, settings, run."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from tenantry.orchestration import dag, dag_runs
from tenantry.orchestration import service as runs
from tenantry.orchestration.models import NODE_KINDS
from tenantry.orchestration.schemas import RunOut
from tenantry.tenancy.context import OrgContext
from tenantry.tenancy.deps import db_session, requires, settings_of
from tenantry.tenancy.permissions import Permission as P

router = APIRouter(prefix="/api/v1/orgs/{org}/dag", tags=["dag"])
NodeKind = Literal["pipeline", "transformation"]
assert set(NODE_KINDS) == {"pipeline", "transformation"}


class EdgeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    upstream_kind: NodeKind
    upstream_id: str = Field(max_length=32)
    downstream_kind: NodeKind
    downstream_id: str = Field(max_length=32)


class DagRunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["all", "downstream", "upstream"] = Field(
        default="all", description="all nodes, a node and what follows it, or up to a node"
    )
    node_kind: NodeKind | None = None
    node_id: str | None = Field(default=None, max_length=32)


class DagSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    auto_downstream: bool | None = Field(
        default=None, description="A node that succeeds on its own starts its downstream nodes"
    )
    max_parallel: int | None = Field(default=None, ge=1, le=32)


def _settings_view(row) -> dict:
    return {"auto_downstream": row.auto_downstream, "max_parallel": row.max_parallel}


@router.get("")
async def get_dag(
    ctx: OrgContext = requires(P.DATA_READ),
    settings=Depends(settings_of),
    session=Depends(db_session),
):
    """Nodes (with their last run), explicit and inferred edges, and layers in run order."""
    graph = await dag.build(session, settings, ctx.org.id)
    ids = [n.id for n in graph.nodes.values()]
    last = await runs.latest_by_target(session, org_id=ctx.org.id, target_ids=ids)
    prefs = await dag.get_settings(session, ctx.org.id)
    return dag.view(graph, last) | {"settings": _settings_view(prefs)}


@router.post("/edges", status_code=201)
async def add_edge(
    body: EdgeIn,
    ctx: OrgContext = requires(P.DATA_WRITE),
    settings=Depends(settings_of),
    session=Depends(db_session),
):
    """Make `downstream` run after `upstream`; refused, with the path, if it closes a cycle."""
    edge = await dag.add_edge(
        session,
        settings,
        ctx=ctx,
        upstream=(body.upstream_kind, body.upstream_id),
        downstream=(body.downstream_kind, body.downstream_id),
    )
    return {"id": edge.id, **body.model_dump()}


@router.delete("/edges/{edge_id}", status_code=204)
async def remove_edge(
    edge_id: str, ctx: OrgContext = requires(P.DATA_WRITE), session=Depends(db_session)
):
    await dag.remove_edge(session, ctx=ctx, edge_id=edge_id)


@router.get("/settings")
async def get_settings(ctx: OrgContext = requires(P.DATA_READ), session=Depends(db_session)):
    return _settings_view(await dag.get_settings(session, ctx.org.id))


@router.patch("/settings")
async def update_settings(
    body: DagSettingsIn, ctx: OrgContext = requires(P.ORG_UPDATE), session=Depends(db_session)
):
    row = await dag.update_settings(
        session, ctx=ctx, auto_downstream=body.auto_downstream, max_parallel=body.max_parallel
    )
    return _settings_view(row)


@router.post("/run", status_code=202, response_model=RunOut)
async def run_dag(
    body: DagRunIn,
    ctx: OrgContext = requires(P.DATA_RUN),
    settings=Depends(settings_of),
    session=Depends(db_session),
):
    """One DAG run: a run per node in topological order, independent nodes in parallel,
    the downstream of a failed node skipped with the reason."""
    node = (body.node_kind, body.node_id) if body.node_kind and body.node_id else None
    if body.mode != "all" and node is None:
        from tenantry.core.errors import ValidationFailed

        raise ValidationFailed.field("node_id", f"mode '{body.mode}' needs node_kind and node_id")
    trigger = "api" if ctx.caller.actor_type == "api_key" else "manual"
    run = await dag_runs.start(
        session,
        settings,
        org_id=ctx.org.id,
        node=node,
        mode=body.mode,
        trigger=trigger,
        created_by_id=ctx.user.id if ctx.user else None,
    )
    return runs.view(run)
