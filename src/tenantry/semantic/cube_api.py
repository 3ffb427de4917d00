"""The Cube-compatible REST API: /cubejs-api/v1/load, meta, sql, dry-run (and /livez).

Request and response shapes follow Cube's, so ``@cubejs-client/core`` works unchanged. The
tenant comes from the credential (see ``auth``); there is no organization in the URL.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from tenantry.core.errors import BadRequest
from tenantry.semantic import engine
from tenantry.semantic.auth import cube_caller
from tenantry.semantic.runtime import runtime_of
from tenantry.tenancy.deps import db_session, public

router = APIRouter(prefix="/cubejs-api/v1", tags=["semantic (Cube API)"])
health = APIRouter(tags=["health"])
CONTINUE_WAIT = {"error": "Continue wait"}


def _parse(raw: Any, field: str = "query") -> Any:
    if raw is None or raw == "":
        raise BadRequest(f"{field}: send the query as JSON in '{field}'")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise BadRequest(f"{field}: not valid JSON ({exc.msg} at {exc.pos})") from None
    if not isinstance(raw, (dict, list)):
        raise BadRequest(f"{field}: must be an object (or a list of them)")
    return raw


async def _params(request: Request) -> dict[str, Any]:
    """GET: ?query=…&queryType=…; POST: a JSON body {query, queryType, cache}."""
    params: dict[str, Any] = dict(request.query_params)
    if request.method == "POST":
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise BadRequest('The request body must be JSON: {"query": {...}}') from None
        if not isinstance(body, dict):
            raise BadRequest('The request body must be a JSON object: {"query": {...}}')
        params.update(body)
    return params


async def _compiled(request: Request, tenant: engine.Tenant, session, query: Any):
    rt, org = runtime_of(request.app), request.state.semantic_org
    query_type, compiled, _, _ = await engine.compile_all(rt, session, org, tenant, query)
    return query_type, compiled


def _pivot(query_type: str, results: list[dict]) -> dict:
    return {**(results[0]["query"] if results else {}), "queryType": query_type}


@router.api_route("/load", methods=["GET"], operation_id="cube_load_get")
@router.api_route("/load", methods=["POST"], operation_id="cube_load_post")
async def load(request: Request, tenant=cube_caller(), session=Depends(db_session)):
    """Run a query. `queryType=multi` (what the official client sends) answers
    {queryType, results, pivotQuery, slowQuery}; otherwise a regular query answers its result.
    A query still running after the continue-wait time answers {"error": "Continue wait"}."""
    params = await _params(request)
    query = _parse(params.get("query"))
    mode = params.get("cache") or "stale-if-slow"
    rt = runtime_of(request.app)
    query_type, results = await engine.execute(
        rt, session, request.state.semantic_org, tenant, query, mode=mode
    )
    if results is None:
        return JSONResponse(CONTINUE_WAIT)
    # Bodies are plain JSON already (they come from the cache): no re-encoding pass.
    if params.get("queryType") == "multi" or query_type != "regularQuery":
        return JSONResponse(
            {
                "queryType": query_type,
                "results": results,
                "pivotQuery": _pivot(query_type, results),
                "slowQuery": any(r.get("slowQuery") for r in results),
            }
        )
    return JSONResponse(results[0])


def _sql_body(compiled) -> dict:
    return {
        "sql": [compiled.sql, []],
        "order": compiled.normalized.get("order"),
        "aliasNameToMember": {alias: member for alias, member in compiled.columns},
        "preAggregations": [
            {"preAggregationId": p} for p in getattr(compiled, "pre_aggregation_candidates", [])
        ],
        "usedPreAggregation": getattr(compiled, "used_pre_aggregation", None),
        "dataSource": "default",
        "external": False,
        "rollupMatchResults": [],
        "cacheKeyQueries": [],
    }


@router.api_route("/sql", methods=["GET"], operation_id="cube_sql_get")
@router.api_route("/sql", methods=["POST"], operation_id="cube_sql_post")
async def sql(request: Request, tenant=cube_caller(), session=Depends(db_session)):
    """The SQL a query compiles to, for this caller (access policies applied)."""
    query = _parse((await _params(request)).get("query"))
    query_type, compiled = await _compiled(request, tenant, session, query)
    if query_type == "regularQuery":
        return {"sql": _sql_body(compiled[0])}
    return {"queryType": query_type, "sql": [_sql_body(c) for c in compiled]}


@router.api_route("/dry-run", methods=["GET"], operation_id="cube_dry_run_get")
@router.api_route("/dry-run", methods=["POST"], operation_id="cube_dry_run_post")
async def dry_run(request: Request, tenant=cube_caller(), session=Depends(db_session)):
    """Validate and normalize a query without running it."""
    query = _parse((await _params(request)).get("query"))
    query_type, compiled = await _compiled(request, tenant, session, query)
    normalized = [c.normalized for c in compiled]
    return {
        "queryType": query_type,
        "normalizedQueries": normalized,
        "queryOrder": [c.normalized.get("order") for c in compiled],
        "transformedQueries": [None for _ in compiled],
        "pivotQuery": {**normalized[0], "queryType": query_type},
    }


@router.get("/meta")
async def meta(request: Request, tenant=cube_caller(), session=Depends(db_session)):
    """The cubes and views this caller may query, with their members."""
    from tenantry.semantic import compiler

    rt = runtime_of(request.app)
    model = await engine.model_for(rt, session, tenant.org_id)
    return compiler.meta(model, tenant.context)


@health.get("/livez")
async def livez(_=public()):
    """The process is alive (Cube's liveness probe)."""
    return {"health": "HEALTH"}
