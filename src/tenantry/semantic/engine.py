"""A tenant's query, end to end: its model → compiled SQL → cache → its warehouse → Cube rows."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tenantry.core.errors import BadRequest, ConfigurationError, TenantryError
from tenantry.semantic import cache as results
from tenantry.semantic import service
from tenantry.semantic.runtime import SemanticRuntime, Target
from tenantry.semantic.schema import DataModel

DEFAULT_REFRESH_EVERY = 10.0  # Cube's default refresh key for a cube without one
SQL_REFRESH_CHECK = 10.0  # how often a `refresh_key: sql` is re-run


@dataclass(frozen=True)
class Tenant:
    """Who is asking: the organization (by id, the one tenant key) and the security context."""

    org_id: str
    org_slug: str
    context: Any  # compiler.SecurityContext
    via: str  # jwt | api_key | session


class NoModel(BadRequest):
    pass


async def model_for(rt: SemanticRuntime, session: AsyncSession, org_id: str) -> DataModel:
    number = rt.versions.get(org_id)
    if number is None:
        number = await service.current_number(session, org_id)
        rt.versions.put(org_id, number)
    if number == 0:
        raise NoModel(
            "This organization has no semantic model yet; add one under Semantic models "
            "(or `tenantry models push`)."
        )
    model = rt.models.peek((org_id, number))
    if model is not None:
        return model
    version = await service.get_version(session, org_id=org_id, number=number)
    files, templates = dict(version.files), list(version.templates)
    extra = rt.settings.semantic_templates_dir

    def build() -> DataModel:
        model = service.compile_files(files, templates, extra)
        model.version = number
        return model

    return await rt.models.get((org_id, number), build)


async def target_for(rt: SemanticRuntime, session: AsyncSession, org) -> Target:
    found = rt.targets.get(org.id)
    if found is None:
        from tenantry.warehouse import service as warehouse
        from tenantry.warehouse.duckdb_store import DuckDBWarehouse

        store = await warehouse.open_warehouse(session, rt.settings, org)
        schemas = None if isinstance(store, DuckDBWarehouse) else dict(store.schemas)
        dialect = rt.settings.semantic_sql_dialect or store.dialect
        found = Target(org_id=org.id, store=store, dialect=dialect, schemas=schemas)
        rt.targets.put(org.id, found)
    if found.org_id != org.id:  # cannot happen: keyed by org id; a guard against regressions
        raise ConfigurationError("warehouse target mismatch")
    return found


async def run_sql(rt: SemanticRuntime, target: Target, sql: str, limit: int):
    from tenantry.warehouse import service as warehouse

    timeout = rt.settings.semantic_query_timeout_seconds
    return await warehouse.read(target.store, sql, limit=limit, timeout=timeout)


async def rollups_for(rt: SemanticRuntime, session: AsyncSession, org, model) -> dict[str, str]:
    """The organization's built pre-aggregations for its current model: path → table."""
    if not model.has_pre_aggregations:
        return {}
    found = rt.rollups.get(org.id)
    if found is None:
        from tenantry.semantic import preaggs
        from tenantry.semantic.preaggs.plan import definitions

        target = await target_for(rt, session, org)
        key = (org.id, model.version, target.dialect)
        expected = rt.definitions.get(key)
        if expected is None:
            defs = definitions(model, dialect=target.dialect, schemas=target.schemas)
            expected = {d.path: (d.signature, d.table) for d in defs}
            rt.definitions.put(key, expected)
        schema = (target.schemas or {}).get("marts", "marts")
        found = await preaggs.ready_tables(session, org.id, expected, schema)
        rt.rollups.put(org.id, found)
    return found


