"""Uploaded files in an organization's own storage: size-limited, written atomically."""

from __future__ import annotations

import asyncio
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tenantry.connections.storage import inside
from tenantry.core.errors import NotFound, TenantryError, ValidationFailed

UPLOADS = "uploads"
SUFFIXES = {
    ".csv",
    ".tsv",
    ".jsonl",
    ".ndjson",
    ".json",
    ".parquet",
    ".db",
    ".sqlite",
    ".sqlite3",
    ".duckdb",
}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,199}$")
CHUNK = 1024 * 1024


class TooLarge(TenantryError):
    status, title, code = 413, "Too large", "too-large"


def safe_name(filename: str | None) -> str:
    name = Path(filename or "").name  # a browser may send a path; keep the last part only
    if not _NAME.match(name) or Path(name).suffix.lower() not in SUFFIXES:
        raise ValidationFailed.field(
            "file",
            "needs a plain file name ending in "
            + ", ".join(sorted(SUFFIXES))
            + " (letters, digits, dots, dashes, underscores and spaces)",
        )
    return name


def describe(root: Path, path: Path) -> dict[str, Any]:
    stat = path.stat()
    return {
        "name": str(path.relative_to(root)),
        "size": stat.st_size,
        "modified_at": datetime.fromtimestamp(stat.st_mtime, UTC),
    }


async def save(root: Path, filename: str | None, source, *, max_bytes: int) -> dict[str, Any]:
    """Stream ``source`` (an UploadFile) into uploads/; nothing is left behind on failure."""
    name = safe_name(filename)
    target = inside(root, f"{UPLOADS}/{name}", field="file")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{name}.{os.getpid()}.part")
    written = 0
    # Disk writes go to a worker thread: a large upload must not stall other requests.
    out = await asyncio.to_thread(open, tmp, "wb")
    try:
        while chunk := await source.read(CHUNK):
            written += len(chunk)
            if written > max_bytes:
                raise TooLarge(
                    f"The file is larger than the {max_bytes // (1024 * 1024)} MiB limit "
                    "(TENANTRY_UPLOAD_MAX_BYTES); split it or ask the operator to raise it.",
                    errors=[{"field": "file", "message": "is too large"}],
                )
            await asyncio.to_thread(out.write, chunk)
        await asyncio.to_thread(out.close)
        os.replace(tmp, target)  # atomic: readers see the old file or the new one
    finally:
        out.close()
        tmp.unlink(missing_ok=True)
    return describe(root, target)


def list_files(root: Path) -> list[dict[str, Any]]:
    found = [
        describe(root, p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    ]
    return found


def delete(root: Path, name: str) -> None:
    path = inside(root, name, field="name")
    if not path.is_file():
        raise NotFound(f"There is no file '{name}' in this organization's files.")
    path.unlink()
