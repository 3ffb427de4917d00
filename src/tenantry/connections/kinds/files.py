"""Uploaded files (CSV, JSON Lines, Parquet) in the organization's storage, read as tables."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from tenantry.connections.kinds.base import Kind, TestContext
from tenantry.connections.storage import inside
from tenantry.core.errors import ValidationFailed

READERS = {"csv": "read_csv_auto", "jsonl": "read_json_auto", "parquet": "read_parquet"}
BY_SUFFIX = {
    ".csv": "csv",
    ".tsv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
}


class FilesConfig(BaseModel):
    path: str = Field(
        min_length=1,
        max_length=500,
        description="A file or a pattern inside your files, e.g. uploads/orders-*.csv",
    )
    format: Literal["auto", "csv", "jsonl", "parquet"] = "auto"


def file_format(config: FilesConfig) -> str:
    if config.format != "auto":
        return config.format
    found = BY_SUFFIX.get(Path(config.path).suffix.lower())
    if found is None:
        raise ValidationFailed.field("format", "cannot be told from the file name; choose one")
    return found


def confined_duckdb(root: Path):
    """An in-memory DuckDB that may read files under ``root`` and nowhere else."""
    import duckdb

    conn = duckdb.connect(
        ":memory:",
        config={"autoload_known_extensions": False, "autoinstall_known_extensions": False},
    )
    conn.execute("SET allowed_directories = [?]", [str(root) + "/"])
    conn.execute("SET enable_external_access = false")
    conn.execute("SET lock_configuration = true")
    return conn


async def test(config: FilesConfig, ctx: TestContext) -> str:
    pattern = inside(ctx.files, config.path)
    matches = sorted(p for p in pattern.parent.glob(pattern.name) if p.is_file())
    if not matches:
        raise ValidationFailed.field("path", f"no file in your files matches '{config.path}'")
    reader = READERS[file_format(config)]

    def probe() -> str:
        import duckdb

        conn = confined_duckdb(ctx.files)
        try:
            # ``reader`` comes from READERS, never from the user; the path is a bound parameter.
            rel = conn.sql(f"SELECT * FROM {reader}(?)", params=[str(pattern)])  # noqa: S608
            count_sql = f"SELECT count(*) FROM {reader}(?)"  # noqa: S608
            (rows,) = conn.execute(count_sql, [str(pattern)]).fetchone()
            columns = ", ".join(rel.columns[:8]) + (" …" if len(rel.columns) > 8 else "")
        except duckdb.Error as exc:
            raise ValidationFailed.field("path", str(exc).splitlines()[0]) from None
        finally:
            conn.close()
        return f"{len(matches)} file(s), {rows} row(s); columns {columns}"

    return await asyncio.to_thread(probe)


KIND = Kind("files", "Uploaded files", "source", FilesConfig, test)
