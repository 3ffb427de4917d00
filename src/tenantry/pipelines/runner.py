"""Execute one pipeline run with dlt: extract → normalize → load, cancellable between batches.

Runs in a worker thread (inline) or a worker process (Celery) with the same code. Every run of
a pipeline has the pipeline's working directory to itself (a file lock), under the
organization's own pipelines dir; DuckDB writes hold the warehouse writer lock only to load.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tenantry.core.errors import TenantryError, ValidationFailed
from tenantry.orchestration.control import RunControl
from tenantry.pipelines.destinations import DestinationPlan, build_destination
from tenantry.pipelines.errors import translate
from tenantry.pipelines.sources import SourcePlan, build_resources
from tenantry.warehouse.locks import warehouse_lock

# dlt reads this once; it is the same for every organization (no tenant value in it).
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

CONTRACTS = {
    # New tables are always accepted (a first load must create them); the contract governs
    # how an existing table may change.
    "evolve": "evolve",
    "freeze": {"tables": "evolve", "columns": "freeze", "data_type": "freeze"},
    "discard_row": {"tables": "evolve", "columns": "discard_row", "data_type": "discard_row"},
    "discard_value": {
        "tables": "evolve",
        "columns": "discard_value",
        "data_type": "discard_value",
    },
}
LOCK_WAIT_SECONDS = 6 * 3600


@dataclass(frozen=True)
class LoadPlan:
    org_id: str
    pipeline_id: str
    dlt_name: str
    pipelines_dir: Path
    source: SourcePlan
    destination: DestinationPlan


@contextmanager
def _pipeline_lock(plan: LoadPlan, ctl: RunControl) -> Iterator[None]:
    path = plan.pipelines_dir / f"{plan.dlt_name}.lock"
    lock = warehouse_lock(path, exclusive=True, timeout=0.05)
    try:
        lock.__enter__()
    except TenantryError:
        ctl.log("Waiting for the previous run of this pipeline to finish …")
        lock = warehouse_lock(path, exclusive=True, timeout=LOCK_WAIT_SECONDS)
        lock.__enter__()
    try:
        yield
    finally:
        lock.__exit__(None, None, None)


def _writer(plan: LoadPlan):
    lock = plan.destination.lock_path
    return (
        warehouse_lock(lock, exclusive=True, timeout=LOCK_WAIT_SECONDS) if lock else nullcontext()
    )


class _Progress:
    """Counts rows as batches pass, logs every few seconds, stops between batches on cancel."""

    def __init__(self, ctl: RunControl):
        self.ctl, self.rows, self.last = ctl, {}, time.monotonic()

    def __call__(self, name: str):
        def step(item: Any) -> Any:
            self.ctl.check_cancel()
            n = getattr(item, "num_rows", None)
            n = n if n is not None else (len(item) if isinstance(item, list) else 1)
            self.rows[name] = self.rows.get(name, 0) + n
            if time.monotonic() - self.last >= 2:
                self.last = time.monotonic()
                read = ", ".join(f"{t}: {c:,}" for t, c in self.rows.items())
                self.ctl.log(f"Read so far — {read} rows")
            return item

        return step


def _stats(normalized, info) -> dict[str, dict[str, int]]:
    tables: dict[str, dict[str, int]] = {}
    for name, rows in (normalized.row_counts if normalized else {}).items():
        if not name.startswith("_dlt"):
            tables.setdefault(name, {"rows": 0, "bytes": 0})["rows"] += rows
    for package in info.load_packages if info else []:
        for job in package.jobs.get("completed_jobs", []):
            name = job.job_file_info.table_name
            if not name.startswith("_dlt"):
                tables.setdefault(name, {"rows": 0, "bytes": 0})["bytes"] += job.file_size
    return tables


def _check_merge_keys(pipeline, plan: LoadPlan) -> None:
    spec = plan.source.spec
    if spec.write_disposition != "merge":
        return
    missing = []
    for table in pipeline.default_schema.data_tables():
        if table.get("parent"):
            continue
        if not any(c.get("primary_key") for c in table.get("columns", {}).values()):
            missing.append(table["name"])
    if missing:
        raise ValidationFailed.field(
            "spec.primary_key",
            f"merge needs a primary key, and {', '.join(sorted(missing))} has none in the "
            "source; name the key column(s) or choose append or replace",
        )


class _DltWarnings(logging.Handler):
    """dlt's warnings (e.g. a column type it cannot map) belong in the run's own log. Only
    records from this run's thread: runs of other organizations share the ``dlt`` logger."""

    def __init__(self, ctl: RunControl):
        super().__init__(logging.WARNING)
        self.ctl, self.thread = ctl, threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.ctl.log(f"dlt: {record.getMessage()}", "warning")


