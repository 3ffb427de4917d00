"""The prompt cache both clients keep: entries by (prompt, label, version), least recently used
dropped first, and what ``get`` answers when the server is down. Pure bookkeeping, no I/O: the
sync client refreshes in threads, the async one in tasks, both through these methods."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from tenantry.client._errors import (
    ConnectionFailed,
    NotFound,
    ServerError,
    TenantryClientError,
)
from tenantry.client._prompt import Prompt, fallback_prompt

log = logging.getLogger("tenantry.client")

DEFAULT_LABEL = "production"
CACHE_MAX_ENTRIES = 1024
OUTAGE = (ConnectionFailed, ServerError)  # what a fallback or a stale copy stands in for

Key = tuple[str, str | None, int | None]


def prompt_key(prompt_id: str, label: str | None, version: int | None) -> Key:
    """The cache key of a ``get``: a version, else the label (``production`` by default)."""
    if label is not None and version is not None:
        raise ValueError("give either a label or a version, not both")
    return (prompt_id, label or (None if version is not None else DEFAULT_LABEL), version)


@dataclass
class _Entry:
    prompt: Prompt
    fetched_at: float


class PromptCache:
    def __init__(self, max_entries: int = CACHE_MAX_ENTRIES):
        self.max_entries = max_entries
        self._entries: OrderedDict[Key, _Entry] = OrderedDict()
        self._lock = threading.Lock()  # never held across I/O or an await

    def _entry(self, key: Key) -> _Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def lookup(self, key: Key, ttl: float) -> tuple[Prompt | None, bool]:
        """``(prompt, stale)``: the cached copy to answer with at once (None: fetch it now) and
        whether it has expired (refresh it in the background). ttl <= 0 always fetches."""
        entry = self._entry(key)
        if entry is None or ttl <= 0:
            return None, False
        return entry.prompt, time.monotonic() - entry.fetched_at >= ttl

    def store(self, key: Key, prompt: Prompt) -> Prompt:
        with self._lock:
            self._entries[key] = _Entry(prompt, time.monotonic())
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return prompt

    def when_down(self, key: Key, exc: TenantryClientError, fallback: Any) -> Prompt:
        """What ``get`` answers when the server is unreachable or failing (``OUTAGE``): the cached
        copy (even expired, even with ttl 0), else the fallback, else an error saying so."""
        prompt_id = key[0]
        entry = self._entry(key)
        if entry is not None:
            log.warning("serving a stale copy of prompt %r: %s", prompt_id, exc.message)
            return entry.prompt
        if fallback is not None:
            log.warning("serving the fallback of prompt %r: %s", prompt_id, exc.message)
            return fallback_prompt(prompt_id, fallback, key[1])
        raise type(exc)(
            f"Could not fetch prompt '{prompt_id}' and nothing is cached: {exc.message} "
            "Pass fallback=… to get(), to keep working while the server is unreachable.",
            status=exc.status,
            detail=exc.detail,
            problem=exc.problem,
        ) from None

    def refresh_failed(self, key: Key, exc: BaseException) -> None:
        """A background refresh failed: a prompt that is gone is dropped, otherwise the cached
        copy stays. Logged, never raised (nobody is waiting for a background refresh)."""
        if isinstance(exc, NotFound):  # deleted, or the label was removed: stop serving it
            log.warning("prompt %r is gone (%s); dropped from the cache", key[0], exc.detail)
            with self._lock:
                self._entries.pop(key, None)
        elif isinstance(exc, TenantryClientError):
            log.warning("could not refresh prompt %r, serving the cached copy: %s", key[0], exc)
        else:
            log.error("refreshing prompt %r failed", key[0], exc_info=exc)

    def invalidate(self, prompt_id: str | None = None) -> None:
        with self._lock:
            for key in [k for k in self._entries if prompt_id is None or k[0] == prompt_id]:
                del self._entries[key]
