"""Building pre-aggregation partitions in the organization's warehouse (in a worker thread).

Each partition is replaced in one transaction (delete its time range, insert its rows), so a
query never sees half a partition; an unpartitioned rollup is swapped whole.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from tenantry.semantic.preaggs.plan import Definition, due, windows

MAX_PARTITIONS_PER_RUN = 48  # then the run ends; the next one goes on (others get their turn)


@dataclass
class Work:
    definition: Definition
    refresh_value: str
    built: dict[str, str]  # partition key → refresh value it was built under
    window_sql: Any  # callable (start, end) → SQL of one partition's rows
    range_sql: tuple[str | None, str | None] = (None, None)  # build_range_start/end


@dataclass
class BuildPlan:
    store: Any
    schema: str  # physical schema holding the tables
    works: list[Work] = field(default_factory=list)
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _Conn:
    """One write connection to the warehouse, the same calls for DuckDB and PostgreSQL."""

    def __init__(self, store):
        self.store = store

    def __enter__(self):
        from tenantry.warehouse.duckdb_store import DuckDBWarehouse

        if isinstance(self.store, DuckDBWarehouse):
            self._cm = self.store.write()
            self.duck = self._cm.__enter__()
            # Rollups are small and read often: DuckDB's compressed wide decimals (the type of
            # a sum of decimals) read several times slower than uncompressed ones.
            self.duck.execute("SET force_compression = 'uncompressed'")
            self.loop = None
        else:
            self.duck = None
            self.loop = asyncio.new_event_loop()
            self.pg = self.loop.run_until_complete(
                self.store.connect(read_only=False, timeout=3600)
            )
        return self

    def __exit__(self, *exc):
        if self.duck is not None:
            self._cm.__exit__(*exc)
        else:
            self.loop.run_until_complete(self.pg.close())
            self.loop.close()

    def fetch(self, sql: str) -> list[tuple]:
        if self.duck is not None:
            return self.duck.execute(sql).fetchall()
        return [tuple(r) for r in self.loop.run_until_complete(self.pg.fetch(sql))]

    def script(self, statements: list[str]) -> None:
        """Statements in one transaction."""
        if self.duck is not None:
            self.duck.execute("BEGIN TRANSACTION")
            try:
                for s in statements:
                    self.duck.execute(s)
                self.duck.execute("COMMIT")
            except Exception:
                self.duck.execute("ROLLBACK")
                raise
            return

        async def go():
            async with self.pg.transaction():
                for s in statements:
                    await self.pg.execute(s)

        self.loop.run_until_complete(go())


def _as_dt(value) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    return dt.datetime.fromisoformat(str(value).replace("Z", "")).replace(tzinfo=None)


def _range(conn: _Conn, work: Work) -> tuple[dt.datetime | None, dt.datetime | None]:
    start_sql, end_sql = work.range_sql
    if start_sql or end_sql:
        start = _as_dt(conn.fetch(start_sql)[0][0]) if start_sql else None
        end = _as_dt(conn.fetch(end_sql)[0][0]) if end_sql else None
        if start is not None and end is not None:
            return start, end
    col = _q(work.definition.time_column)
    lo, hi = conn.fetch(f"SELECT min({col}), max({col}) FROM ({work.definition.sql}) AS r")[0]  # noqa: S608 - names and times are ours, quoted
    return _as_dt(lo), _as_dt(hi)


def build(plan: BuildPlan, ctl) -> dict[str, Any]:
    """Build what is due; returns the run result and records each partition built."""
    built_parts: list[dict] = []
    tables: dict[str, dict] = {}
    budget = MAX_PARTITIONS_PER_RUN
    with _Conn(plan.store) as conn:
        for work in plan.works:
            d = work.definition
            target = f"{_q(plan.schema)}.{_q(d.table)}"
            if d.partitioned:
                start, end = _range(conn, work)
                spans = windows(start, end, d.pre.partition_granularity) if start and end else []
            else:
                spans = []
            keys = due(d, spans, work.built, work.refresh_value, plan.now)
            if not keys and not spans and "all" not in work.built:
                keys = ["all"]
            by_key = {w[0].isoformat(): w for w in spans}
            exists = bool(work.built)
            for key in keys:
                ctl.check_cancel()
                if budget <= 0:
                    ctl.log("Partition budget of this run used; the next refresh goes on.")
                    break
                budget -= 1
                if key == "all":
                    conn.script([f"CREATE OR REPLACE TABLE {target} AS {d.sql}"])
                    rows = conn.fetch(f"SELECT count(*) FROM {target}")[0][0]  # noqa: S608 - names and times are ours, quoted
                    window = (None, None)
                else:
                    window = by_key[key]
                    lo, hi = (f"'{w.isoformat(sep=' ')}'" for w in window)
                    col = _q(d.time_column)
                    statements = []
                    if not exists:
                        statements.append(
                            f"CREATE TABLE IF NOT EXISTS {target} AS "  # noqa: S608 - names and times are ours, quoted
                            f"SELECT * FROM ({d.sql}) AS r WHERE 1 = 0"
                        )
                        exists = True
                    statements.append(f"DELETE FROM {target} WHERE {col} >= {lo} AND {col} < {hi}")  # noqa: S608 - names and times are ours, quoted
                    # In time order: each row group then covers a short time range, so a
                    # query's date range skips the others (DuckDB's zone maps).
                    rows_sql = work.window_sql(*window)
                    statements.append(
                        f"INSERT INTO {target} SELECT * FROM ({rows_sql}) AS r ORDER BY {col}"  # noqa: S608 - ours
                    )
                    conn.script(statements)
                    rows = conn.fetch(
                        f"SELECT count(*) FROM {target} WHERE {col} >= {lo} AND {col} < {hi}"  # noqa: S608 - names and times are ours, quoted
                    )[0][0]
                ctl.log(f"{d.path}: partition {key} built ({rows} rows) in {d.table}")
                built_parts.append(
                    {
                        "pre_aggregation": d.path,
                        "signature": d.signature,
                        "partition": key,
                        "table": d.table,
                        "start": window[0].isoformat() if window[0] else None,
                        "end": window[1].isoformat() if window[1] else None,
                        "rows": int(rows),
                        "refresh_value": work.refresh_value,
                    }
                )
                tables.setdefault(d.table, {"rows": 0, "bytes": 0})["rows"] += int(rows)
            if d.partitioned and spans:
                ctl.record(partitions=built_parts)
                built_parts_keys = {p["partition"] for p in built_parts if p["table"] == d.table}
                missing = [w for w in by_key if w not in work.built and w not in built_parts_keys]
                if not missing:  # every partition exists: the rollup can serve queries
                    built_parts.append(
                        {
                            "pre_aggregation": d.path,
                            "signature": d.signature,
                            "partition": "*",
                            "table": d.table,
                            "start": spans[0][0].isoformat(),
                            "end": spans[-1][1].isoformat(),
                            "rows": 0,
                            "refresh_value": work.refresh_value,
                        }
                    )
    ctl.record(partitions=built_parts)
    count = len([p for p in built_parts if p["partition"] != "*"])
    summary = f"{count} pre-aggregation partition(s) built" if count else "Everything up to date"
    return {"tables": tables, "summary": summary + "."}
