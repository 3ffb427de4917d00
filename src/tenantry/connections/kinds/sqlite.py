"""A SQLite file in the organization's own storage."""

from __future__ import annotations

import asyncio
import sqlite3

from pydantic import BaseModel, Field

from tenantry.connections.kinds.base import Kind, TestContext
from tenantry.connections.storage import inside
from tenantry.core.errors import ValidationFailed


class SQLiteConfig(BaseModel):
    path: str = Field(
        min_length=1, max_length=500, description="Path inside your organization's files"
    )


async def test(config: SQLiteConfig, ctx: TestContext) -> str:
    path = inside(ctx.files, config.path)
    if not path.is_file():
        raise ValidationFailed.field("path", f"there is no file '{config.path}' in your files")

    def probe() -> str:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=ctx.timeout)
        try:
            (tables,) = conn.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
            ).fetchone()
        except sqlite3.DatabaseError:
            raise ValidationFailed.field(
                "path", f"'{config.path}' is not a SQLite database"
            ) from None
        finally:
            conn.close()
        return f"SQLite file; {tables} table(s)"

    return await asyncio.to_thread(probe)


KIND = Kind("sqlite", "SQLite file", "both", SQLiteConfig, test)
