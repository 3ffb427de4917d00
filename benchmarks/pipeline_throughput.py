"""Loading one SQLite table into DuckDB: a Tenantry pipeline run against plain dlt and DuckDB.

Generates N rows (id INTEGER PRIMARY KEY, customer_id INTEGER, amount REAL, status TEXT,
created_at TEXT holding an ISO timestamp) into a SQLite file with a fixed seed (not timed),
then loads that table, each load into a fresh DuckDB file, three ways in the same process:

  Tenantry   a real pipeline run through the JSON API (TestClient, inline executor, SQLite
             metadata store): a new organization per load, its SQLite connection and a
             table-mode pipeline (replace), loading into the organization's DuckDB
             warehouse; timed from POST .../pipelines/{id}/run to the run's own finished_at
             (so the polling interval adds no rounding), queueing and claiming included.
             Status is polled every --poll s (0.25 by default) through the same process,
             beside the run's worker thread, as `tenantry serve` would answer a client
             watching it: those GETs compete with the load for the GIL.
  plain dlt  dlt's sql_table (pyarrow backend, reflection full_with_precision, same chunk
             size) and dlt.pipeline(...).run(write_disposition="replace") into a DuckDB file;
             timed from creating the engine to run() returning.
  native     DuckDB reading the rows itself, the practical ceiling. With DuckDB's sqlite
             extension installed locally: CREATE TABLE AS SELECT * FROM sqlite_scan(...).
             It is never downloaded, and offline it is not installed: then "native" is
             Python's sqlite3 fetchmany(batch) → one pyarrow record batch per fetch (typed
             from the declared column types) → INSERT INTO ... SELECT * FROM the batch in
             DuckDB. The output says which one ran.

Each path first loads a small warm-up table (not timed), so imports and first-use costs hit
none of the timings; the timed loads are interleaved, rotating the order on each repeat. All
three share one heap (the app, dlt, SQLAlchemy loaded), so Python's cyclic GC, which scans it
as the row tuples pile up, weighs on each path alike; a bare script would run "native" faster.
Every load is checked: row count and sum(customer_id) in the DuckDB file, and the run's
rows_loaded for Tenantry. Prints rows/s per path (best and median of --repeat), ratios
measured in this run, where the time went, and the verdict. Goal: Tenantry >= 0.9x plain dlt.

    .venv/bin/python benchmarks/pipeline_throughput.py [--rows 1000000] [--repeat 1]
    .venv/bin/python benchmarks/pipeline_throughput.py --rows 20000     # a quick check
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _inprocess import InProcessApp  # benchmarks/ is on the path of a script run from it

# dlt reads this when first imported; every import of dlt below comes after it.
os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"

TABLE = "orders"
GOAL = 0.9
STATUSES = ("pending", "paid", "shipped", "delivered", "refunded")
COLUMNS = (
    "id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, amount REAL NOT NULL, "
    "status TEXT NOT NULL, created_at TEXT NOT NULL"
)
CHECK_SQL = f"SELECT count(*), sum(customer_id) FROM raw.{TABLE}"  # noqa: S608


def generate(path: Path, rows: int, seed: int) -> tuple[int, int]:
    """The source table; returns (count, sum(customer_id)) to check every load against."""
    rng = random.Random(seed)
    start = datetime(2024, 1, 1)
    conn = sqlite3.connect(path)
    conn.execute(f"CREATE TABLE {TABLE} ({COLUMNS})")
    conn.executemany(
        f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?, ?)",  # noqa: S608
        (
            (
                i,
                rng.randint(1, 50_000),
                round(rng.uniform(1, 1000), 2),
                rng.choice(STATUSES),
                (start + timedelta(seconds=rng.randrange(366 * 86_400))).isoformat(),
            )
            for i in range(1, rows + 1)
        ),
    )
    conn.commit()
    expected = conn.execute(f"SELECT count(*), sum(customer_id) FROM {TABLE}").fetchone()  # noqa: S608
    conn.close()
    return expected


def check(what: str, got, expected: tuple[int, int]) -> None:
    if tuple(got) != tuple(expected):
        sys.exit(f"{what}: loaded (count, sum(customer_id)) {tuple(got)}, expected {expected}")


def duckdb_totals(path: Path) -> tuple[int, int]:
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(CHECK_SQL).fetchone()


class Tenantry(InProcessApp):
    """One app for the whole run; each load gets its own organization (so a fresh warehouse
    file and pipelines dir, like the other paths) and its own connection and pipeline."""

    def __init__(self, data_dir: Path, batch_size: int, poll: float):
        self.tag = uuid.uuid4().hex[:8]
        super().__init__(data_dir, f"bench-{self.tag}@example.com")
        self.batch_size, self.poll = batch_size, poll
        self.orgs = 0

    def prepare(self, sqlite_path: Path) -> tuple[str, str, Path]:
        """A new organization holding a copy of the source file: (slug, pipeline id, warehouse)."""
        from tenantry.connections.storage import org_files
        from tenantry.warehouse.service import duckdb_path

        self.orgs += 1
        slug = f"bench-{self.tag}-{self.orgs}"
        c = self.client
        self._ok(c.post("/api/v1/orgs", json={"name": slug, "slug": slug}, headers=self.h), 201)
        org_id = c.get(f"/api/v1/orgs/{slug}", headers=self.h).json()["id"]
        shutil.copyfile(sqlite_path, org_files(self.settings, org_id) / "bench.sqlite")
        r = c.post(
            f"/api/v1/orgs/{slug}/connections",
            json={"name": "src", "kind": "sqlite", "config": {"path": "bench.sqlite"}},
            headers=self.h,
        )
        self._ok(r, 201)
        spec = {
            "mode": "table",
            "table": TABLE,
            "write_disposition": "replace",
            "batch_size": self.batch_size,
        }
        r = c.post(
            f"/api/v1/orgs/{slug}/pipelines",
            json={"name": "bench", "source_id": r.json()["id"], "spec": spec},
            headers=self.h,
        )
        self._ok(r, 201)
        return slug, r.json()["id"], duckdb_path(self.settings, org_id)

    def load(self, sqlite_path: Path, rows: int, expected: tuple[int, int]) -> dict:
        slug, pipeline_id, warehouse = self.prepare(sqlite_path)
        c, org = self.client, f"/api/v1/orgs/{slug}"
        deadline = time.monotonic() + max(600, rows / 1000)
        gc.collect()
        cpu0, wall0 = time.process_time(), time.time()
        r = c.post(f"{org}/pipelines/{pipeline_id}/run", headers=self.h)
        self._ok(r, 202)
        run_id = r.json()["id"]
        while True:
            body = c.get(f"{org}/runs/{run_id}", headers=self.h).json()
            if body["status"] in ("succeeded", "failed", "cancelled"):
                break
            if time.monotonic() > deadline:
                sys.exit(f"Tenantry run still {body['status']} after the deadline: {body}")
            time.sleep(self.poll)
        cpu, wall_end = time.process_time() - cpu0, time.time()
        elapsed = _epoch(body["finished_at"]) - wall0  # the run's own end, not the poll's
        if body["status"] != "succeeded":
            sys.exit(f"Tenantry run {body['status']}: {body.get('error')}")
        if body["rows_loaded"] != rows:
            sys.exit(f"Tenantry run loaded {body['rows_loaded']} rows, expected {rows}")
        check("Tenantry", duckdb_totals(warehouse), expected)
        lines = c.get(f"{org}/runs/{run_id}/logs", headers=self.h).json()["lines"]
        return {
            "seconds": elapsed,
            "cpu": cpu,
            "stages": _tenantry_stages(lines, wall0, wall_end),
        }


def _epoch(value: str) -> float:
    at = datetime.fromisoformat(value)
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


def _tenantry_stages(lines: list[dict], posted: float, seen: float) -> dict[str, float]:
    """Stage times from the run's own log lines (stamped in the worker thread)."""
    at: dict[str, float] = {}
    for line in lines:
        for key in ("Run started", "Extracting", "Normalized", "Loading into", "Succeeded"):
            if line["message"].startswith(key):
                at.setdefault(key, _epoch(line["at"]))
    if len(at) < 5:
        return {}
    return {
        "queued": at["Run started"] - posted,
        "setup": at["Extracting"] - at["Run started"],
        "extract+normalize": at["Normalized"] - at["Extracting"],
        "load": at["Succeeded"] - at["Normalized"],
        "finish+poll": seen - at["Succeeded"],
    }


