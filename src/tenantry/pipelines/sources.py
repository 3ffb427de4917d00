"""Build the dlt source of a pipeline from its source connection and spec (dlt imported lazily).

Every network address is re-checked by the network guard at run time, and connections are
built as objects for this run only: nothing goes through process-wide configuration.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from tenantry.connections.kinds.duckdb import READ_CONFIG
from tenantry.connections.kinds.files import READERS, confined_duckdb, file_format
from tenantry.connections.kinds.rest_api import request_parts
from tenantry.connections.netguard import resolve_allowed
from tenantry.connections.storage import inside
from tenantry.core.errors import ValidationFailed
from tenantry.pipelines.schemas import PipelineSpec

SQL_KINDS = ("postgres", "mysql", "sqlite", "duckdb")


@dataclass(frozen=True)
class SourcePlan:
    kind: str
    config: BaseModel  # with secrets
    files_root: Path
    allowed_networks: str | None
    spec: PipelineSpec


def _secret(value) -> str | None:
    return value.get_secret_value() if value is not None else None


def sql_engine(plan: SourcePlan, on_sql: Callable[[str], None]):
    """A SQLAlchemy engine for the source; every statement it runs is reported to ``on_sql``."""
    import sqlalchemy as sa

    c: Any = plan.config
    allowed = plan.allowed_networks
    connect_args: dict[str, Any] = {}
    if plan.kind == "postgres":
        url = sa.URL.create(
            "postgresql+psycopg2",
            username=c.user,
            password=_secret(c.password),
            host=resolve_allowed(c.host, c.port, allowed=allowed, field="config.host"),
            port=c.port,
            database=c.database,
            query={"sslmode": c.sslmode, "connect_timeout": "15"},
        )
    elif plan.kind == "mysql":
        url = sa.URL.create(
            "mysql+pymysql",
            username=c.user,
            password=_secret(c.password),
            host=resolve_allowed(c.host, c.port, allowed=allowed, field="config.host"),
            port=c.port,
            database=c.database,
            query={"connect_timeout": "15"},
        )
    elif plan.kind == "sqlite":
        path = inside(plan.files_root, c.path, field="config.path")
        url = sa.URL.create("sqlite", database=f"file:{path}?mode=ro", query={"uri": "true"})
    else:
        path = inside(plan.files_root, c.path, field="config.path")
        url = sa.URL.create("duckdb", database=str(path))
        connect_args = {"read_only": True, "config": dict(READ_CONFIG)}
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args=connect_args)

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _report(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001
        on_sql(" ".join(str(statement).split()))

    return engine


# Row-filter operators as SQLAlchemy clauses: values become bound parameters, never SQL text.
OPERATORS = {
    "eq": lambda c, v: c == v,
    "ne": lambda c, v: c != v,
    "gt": lambda c, v: c > v,
    "gte": lambda c, v: c >= v,
    "lt": lambda c, v: c < v,
    "lte": lambda c, v: c <= v,
    "in": lambda c, v: c.in_(v),
    "not_in": lambda c, v: c.not_in(v),
}


def _where(table, filters):
    import sqlalchemy as sa

    clauses = []
    for f in filters:
        if f.column not in table.c:
            raise ValidationFailed.field(
                "spec.filters", f"the source table has no column '{f.column}'"
            )
        clauses.append(OPERATORS[f.operator](table.c[f.column], f.value))
    return sa.and_(*clauses)


def _sql_source(plan: SourcePlan, on_sql: Callable[[str], None]) -> list:
    import dlt
    from dlt.sources.sql_database import sql_database, sql_table

    spec = plan.spec
    engine = sql_engine(plan, on_sql)
    schema = getattr(plan.config, "schema_name", None)
    schema = None if plan.kind in ("sqlite", "duckdb") else schema
    if spec.mode == "table":
        incremental = None
        if spec.incremental:
            incremental = dlt.sources.incremental(
                spec.incremental.cursor_column, initial_value=spec.incremental.initial_value
            )
        filters = spec.filters

        def adapt(query, table):
            return query.where(_where(table, filters)) if filters else query

        resource = sql_table(
            credentials=engine,
            table=spec.table,
            schema=schema,
            chunk_size=spec.batch_size,
            backend="pyarrow",
            incremental=incremental,
            query_adapter_callback=adapt,
            reflection_level="full_with_precision",
        )
        return [resource]
    source = sql_database(
        credentials=engine,
        schema=schema,
        table_names=spec.tables or None,
        chunk_size=spec.batch_size,
        backend="pyarrow",
        reflection_level="full_with_precision",
    )
    return list(source.resources.values())


def _files_source(plan: SourcePlan) -> list:
    import dlt
    from dlt.sources.filesystem import filesystem

    root = plan.files_root.resolve()
    pattern = inside(root, plan.config.path, field="config.path")
    reader = READERS[file_format(plan.config)]
    batch = plan.spec.batch_size

    @dlt.transformer(name="read_files")
    def read_files(items):
        conn = confined_duckdb(root)
        try:
            for item in items:
                # Only files the listing found under the organization's root are opened.
                path = inside(root, item["relative_path"], field="config.path")
                sql = f"SELECT * FROM {reader}(?)"  # noqa: S608 - reader is one of ours
                yield from conn.execute(sql, [str(path)]).to_arrow_reader(batch)
        finally:
            conn.close()

    glob = str(pattern.relative_to(root))
    listing = filesystem(bucket_url=root.as_uri(), file_glob=glob)
    name = plan.spec.table_name or Path(plan.config.path).stem.split("*")[0].strip("-_.")
    resource = (listing | read_files()).with_name(_table_name(name or "files"))
    return [resource]


def _table_name(raw: str) -> str:
    import re

    cleaned = re.sub(r"[^a-z0-9_]+", "_", raw.lower()).strip("_") or "data"
    return cleaned if not cleaned[0].isdigit() else f"t_{cleaned}"


def _rest_source(plan: SourcePlan) -> list:
    from urllib.parse import urlsplit

    from dlt.sources.rest_api import rest_api_resources

    c: Any = plan.config
    parts = urlsplit(c.base_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    resolve_allowed(parts.hostname, port, allowed=plan.allowed_networks, field="config.base_url")
    headers, params, _ = request_parts(c)
    client: dict[str, Any] = {"base_url": c.base_url, "headers": headers}
    if c.auth == "api_key":
        # Given to dlt as an auth, applied to every request, not as an endpoint parameter:
        # paginators that follow a next URL (json_link, link_header) drop the endpoint's
        # parameters, so a key in the query string was missing from page 2 on (HTTP 401).
        headers.pop(c.api_key_name, None)
        params.pop(c.api_key_name, None)
        client["auth"] = {
            "type": "api_key",
            "name": c.api_key_name,
            "api_key": _secret(c.api_key),
            "location": c.api_key_location,
        }
    if c.auth == "basic":
        client["auth"] = {
            "type": "http_basic",
            "username": c.username,
            "password": _secret(c.password),
        }
    if c.paginator != "auto":
        client["paginator"] = {"type": "single_page" if c.paginator == "none" else c.paginator}
    defaults: dict[str, Any] = {"endpoint": {"params": params}} if params else {}
    resources = []
    for path in c.resource_paths():
        endpoint: dict[str, Any] = {"path": path}
        if c.data_selector:
            endpoint["data_selector"] = c.data_selector
        resources.append({"name": _table_name(path.replace("/", "_")), "endpoint": endpoint})
    config = {"client": client, "resource_defaults": defaults, "resources": resources}
    return list(rest_api_resources(config))


def build_resources(plan: SourcePlan, on_sql: Callable[[str], None]) -> list:
    """The dlt resources to extract, named as their tables will be (before any prefix)."""
    if plan.kind in SQL_KINDS:
        resources = _sql_source(plan, on_sql)
    elif plan.kind == "files":
        resources = _files_source(plan)
    elif plan.kind == "rest_api":
        resources = _rest_source(plan)
    else:
        raise ValidationFailed.field("source_id", f"a {plan.kind} connection cannot be a source")
    spec = plan.spec
    for resource in resources:
        hints: dict[str, Any] = {}
        name = spec.table_name if spec.mode == "table" and spec.table_name else resource.name
        if spec.table_prefix or name != resource.name:
            hints["table_name"] = spec.table_prefix + name
        if spec.primary_key:
            hints["primary_key"] = spec.primary_key
        if hints:
            resource.apply_hints(**hints)
    return resources
