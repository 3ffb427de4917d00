"""PostgreSQL warehouses: a schema set and a login role per organization.

The platform (connected with the operator's admin URL) creates for each organization a role
that owns its three schemas and nothing else; tenant work connects *as that role*. Other
organizations' schemas are owned by other roles and grant nothing, so even arbitrary SQL
cannot cross tenants — the database enforces it, not only Tenantry's code.
"""

from __future__ import annotations

import re
import secrets
from typing import Any
from urllib.parse import unquote, urlsplit

from tenantry.core.errors import ConfigurationError, ValidationFailed
from tenantry.warehouse.duckdb_store import SCHEMAS, QueryResult, jsonable

_SAFE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _ident(name: str) -> str:
    if not _SAFE_NAME.match(name):  # every name here is built by us; refuse anything else
        raise ValueError(f"unsafe identifier {name!r}")
    return f'"{name}"'


def connect_args(url: str) -> dict[str, Any]:
    parts = urlsplit(url.replace("postgresql+asyncpg://", "postgresql://"))
    if parts.scheme not in ("postgresql", "postgres"):
        raise ConfigurationError(
            "TENANTRY_WAREHOUSE_POSTGRES_URL must look like postgresql://user:pass@host/db"
        )
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 5432,
        "user": unquote(parts.username or "postgres"),
        "password": unquote(parts.password) if parts.password else None,
        "database": (parts.path or "/").lstrip("/") or "postgres",
    }


async def provision(admin_url: str, *, org_id: str, slug: str) -> dict[str, Any]:
    """Create (or re-key) the organization's role and schemas; returns the warehouse config."""
    import asyncpg

    role = f"tny_{org_id}"
    password = secrets.token_urlsafe(32)  # url-safe alphabet: nothing to escape below
    conn = await asyncpg.connect(**connect_args(admin_url), timeout=15)
    try:
        async with conn.transaction():
            # One provisioning at a time in this warehouse database, whichever process runs it:
            # two organizations' GRANT/REVOKE on the same database and functions would
            # otherwise collide ("tuple concurrently updated").
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('tenantry.provision'))")
            exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
            verb = "ALTER" if exists else "CREATE"
            await conn.execute(
                f"{verb} ROLE {_ident(role)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                f"NOINHERIT NOREPLICATION PASSWORD '{password}'"
            )
            database = await conn.fetchval("SELECT current_database()")
            await conn.execute(f'GRANT CONNECT ON DATABASE "{database}" TO {_ident(role)}')
            # Needed to create schemas owned by the role when the admin is not a superuser.
            await conn.execute(f"GRANT {_ident(role)} TO CURRENT_USER")
            await _restrict_public(conn)
            schemas = {}
            prefix = slug.replace("-", "_")
            for kind in SCHEMAS:
                name = f"{prefix}_{kind}"
                owner = await conn.fetchval(
                    "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = $1", name
                )
                if owner is not None and owner.strip('"') != role:
                    name = f"{prefix}_{org_id[:8]}_{kind}"  # the slug's schemas belong to another
                # dlt stages merge loads in "<dataset>_staging": the role cannot create
                # schemas in the database, so it gets that one up front too.
                for schema in (name, f"{name}_staging"):
                    await conn.execute(
                        f"CREATE SCHEMA IF NOT EXISTS {_ident(schema)} AUTHORIZATION {_ident(role)}"
                    )
                schemas[kind] = name
    finally:
        await conn.close()
    return {"role": role, "password": password, "schemas": schemas}


# Functions every role may call by default that let one tenant disturb others (signal their
# listeners, hold locks they wait on). Revoked in the warehouse database when the admin may.
_PUBLIC_FUNCTIONS_TO_REVOKE = (
    "pg_notify(text, text)",
    "pg_advisory_lock(bigint)",
    "pg_advisory_xact_lock(bigint)",
    "pg_try_advisory_lock(bigint)",
    "pg_try_advisory_xact_lock(bigint)",
    "pg_advisory_lock_shared(bigint)",
    "pg_try_advisory_lock_shared(bigint)",
)


async def _restrict_public(conn) -> None:
    import asyncpg

    for fn in _PUBLIC_FUNCTIONS_TO_REVOKE:
        try:
            async with conn.transaction():  # a savepoint: a refusal leaves the rest intact
                await conn.execute(f"REVOKE EXECUTE ON FUNCTION pg_catalog.{fn} FROM PUBLIC")
        except asyncpg.InsufficientPrivilegeError:
            return  # not a superuser: the guard still refuses these functions


class PostgresWarehouse:
    dialect = "postgres"

    def __init__(self, admin_url: str, config: dict[str, Any]):
        self.admin_url = admin_url
        self.role = config["role"]
        self.password = config["password"]
        self.schemas: dict[str, str] = config["schemas"]

    async def connect(self, *, read_only: bool, timeout: float):
        """A connection as the organization's role, its schemas first on the search path."""
        import asyncpg

        args = connect_args(self.admin_url) | {"user": self.role, "password": self.password}
        settings = {
            # The catalog last, so unqualified names find the organization's tables first.
            "search_path": ",".join([*(self.schemas[k] for k in SCHEMAS), "pg_catalog"]),
            "statement_timeout": str(int(timeout * 1000)),
            "default_transaction_read_only": "on" if read_only else "off",
            "application_name": "tenantry",
            "timezone": "UTC",  # times compare and convert the same whatever the server's zone
        }
        return await asyncpg.connect(**args, server_settings=settings, timeout=15)

    async def query(self, sql: str, *, limit: int, timeout: float) -> QueryResult:
        import asyncpg

        conn = await self.connect(read_only=True, timeout=timeout)
        try:
            async with conn.transaction(readonly=True):
                stmt = await conn.prepare(sql)
                attrs = stmt.get_attributes()
                cursor = await stmt.cursor()
                rows = await cursor.fetch(limit + 1)  # never more, whatever the SQL says
        except asyncpg.QueryCanceledError:
            raise ValidationFailed.field(
                "sql", f"took longer than {timeout:.0f} s and was stopped; narrow it down"
            ) from None
        except asyncpg.PostgresError as exc:
            raise ValidationFailed.field("sql", exc.message) from None
        finally:
            await conn.close()
        columns = [{"name": a.name, "type": a.type.name} for a in attrs]
        return QueryResult(
            columns, [jsonable(list(r.values())) for r in rows[:limit]], len(rows) > limit
        )

    async def ensure_schemas(self) -> None:
        """In an organization's own database: create its schemas if its user may."""
        import asyncpg

        conn = await self.connect(read_only=False, timeout=30)
        try:
            for name in self.schemas.values():
                try:
                    await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {_ident(name)}")
                except asyncpg.InsufficientPrivilegeError:
                    return  # loads create it, or its owner did
        finally:
            await conn.close()

    async def tables(self) -> list[dict[str, Any]]:
        conn = await self.connect(read_only=True, timeout=30)
        try:
            rows = await conn.fetch(
                "SELECT table_schema, table_name, column_name, data_type "
                "FROM information_schema.columns WHERE table_schema = ANY($1::text[]) "
                "ORDER BY table_schema, table_name, ordinal_position",
                list(self.schemas.values()),
            )
        finally:
            await conn.close()
        found: dict[tuple[str, str], list[dict[str, str]]] = {}
        for r in rows:
            key = (r["table_schema"], r["table_name"])
            found.setdefault(key, []).append({"name": r["column_name"], "type": r["data_type"]})
        return [{"schema": s, "name": t, "columns": c} for (s, t), c in found.items()]
