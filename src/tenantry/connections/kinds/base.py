"""What every connection kind provides: a config schema (secrets marked), a direction, a test."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from tenantry.core.config import Settings


@dataclass(frozen=True)
class TestContext:
    settings: Settings
    files: Path  # the organization's own file storage
    timeout: float


@dataclass(frozen=True)
class Kind:
    name: str
    title: str
    direction: str  # source | destination | both
    config: type[BaseModel]
    # Really connects; returns what it found ("PostgreSQL 15.4, 12 tables") or raises.
    test: Callable[[BaseModel, TestContext], Awaitable[str]]
    description: str = ""
    reachable: bool = True  # False: wired for use, but this server cannot reach it to test