@contextmanager
def _capture_dlt_warnings(ctl: RunControl) -> Iterator[None]:
    handler = _DltWarnings(ctl)
    logger = logging.getLogger("dlt")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def run_load(plan: LoadPlan, ctl: RunControl) -> dict[str, Any]:
    with _capture_dlt_warnings(ctl):
        return _run_load(plan, ctl)


def _run_load(plan: LoadPlan, ctl: RunControl) -> dict[str, Any]:
    import dlt

    plan.pipelines_dir.mkdir(parents=True, exist_ok=True)
    spec = plan.source.spec
    with _pipeline_lock(plan, ctl):
        pipeline = dlt.pipeline(
            pipeline_name=plan.dlt_name,
            pipelines_dir=str(plan.pipelines_dir),
            destination=build_destination(plan.destination),
            dataset_name=plan.destination.dataset,
        )
        # No runtime trace: dlt pickles it into the working directory (trace.pickle) with every
        # failed step's exception message, and those can hold a secret — e.g. an HTTP error's
        # URL with an API key in its query string. Row counts come from the steps' own results.
        pipeline.config.enable_runtime_trace = False
        resumed = _resume(pipeline, plan, ctl)
        if resumed is not None:
            return resumed
        step = "extract"
        try:
            with _writer(plan):  # dlt reads its state back from the destination if it lost it
                pipeline.sync_destination()
            progress = _Progress(ctl)
            resources = build_resources(plan.source, on_sql=lambda q: ctl.log(f"Source query: {q}"))
            for resource in resources:
                resource.add_map(progress(resource.name))
            ctl.log(
                f"Extracting {', '.join(r.name for r in resources)} "
                f"({spec.write_disposition}, schema contract {spec.schema_contract}) …"
            )
            extracted = pipeline.extract(
                resources,
                write_disposition=spec.write_disposition,
                schema_contract=CONTRACTS[spec.schema_contract],
            )
            ctl.record(load_ids=list(extracted.loads_ids))
            _check_merge_keys(pipeline, plan)
            ctl.check_cancel()
            step = "normalize"
            normalized = pipeline.normalize()
            counts = normalized.row_counts if normalized else {}
            rows = {t: n for t, n in counts.items() if not t.startswith("_dlt")}
            ctl.log(
                "Normalized "
                + (", ".join(f"{t}: {n:,} rows" for t, n in rows.items()) or "no new rows")
            )
            ctl.check_cancel()  # the last point where cancelling leaves nothing behind
            step = "load"
            ctl.log(f"Loading into {plan.destination.label}, dataset {plan.destination.dataset} …")
            with _writer(plan):
                info = pipeline.load()
        except BaseException as exc:
            error = translate(exc, step)
            # A transient load failure keeps its package, so the retry finishes it rather
            # than extracting (and appending) again; anything else leaves nothing pending.
            if not (step == "load" and getattr(error, "transient", False)):
                with _writer(plan):  # aborting may finish a half-loaded package's record
                    pipeline.abort_packages()
            if error is exc:
                raise
            raise error from None
        tables = _stats(normalized, info)
        return {"tables": tables, "summary": _summary(tables)}


def _summary(tables: dict[str, dict[str, int]]) -> str:
    if not tables:
        return "Succeeded: no new rows."
    rows = sum(t["rows"] for t in tables.values())
    return f"Succeeded: {rows:,} rows into {len(tables)} table(s)."


def _resume(pipeline, plan: LoadPlan, ctl: RunControl) -> dict[str, Any] | None:
    """An earlier attempt died: finish its package, or see that it was already loaded."""
    previous = set(ctl.previous.get("load_ids", []))
    if pipeline.has_pending_data:
        ctl.log("An earlier attempt left a load package; finishing it instead of extracting again.")
        try:
            normalized = pipeline.normalize()
            with _writer(plan):
                info = pipeline.load()
        except BaseException as exc:
            raise translate(exc, "load") from None
        tables = _stats(normalized, info)
        return {"tables": tables, "summary": _summary(tables)}
    done = previous & set(pipeline.list_completed_load_packages())
    if done:
        ctl.log(
            f"The earlier attempt's load package {', '.join(sorted(done))} was already loaded; "
            "not loading it again."
        )
        return {"tables": {}, "summary": "Succeeded: the earlier attempt had loaded everything."}
    return None
