"""Per-organization warehouse locks: many readers or one writer, across threads and processes.

A DuckDB file admits one writing process at a time, and within one process it cannot be open
read-only and read-write at once. ``flock`` on a lock file next to the warehouse serializes
that for every thread and every process (server, workers) alike, on any local filesystem.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tenantry.core.errors import Unavailable


@contextmanager
def warehouse_lock(lock_path: Path, *, exclusive: bool, timeout: float) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
    deadline = time.monotonic() + timeout
    delay = 0.005
    try:
        while True:
            try:
                fcntl.flock(fd, mode)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    what = "written to" if exclusive else "read"
                    raise Unavailable(
                        f"The warehouse is busy and could not be {what} within {timeout:.0f} s; "
                        "try again when the running load has finished."
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.1)
        yield
    finally:
        os.close(fd)  # closing releases the lock