def plain_dlt(
    sqlite_path: Path, work: Path, name: str, batch_size: int, expected: tuple[int, int]
) -> dict:
    import dlt
    import sqlalchemy as sa
    from dlt.sources.sql_database import sql_table

    target = work / f"{name}.duckdb"
    gc.collect()
    cpu0, wall0, t0 = time.process_time(), time.time(), time.perf_counter()
    engine = sa.create_engine(f"sqlite:///{sqlite_path}")
    resource = sql_table(
        credentials=engine,
        table=TABLE,
        backend="pyarrow",
        chunk_size=batch_size,
        reflection_level="full_with_precision",
    )
    pipeline = dlt.pipeline(
        pipeline_name=name,
        destination=dlt.destinations.duckdb(str(target)),
        dataset_name="raw",
        pipelines_dir=str(work / "dlt"),
    )
    pipeline.run(resource, write_disposition="replace")
    elapsed, cpu, wall_end = time.perf_counter() - t0, time.process_time() - cpu0, time.time()
    engine.dispose()
    check("plain dlt", duckdb_totals(target), expected)
    steps = {s.step: s for s in pipeline.last_trace.steps}
    stages = {}
    if {"extract", "normalize", "load"} <= steps.keys():
        ts = {k: (s.started_at.timestamp(), s.finished_at.timestamp()) for k, s in steps.items()}
        stages = {
            "setup": ts["extract"][0] - wall0,
            "extract+normalize": ts["normalize"][1] - ts["extract"][0],
            "load": ts["load"][1] - ts["normalize"][1],
            "finish": wall_end - ts["load"][1],
        }
    return {"seconds": elapsed, "cpu": cpu, "stages": stages}