async def _refresh_value(rt, target: Target, compiled) -> str:
    """The refresh-key value the cached result must match: Cube's `every` buckets and the
    current answer of each `sql` key (re-checked at most every 10 s)."""
    parts = []
    keys = compiled.refresh_keys or []
    if not keys:
        parts.append(results.every_value(DEFAULT_REFRESH_EVERY))
    for key in keys:
        if key.sql:

            async def compute(sql=key.sql) -> str:
                found = await run_sql(rt, target, sql, 1)
                return json.dumps(found.rows[:1], default=str)

            check = key.every or SQL_REFRESH_CHECK
            parts.append(await rt.refresh_keys.value(f"{target.org_id}:{key.sql}", compute, check))
        else:
            parts.append(results.every_value(key.every or DEFAULT_REFRESH_EVERY))
    return "|".join(parts)


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return (
        dt.datetime.fromtimestamp(epoch, dt.UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _compiled_key(model, query, tenant: Tenant, target: Target, rollups) -> tuple | None:
    try:
        text = json.dumps([query, tenant.context.claims], sort_keys=True)
    except (TypeError, ValueError):
        return None
    # The second is part of the key: relative date ranges ("last 7 days") resolve against now.
    return (
        tenant.org_id,
        model.version,
        target.dialect,
        text,
        tuple(tenant.context.roles),
        tuple(sorted(rollups.items())),
        int(time.time()),
    )


def compile_one(
    model, query: dict, tenant: Tenant, target: Target, rollups: dict[str, str], rt=None
):
    """The compiled query — from the per-process cache when this tenant asked the same within
    the second (a dashboard's repeated and polling requests), else compiled now."""
    from tenantry.semantic import compiler

    key = _compiled_key(model, query, tenant, target, rollups) if rt and model.version else None
    found = rt.compiled.get(key) if key else None
    if found is None:
        found = compiler.compile_query(
            model,
            query,
            context=tenant.context,
            dialect=target.dialect,
            schemas=target.schemas,
            rollups=rollups,
        )
        if key:
            rt.compiled.put(key, found)
    return found


async def compile_all(rt: SemanticRuntime, session: AsyncSession, org, tenant: Tenant, query):
    """(queryType, compiled queries, target, rollups) of a Cube query for this tenant."""
    from tenantry.semantic import compiler

    model = await model_for(rt, session, tenant.org_id)
    query_type, queries = compiler.expand_query(query)
    target = await target_for(rt, session, org)
    rollups = await rollups_for(rt, session, org, model)
    compiled = [compile_one(model, q, tenant, target, rollups, rt) for q in queries]
    return query_type, compiled, target, rollups


async def execute(
    rt: SemanticRuntime,
    session: AsyncSession,
    org,
    tenant: Tenant,
    query: Any,
    *,
    mode: str = results.DEFAULT_MODE,
) -> tuple[str, list[dict] | None]:
    """(queryType, Cube results) — results None means "Continue wait"."""
    if mode not in results.MODES:
        raise BadRequest(f"cache: '{mode}' is not one of {', '.join(results.MODES)}")
    query_type, compiled, target, rollups = await compile_all(rt, session, org, tenant, query)
    outcomes = await asyncio.gather(*(_load_one(rt, target, c, mode, rollups) for c in compiled))
    if any(o.value is None for o in outcomes):
        return query_type, None
    out = []
    for o in outcomes:
        value = dict(o.value)
        value["lastRefreshTime"] = _iso(o.last_refresh_time)
        value["slowQuery"] = o.stale
        out.append(value)
    return query_type, out


async def _load_one(rt: SemanticRuntime, target: Target, compiled, mode: str, rollups=None):
    from tenantry.semantic import compiler

    limit = compiler.MAX_LIMIT

    async def compute() -> dict:
        began = time.perf_counter()
        found = await run_sql(rt, target, compiled.sql, limit)
        data = compiler.shape_rows(compiled, [c["name"] for c in found.columns], found.rows)
        body = response_body(compiled, data, target, rollups)
        if compiled.total_sql:
            total = await run_sql(rt, target, compiled.total_sql, 1)
            body["total"] = int(total.rows[0][0]) if total.rows else 0
        body["timings"] = {"query_ms": round((time.perf_counter() - began) * 1000, 1)}
        return body

    refresh_value = await _refresh_value(rt, target, compiled)
    key = results.cache_key(target.org_id, compiled.sql + "\n" + (compiled.total_sql or ""))
    try:
        return await results.load(
            cache=rt.cache,
            inflight=rt.inflight,
            key=key,
            refresh_value=refresh_value,
            compute=compute,
            mode=mode,
            continue_wait=rt.settings.semantic_continue_wait_seconds,
            ttl=rt.settings.semantic_cache_ttl_seconds,
        )
    except TenantryError:
        raise
    except Exception as exc:  # a warehouse error is the model's or the query's: say which
        raise BadRequest(f"The warehouse refused the query: {str(exc).splitlines()[0]}") from None


def response_body(compiled, data: list[dict], target: Target, rollups=None) -> dict[str, Any]:
    used = getattr(compiled, "used_pre_aggregation", None)
    table = (rollups or {}).get(used, used)
    return {
        "query": compiled.normalized,
        "data": data,
        "annotation": compiled.annotation,
        "dataSource": "default",
        "dbType": target.dialect,
        "extDbType": target.dialect,
        "external": False,
        "usedPreAggregations": {used: {"targetTableName": table}} if used else {},
        "transformedQuery": None,
    }
