"""What a running job sees of its run: a log, a cancel flag, a place to record progress.

Jobs run synchronously in a worker thread; the async side drains the log into the store,
beats the heartbeat and turns a cancel request into ``cancel_event`` — so a job never touches
the metadata store itself and one code path serves the inline and the Celery executor.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tenantry.core.db import utcnow
from tenantry.core.errors import TenantryError
from tenantry.core.secrets import MASK


class RunCancelled(TenantryError):
    status, title, code = 409, "Cancelled", "cancelled"


@dataclass
class LogLine:
    at: datetime
    level: str
    message: str


class RunControl:
    def __init__(self, *, secrets: Iterable[str] = (), previous: dict[str, Any] | None = None):
        self.cancel_event = threading.Event()
        self.lines: queue.SimpleQueue[LogLine] = queue.SimpleQueue()
        self.details: dict[str, Any] = {}
        self.details_changed = threading.Event()
        # What earlier attempts of the same request recorded (e.g. the packages they loaded).
        self.previous = previous or {}
        self._secrets: list[str] = []  # longest first: a secret containing another is masked whole
        self.add_secrets(secrets)

    def add_secrets(self, secrets: Iterable[str]) -> None:
        found = set(self._secrets) | {s for s in secrets if s and len(s) >= 3}
        self._secrets = sorted(found, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    def log(self, message: str, level: str = "info") -> None:
        self.lines.put(LogLine(utcnow(), level, self.redact(message)[:4000]))

    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def check_cancel(self) -> None:
        if self.cancel_event.is_set():
            raise RunCancelled("Cancelled on request; nothing from this run was loaded.")

    def record(self, **details: Any) -> None:
        """Progress the store must know promptly (persisted before the job goes on)."""
        self.details.update(details)
        self.details_changed.set()

    def drain(self) -> list[LogLine]:
        out = []
        while True:
            try:
                out.append(self.lines.get_nowait())
            except queue.Empty:
                return out


@dataclass
class Job:
    """A run's work, prepared by its target's handler from the store."""

    execute: Callable[[RunControl], dict[str, Any]]  # returns {"tables": {name: {rows, bytes}}}
    secrets: list[str] = field(default_factory=list)
