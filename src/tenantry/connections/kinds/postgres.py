"""PostgreSQL, as a source or a destination."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from tenantry.connections.kinds.base import Kind, TestContext
from tenantry.connections.netguard import resolve_allowed
from tenantry.core.secrets import Secret


class PostgresConfig(BaseModel):
    host: str = Field(min_length=1, max_length=255)
    port: int = Field(default=5432, ge=1, le=65535)
    database: str = Field(min_length=1, max_length=63)
    user: str = Field(min_length=1, max_length=63)
    password: Secret | None = None
    schema_name: str = Field(
        default="public", max_length=63, title="Schema", description="The schema to read"
    )
    sslmode: Literal["disable", "prefer", "require"] = Field(default="prefer", title="TLS")


async def test(config: PostgresConfig, ctx: TestContext) -> str:
    import asyncpg

    address = resolve_allowed(
        config.host, config.port, allowed=ctx.settings.allowed_private_networks
    )
    ssl = {"disable": False, "prefer": "prefer", "require": "require"}[config.sslmode]
    conn = await asyncpg.connect(
        host=address,
        port=config.port,
        user=config.user,
        password=config.password.get_secret_value() if config.password else None,
        database=config.database,
        timeout=ctx.timeout,
        ssl=ssl,
    )
    try:
        version = await conn.fetchval("SHOW server_version")
        tables = await conn.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1",
            config.schema_name,
        )
    finally:
        await conn.close()
    return f"PostgreSQL {version}; {tables} table(s) in schema {config.schema_name}"


KIND = Kind("postgres", "PostgreSQL", "both", PostgresConfig, test)