def sqlite_extension() -> bool:
    """Whether DuckDB's sqlite extension is installed locally; never downloads it."""
    import duckdb

    with duckdb.connect() as con:
        con.execute("SET autoinstall_known_extensions = false")
        try:
            con.execute("LOAD sqlite")
        except duckdb.Error:
            return False
    return True


ARROW_TYPES = {"INTEGER": "int64", "REAL": "float64", "TEXT": "string"}


def native(
    sqlite_path: Path, target: Path, batch_size: int, scan: bool, expected: tuple[int, int]
) -> dict:
    import duckdb
    import pyarrow as pa

    gc.collect()
    cpu0, t0 = time.process_time(), time.perf_counter()
    con = duckdb.connect(str(target))
    con.execute("CREATE SCHEMA raw")
    if scan:
        con.execute("SET autoinstall_known_extensions = false")
        con.execute("LOAD sqlite")
        con.execute(
            f"CREATE TABLE raw.{TABLE} AS SELECT * FROM sqlite_scan(?, ?)",
            [str(sqlite_path), TABLE],
        )
    else:
        src = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
        info = src.execute(f"PRAGMA table_info({TABLE})").fetchall()
        schema = pa.schema([(c[1], ARROW_TYPES[c[2].upper()]) for c in info])
        cur = src.execute(f"SELECT * FROM {TABLE}")  # noqa: S608
        verb = f"CREATE TABLE raw.{TABLE} AS"  # the first batch creates the table
        while rows := cur.fetchmany(batch_size):
            columns = zip(*rows, strict=True)
            batch = pa.record_batch(
                [pa.array(col, type=f.type) for col, f in zip(columns, schema, strict=True)],
                schema=schema,
            )
            con.register("batch", batch)
            con.execute(f"{verb} SELECT * FROM batch")
            con.unregister("batch")
            verb = f"INSERT INTO raw.{TABLE}"
        src.close()
    con.close()
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    check("native", duckdb_totals(target), expected)
    return {"seconds": elapsed, "cpu": cpu, "stages": {}}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=1, help="timed loads per path")
    ap.add_argument("--batch-size", type=int, default=50_000, help="rows per batch for every path")
    ap.add_argument(
        "--poll",
        type=float,
        default=0.25,
        help="seconds between run status GETs; each is served in the same process as the run",
    )
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--warmup-rows", type=int, default=5_000)
    ap.add_argument(
        "--native",
        choices=("auto", "arrow"),
        default="auto",
        help="auto: sqlite_scan when the extension is installed locally, else arrow",
    )
    args = ap.parse_args()
    if args.rows < 1 or args.repeat < 1:
        ap.error("--rows and --repeat must be at least 1")

    scan = args.native == "auto" and sqlite_extension()
    native_label = (
        "DuckDB sqlite_scan (sqlite extension, installed locally)"
        if scan
        else "sqlite3 fetchmany → pyarrow record batch → DuckDB INSERT ... SELECT "
        "(DuckDB's sqlite extension is not installed and is never downloaded)"
    )
    names = ("Tenantry", "plain dlt", "native")
    results: dict[str, list[dict]] = {n: [] for n in names}

    with tempfile.TemporaryDirectory(prefix="tenantry-bench-") as tmp:
        work = Path(tmp)
        source, warm = work / "source.sqlite", work / "warmup.sqlite"
        expected = generate(source, args.rows, args.seed)
        warm_expected = generate(warm, args.warmup_rows, args.seed + 1)
        tenantry = Tenantry(work / "tenantry", args.batch_size, args.poll)
        try:
            loads = {
                "Tenantry": lambda path, n, exp, _i: tenantry.load(path, n, exp),
                "plain dlt": lambda path, _n, exp, i: plain_dlt(
                    path, work, f"bench_{i}", args.batch_size, exp
                ),
                "native": lambda path, _n, exp, i: native(
                    path, work / f"native_{i}.duckdb", args.batch_size, scan, exp
                ),
            }
            for name in names:
                loads[name](warm, args.warmup_rows, warm_expected, "warmup")
            for i in range(args.repeat):
                order = names[i % 3 :] + names[: i % 3]  # no path always goes first
                for name in order:
                    results[name].append(loads[name](source, args.rows, expected, i))
        finally:
            tenantry.close()

    report(args, native_label, results)


