"""MySQL and MariaDB, as a source (or a destination through dlt's SQLAlchemy destination)."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, Field

from tenantry.connections.kinds.base import Kind, TestContext
from tenantry.connections.netguard import resolve_allowed
from tenantry.core.secrets import Secret


class MySQLConfig(BaseModel):
    host: str = Field(min_length=1, max_length=255)
    port: int = Field(default=3306, ge=1, le=65535)
    database: str = Field(min_length=1, max_length=64)
    user: str = Field(min_length=1, max_length=80)
    password: Secret | None = None


async def test(config: MySQLConfig, ctx: TestContext) -> str:
    import pymysql

    address = resolve_allowed(
        config.host, config.port, allowed=ctx.settings.allowed_private_networks
    )

    def probe() -> str:
        conn = pymysql.connect(
            host=address,
            port=config.port,
            user=config.user,
            password=config.password.get_secret_value() if config.password else "",
            database=config.database,
            connect_timeout=max(1, int(ctx.timeout)),
            read_timeout=max(1, int(ctx.timeout)),
        )
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT VERSION()")
                (version,) = cur.fetchone()
                cur.execute(
                    "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s",
                    (config.database,),
                )
                (tables,) = cur.fetchone()
        finally:
            conn.close()
        return f"MySQL/MariaDB {version}; {tables} table(s) in {config.database}"

    return await asyncio.to_thread(probe)


KIND = Kind("mysql", "MySQL / MariaDB", "both", MySQLConfig, test)
