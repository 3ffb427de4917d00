"""Run one dbt command for an organization, in a subprocess.

- dbt's runner is not thread-safe and keeps process-global state, so every command is its own
  process: two organizations' runs cannot see each other's configuration.
- The environment is built from nothing: no server secret exists for ``env_var()`` to read,
  and ``DO_NOT_TRACK`` keeps dbt off the network.
- The profile (with the organization's credentials) is written mode 0600 into a private
  directory that is removed when the command ends.
- One dbt command per organization at a time (its project and ``target/`` are shared), and
  on a DuckDB warehouse the writer lock is held, as for a load.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tenantry.orchestration.control import RunCancelled, RunControl
from tenantry.transforms import project
from tenantry.transforms.results import NodeResult, parse_freshness, parse_run_results
from tenantry.warehouse.locks import warehouse_lock

_TIME_PREFIX = re.compile(r"^\d\d:\d\d:\d\d\s+")
_TIME_ONLY = re.compile(r"^\d\d:\d\d:\d\d\s*$")
STOP_GRACE_SECONDS = 10.0


@dataclass(frozen=True)
class WarehouseTarget:
    kind: str  # duckdb | postgres
    datasets: dict[str, str]  # raw/staging/marts → physical schema
    path: Path | None = None
    lock_path: Path | None = None
    credentials: dict[str, Any] | None = None


@dataclass(frozen=True)
class DbtPlan:
    org_id: str
    root: Path  # the organization's dbt directory: project/ and its lock
    files: dict[str, str]
    warehouse: WarehouseTarget
    threads: int = 4
    lock_timeout: float = 600.0

    @property
    def project_dir(self) -> Path:
        return self.root / "project"


@dataclass
class DbtOutcome:
    returncode: int
    results: list[NodeResult] = field(default_factory=list)
    freshness: list[NodeResult] = field(default_factory=list)
    output: list[str] = field(default_factory=list)
    target_dir: Path | None = None


def profile(warehouse: WarehouseTarget, threads: int) -> dict[str, Any]:
    if warehouse.kind == "duckdb":
        output: dict[str, Any] = {
            "type": "duckdb",
            "path": str(warehouse.path),
            "schema": warehouse.datasets["staging"],
        }
    else:
        c = warehouse.credentials or {}
        output = {
            "type": "postgres",
            "host": c["host"],
            "port": int(c["port"]),
            "user": c["username"],
            "password": c["password"],
            "dbname": c["database"],
            "schema": warehouse.datasets["staging"],
            "connect_timeout": 10,
        }
    output["threads"] = threads
    return {project.PROFILE_NAME: {"target": "warehouse", "outputs": {"warehouse": output}}}


def environment(home: Path) -> dict[str, str]:
    """Only what dbt needs to start; nothing inherited from the server."""
    bin_dir = str(Path(sys.executable).parent)
    return {
        "PATH": os.pathsep.join([bin_dir, "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TZ": "UTC",
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "PYTHONUNBUFFERED": "1",
    }


def dbt_executable() -> str:
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


@contextmanager
def _private_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="tenantry-dbt-"))  # mode 0700
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def _locks(plan: DbtPlan) -> Iterator[None]:
    with warehouse_lock(plan.root / "dbt.lock", exclusive=True, timeout=plan.lock_timeout):
        if plan.warehouse.kind == "duckdb" and plan.warehouse.lock_path:
            with warehouse_lock(
                plan.warehouse.lock_path, exclusive=True, timeout=plan.lock_timeout
            ):
                yield
        else:
            yield


def _stop(proc: subprocess.Popen) -> None:
    # SIGINT first: dbt cancels its open queries on KeyboardInterrupt.
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _pump_output(proc: subprocess.Popen, sink: list[str], ctl: RunControl | None) -> None:
    assert proc.stdout is not None
    for raw in proc.stdout:
        line = _TIME_PREFIX.sub("", raw.rstrip())
        if _TIME_ONLY.match(line):
            continue
        sink.append(line)
        if ctl is not None and line.strip():
            level = "error" if ("ERROR" in line or "Error" in line[:40]) else "info"
            ctl.log(line, level)


def run_dbt(plan: DbtPlan, args: list[str], ctl: RunControl | None = None) -> DbtOutcome:
    """``dbt <args>`` on the organization's project, as the organization."""
    plan.root.mkdir(parents=True, exist_ok=True)
    with _locks(plan), _private_dir() as private:
        project.write(plan.project_dir, plan.files)
        profiles = private / "profiles.yml"
        fd = os.open(profiles, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(profile(plan.warehouse, plan.threads), fh)
        target = plan.project_dir / "target"
        for stale in ("run_results.json", "sources.json"):
            (target / stale).unlink(missing_ok=True)
        cmd = [
            dbt_executable(),
            "--no-use-colors",
            "--log-level-file",
            "none",
            *args,
            "--project-dir",
            str(plan.project_dir),
            "--profiles-dir",
            str(private),
        ]
        output: list[str] = []
        proc = subprocess.Popen(  # noqa: S603 - a fixed executable, arguments as a list
            cmd,
            cwd=plan.project_dir,
            env=environment(private),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            start_new_session=True,  # its own process group: a stop reaches its children
        )
        reader = threading.Thread(target=_pump_output, args=(proc, output, ctl), daemon=True)
        reader.start()
        while True:
            try:
                proc.wait(timeout=0.1)  # returns the moment dbt exits
                break
            except subprocess.TimeoutExpired:
                pass
            if ctl is not None and ctl.cancelled():
                _stop(proc)
                reader.join(5)
                raise RunCancelled("Cancelled on request; dbt was stopped.")
        reader.join(5)
        outcome = DbtOutcome(proc.returncode, output=output, target_dir=target)
        outcome.results = parse_run_results(target / "run_results.json")
        outcome.freshness = parse_freshness(target / "sources.json")
        return outcome