def report(args, native_label: str, results: dict[str, list[dict]]) -> None:
    print(
        f"{args.rows:,} rows × 5 columns, SQLite → a fresh DuckDB file per load, batch size "
        f"{args.batch_size:,}, {args.repeat} timed load(s) per path, interleaved, after an "
        f"untimed {args.warmup_rows:,}-row warm-up of each path; one process; Tenantry run "
        f"status polled every {args.poll:g} s\n"
        f"native = {native_label}\n"
    )
    print(f"{'path':<10} {'best s':>8} {'median s':>9} {'rows/s (best)':>14} {'CPU s':>7}")
    best: dict[str, dict] = {}
    rate: dict[str, float] = {}
    for name, runs in results.items():
        best[name] = min(runs, key=lambda r: r["seconds"])
        median = statistics.median(r["seconds"] for r in runs)
        rate[name] = args.rows / best[name]["seconds"]
        print(
            f"{name:<10} {best[name]['seconds']:>8.2f} {median:>9.2f} "
            f"{rate[name]:>14,.0f} {best[name]['cpu']:>7.2f}"
        )
    print("\nthroughput ratios (best runs)")
    print(f"  Tenantry / plain dlt  {rate['Tenantry'] / rate['plain dlt']:.2f}x")
    print(f"  Tenantry / native     {rate['Tenantry'] / rate['native']:.2f}x")
    print(f"  plain dlt / native    {rate['plain dlt'] / rate['native']:.2f}x")
    print("\nwhere the time went (best run, seconds)")
    for name in ("Tenantry", "plain dlt"):
        stages = best[name]["stages"]
        parts = "  ".join(f"{k} {v:.2f}" for k, v in stages.items()) or "(not available)"
        print(f"  {name:<10} {parts}")
    ratio = rate["Tenantry"] / rate["plain dlt"]
    verdict = "met" if ratio >= GOAL else "NOT met"
    print(f"\nTenantry at {ratio:.2f}x plain dlt throughput (goal >= {GOAL}x: {verdict})")


if __name__ == "__main__":
    main()
