"""A DuckDB file in the organization's own storage."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, Field

from tenantry.connections.kinds.base import Kind, TestContext
from tenantry.connections.storage import inside
from tenantry.core.errors import ValidationFailed

# Reads (warehouse queries, DuckDB sources) may not touch files, extensions or settings,
# whatever SQL they run.
READ_CONFIG = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "lock_configuration": True,
}


class DuckDBConfig(BaseModel):
    path: str = Field(
        min_length=1, max_length=500, description="Path inside your organization's files"
    )


async def test(config: DuckDBConfig, ctx: TestContext) -> str:
    path = inside(ctx.files, config.path)
    if not path.is_file():
        raise ValidationFailed.field("path", f"there is no file '{config.path}' in your files")

    def probe() -> str:
        import duckdb

        try:
            conn = duckdb.connect(str(path), read_only=True, config=READ_CONFIG)
        except duckdb.Error:
            raise ValidationFailed.field(
                "path", f"'{config.path}' is not a DuckDB database"
            ) from None
        try:
            (tables,) = conn.execute("SELECT count(*) FROM duckdb_tables()").fetchone()
        finally:
            conn.close()
        return f"DuckDB file; {tables} table(s)"

    return await asyncio.to_thread(probe)


KIND = Kind("duckdb", "DuckDB file", "both", DuckDBConfig, test)
