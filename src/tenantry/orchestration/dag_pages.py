"""HTML: the DAG drawn as a graph (server-rendered SVG), its edges, settings and runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData

from tenantry.core.errors import TenantryError
from tenantry.core.pagination import PageParams
from tenantry.orchestration import dag, dag_runs
from tenantry.orchestration import service as runs
from tenantry.orchestration.models import NODE_KINDS, Run
from tenantry.tenancy.context import OrgContext
from tenantry.tenancy.deps import db_session, page_requires, settings_of
from tenantry.tenancy.org_pages import org_render
from tenantry.tenancy.permissions import Permission as P
from tenantry.web.csrf import verified_form
from tenantry.web.nav import NavItem, register
from tenantry.web.render import redirect, register_templates

register_templates(Path(__file__).parent / "templates")
register(NavItem("dag", "DAG", "/dag", "Data", "data:read"))
router = APIRouter(prefix="/o/{org}/dag", include_in_schema=False)

NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 200, 58, 90, 24, 16
PAGES = {"pipeline": "pipelines", "transformation": "transformations"}


def node_href(org_slug: str, kind: str, node_id: str) -> str:
    return f"/o/{org_slug}/{PAGES.get(kind, kind)}/{node_id}"


def _short(name: str, size: int = 24) -> str:
    return name if len(name) <= size else name[: size - 1] + "…"


def layout(view: dict[str, Any], org_slug: str) -> dict[str, Any]:
    """Boxes by layer left → right, each layer ordered by where its upstream nodes sit (fewer
    crossings) and centred; edges as cubic curves from a box's right side to the next's left."""
    nodes = {n["key"]: n for n in view["nodes"]}
    layers = [list(layer) for layer in view["layers"]]
    tallest = max((len(layer) for layer in layers), default=0)
    centre: dict[str, float] = {}
    boxes = []
    for i, layer in enumerate(layers):

        def weight(key: str) -> float:
            ups = [centre[u] for u in nodes[key]["upstream"] if u in centre]
            return sum(ups) / len(ups) if ups else float("inf")

        if i:
            layer.sort(key=lambda k: (weight(k), nodes[k]["name"].lower()))
        offset = (tallest - len(layer)) * (NODE_H + GAP_Y) / 2
        for j, key in enumerate(layer):
            n = nodes[key]
            x = PAD + i * (NODE_W + GAP_X)
            y = PAD + offset + j * (NODE_H + GAP_Y)
            centre[key] = y + NODE_H / 2
            last = n["last_run"]
            boxes.append(
                {
                    "key": key,
                    "kind": n["kind"],
                    "id": n["id"],
                    "name": n["name"],
                    "label": _short(n["name"]),
                    "x": x,
                    "y": round(y, 1),
                    "status": last["status"] if last else "never",
                    "href": node_href(org_slug, n["kind"], n["id"]),
                }
            )
    at = {b["key"]: b for b in boxes}
    edges = []
    for e in view["edges"]:
        up, down = at.get(e["from"]), at.get(e["to"])
        if up is None or down is None:
            continue
        x1, y1 = up["x"] + NODE_W, up["y"] + NODE_H / 2
        x2, y2 = down["x"] - 6, down["y"] + NODE_H / 2  # room for the arrowhead
        bend = max((x2 - x1) / 2, 30)
        edges.append(
            {
                "id": e["id"],
                "inferred": e["inferred"],
                "via": e.get("via"),
                "from": up["name"],
                "to": down["name"],
                "path": f"M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}",
            }
        )
    width = PAD * 2 + max(len(layers), 1) * NODE_W + max(len(layers) - 1, 0) * GAP_X
    height = PAD * 2 + max(tallest, 1) * NODE_H + max(tallest - 1, 0) * GAP_Y
    return {
        "boxes": boxes,
        "edges": edges,
        "width": width,
        "height": height,
        "w": NODE_W,
        "h": NODE_H,
    }


async def node_runs(session, ctx: OrgContext, dag_run: Run) -> list[dict[str, Any]]:
    """A DAG run's node runs (the latest attempt of each), in the run's order."""
    rows, _ = await runs.list_runs(
        session, ctx=ctx, params=PageParams(size=200), parent_id=dag_run.id
    )
    latest: dict[str, Run] = {}
    for r in sorted(rows, key=lambda r: (r.attempt, r.created_at)):
        latest[f"{r.kind}:{r.target_id}"] = r
    order = (dag_run.details or {}).get("order") or []
    rank = {key: i for i, key in enumerate(order)}
    ordered = sorted(latest.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[1].created_at))
    return [
        runs.view(r) | {"href": node_href(ctx.org.slug, r.kind, r.target_id)} for _, r in ordered
    ]


@router.get("")
async def dag_page(
    request: Request, ctx: OrgContext = page_requires(P.DATA_READ), session=Depends(db_session)
):
    graph = await dag.build(session, settings_of(request), ctx.org.id)
    last = await runs.latest_by_target(
        session, org_id=ctx.org.id, target_ids=[n.id for n in graph.nodes.values()]
    )
    view = dag.view(graph, last)
    prefs = await dag.get_settings(session, ctx.org.id)
    rows, _ = await runs.list_runs(session, ctx=ctx, params=PageParams(size=5), kind="dag")
    recent = [runs.view(r) | {"nodes": await node_runs(session, ctx, r)} for r in rows]
    names = {n["key"]: n["name"] for n in view["nodes"]}
    explicit = [
        e | {"from_name": names[e["from"]], "to_name": names[e["to"]]}
        for e in view["edges"]
        if not e["inferred"]
    ]
    return await org_render(
        request,
        session,
        ctx,
        "dag.html",
        {
            "dag": view,
            "graph": layout(view, ctx.org.slug),
            "explicit": explicit,
            "settings": {
                "auto_downstream": prefs.auto_downstream,
                "max_parallel": prefs.max_parallel,
            },
            "recent": recent,
            "hrefs": {n["key"]: node_href(ctx.org.slug, n["kind"], n["id"]) for n in view["nodes"]},
        },
    )


def _node(value: str) -> tuple[str, str] | None:
    kind, _, node_id = value.partition(":")
    return (kind, node_id) if kind in NODE_KINDS and node_id else None


@router.post("/edges")
async def add_edge(
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.DATA_WRITE),
    session=Depends(db_session),
):
    back = f"/o/{ctx.org.slug}/dag"
    up, down = _node(str(form.get("upstream", ""))), _node(str(form.get("downstream", "")))
    if up is None or down is None:
        return redirect(back, request, "Choose both nodes of the edge.", "error")
    try:
        await dag.add_edge(session, settings_of(request), ctx=ctx, upstream=up, downstream=down)
    except TenantryError as exc:
        await session.rollback()
        message = exc.errors[0]["message"] if exc.errors else exc.detail
        return redirect(back, request, f"The edge was not added: {message}", "error")
    return redirect(back, request, "Edge added.")


@router.post("/edges/{edge_id}/delete")
async def remove_edge(
    edge_id: str,
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.DATA_WRITE),
    session=Depends(db_session),
):
    await dag.remove_edge(session, ctx=ctx, edge_id=edge_id)
    return redirect(f"/o/{ctx.org.slug}/dag", request, "Edge removed.")


@router.post("/run")
async def run_dag(
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.DATA_RUN),
    session=Depends(db_session),
):
    """The whole DAG, or from a node downstream, or up to a node."""
    mode = str(form.get("mode", "all"))
    node = _node(str(form.get("node", "")))
    if mode not in dag.MODES or (mode != "all" and node is None):
        return redirect(f"/o/{ctx.org.slug}/dag", request, "Choose what to run.", "error")
    try:
        run = await dag_runs.start(
            session,
            settings_of(request),
            org_id=ctx.org.id,
            node=node if mode != "all" else None,
            mode=mode,
            created_by_id=ctx.user.id if ctx.user else None,
        )
    except TenantryError as exc:
        await session.rollback()
        message = exc.errors[0]["message"] if exc.errors else exc.detail
        return redirect(f"/o/{ctx.org.slug}/dag", request, f"Not started: {message}", "error")
    return redirect(f"/o/{ctx.org.slug}/runs/{run.id}", request, "DAG run started.")


@router.post("/settings")
async def update_settings(
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.ORG_UPDATE),
    session=Depends(db_session),
):
    back = f"/o/{ctx.org.slug}/dag"
    raw = str(form.get("max_parallel", "")).strip()
    if not raw.isdigit() or not 1 <= int(raw) <= 32:
        return redirect(back, request, "Max parallel: a whole number from 1 to 32.", "error")
    await dag.update_settings(
        session,
        ctx=ctx,
        auto_downstream=form.get("auto_downstream") == "on",
        max_parallel=int(raw),
    )
    return redirect(back, request, "DAG settings saved.")
