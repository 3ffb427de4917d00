"""`dbt run` of a 20-model project: through Tenantry against the plain dbt command line.

Sets up one organization in a temporary data dir (in process: TestClient, inline executor,
SQLite metadata store, DuckDB warehouse), loads the Acme Shop demo data into its warehouse with
the demo's own pipeline (customers, sessions, orders, order items; generated from a fixed seed),
and creates 20 models through the API: 4 staging views over the raw tables, 8 intermediate
models and 8 marts (views and tables, refs chaining up to 7 levels deep). Not timed.

Then, interleaved (the order rotates on each repeat), the same work three ways:

  Tenantry    POST /api/v1/orgs/{org}/transformations/run {"command": "run"}, timed from the
              request to the run's own finished_at (so the polling interval adds no rounding):
              queueing, the dispatcher, building the plan from the store and the warehouse,
              writing the project, dbt in its subprocess, parsing run_results and finishing the
              run. Status is polled every --poll s through the same process, as a client would.
  plain dbt   `dbt run --project-dir <the project Tenantry wrote> --profiles-dir <dir>` in a
              subprocess (DO_NOT_TRACK=1), with a profiles.yml equal to the one Tenantry writes
              (same warehouse file, schema and threads), so all paths share dbt's partial parse.
  same flags  plain dbt with the global flags Tenantry passes (no debug log file, no colours):
              the difference from Tenantry is the platform alone.

Each path runs once untimed first (dbt's first parse of a project is slower). Every run is
checked: 20 models, all "success", in target/run_results.json, and the Tenantry run's tables.
Prints each run, the medians and ratios, where the time went, the dbt process's CPU time on each
path, and the verdict. Goal: Tenantry <= 1.2x plain dbt. Exits 0 either way.

    .venv/bin/python benchmarks/dbt_overhead.py [--repeat 3] [--poll 0.25]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from _inprocess import InProcessApp  # benchmarks/ is on the path of a script run from it

os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"  # before anything imports dlt

GOAL = 1.2
FINISHED = ("succeeded", "failed", "cancelled", "skipped")


# The project, in creation order (a model's refs must exist first): "-- name materialization
# schema" heads each model's SQL. Staging views type and rename the raw tables; intermediate
# models join and aggregate them; marts aggregate further (refs chain up to 7 levels deep).
PROJECT = """
-- stg_customers view staging
select id as customer_id, email, country, cast(signed_up_on as date) as signed_up_on
from {{ source('raw', 'customers') }}
-- stg_sessions view staging
select id as session_id, customer_id, cast(started_at as timestamp) as started_at,
  channel, pages
from {{ source('raw', 'sessions') }}
-- stg_orders view staging
select id as order_id, customer_id, session_id,
  cast(ordered_at as timestamp) as ordered_at, status,
  cast(updated_at as timestamp) as updated_at
from {{ source('raw', 'orders') }}
-- stg_order_items view staging
select id as item_id, order_id, sku, quantity, unit_price,
  quantity * unit_price as line_total
from {{ source('raw', 'order_items') }}
-- int_order_totals table staging
select order_id, count(*) as items, sum(quantity) as units,
  round(sum(line_total), 2) as order_total
from {{ ref('stg_order_items') }}
group by order_id
-- int_orders_enriched table staging
select o.order_id, o.customer_id, o.ordered_at, o.status, s.channel, s.pages,
  t.items, t.units, t.order_total
from {{ ref('stg_orders') }} as o
join {{ ref('int_order_totals') }} as t on t.order_id = o.order_id
left join {{ ref('stg_sessions') }} as s on s.session_id = o.session_id
-- int_paid_orders view staging
select * from {{ ref('int_orders_enriched') }} where status <> 'refunded'
-- int_customer_orders table staging
select customer_id, count(*) as orders, sum(order_total) as revenue,
  min(ordered_at) as first_order_at, max(ordered_at) as last_order_at
from {{ ref('int_paid_orders') }}
group by customer_id
-- int_session_days view staging
select session_id, customer_id, channel, pages,
  cast(date_trunc('day', started_at) as date) as day
from {{ ref('stg_sessions') }}
-- int_customer_sessions table staging
select customer_id, count(*) as sessions, sum(pages) as pages,
  arg_min(channel, day) as first_channel
from {{ ref('int_session_days') }}
group by customer_id
-- int_sku_sales table staging
select i.sku, count(distinct i.order_id) as orders, sum(i.quantity) as units,
  round(sum(i.line_total), 2) as revenue
from {{ ref('stg_order_items') }} as i
join {{ ref('int_paid_orders') }} as p on p.order_id = i.order_id
group by i.sku
-- int_customers_enriched table staging
select c.customer_id, c.country, c.signed_up_on,
  coalesce(o.orders, 0) as orders, coalesce(o.revenue, 0) as revenue,
  o.first_order_at, o.last_order_at,
  coalesce(s.sessions, 0) as sessions, s.first_channel
from {{ ref('stg_customers') }} as c
left join {{ ref('int_customer_orders') }} as o on o.customer_id = c.customer_id
left join {{ ref('int_customer_sessions') }} as s on s.customer_id = c.customer_id
-- fct_orders table marts
select o.*, c.country, cast(o.ordered_at as date) as order_day
from {{ ref('int_orders_enriched') }} as o
left join {{ ref('stg_customers') }} as c on c.customer_id = o.customer_id
-- dim_customers table marts
select *,
  case when orders >= 5 then 'loyal' when orders >= 1 then 'buyer'
       else 'browser' end as segment
from {{ ref('int_customers_enriched') }}
-- mart_daily_revenue table marts
select order_day, count(*) as orders,
  sum(case when status = 'refunded' then 0 else order_total end) as revenue
from {{ ref('fct_orders') }}
group by order_day
-- mart_channel_performance table marts
with s as (
  select channel, count(*) as sessions from {{ ref('int_session_days') }} group by 1
), o as (
  select channel, count(*) as orders, sum(order_total) as revenue
  from {{ ref('int_paid_orders') }} group by 1
)
select s.channel, s.sessions, coalesce(o.orders, 0) as orders,
  coalesce(o.revenue, 0) as revenue, coalesce(o.orders, 0) / s.sessions as conversion
from s left join o on o.channel = s.channel
-- mart_country_revenue view marts
select country, count(*) as customers, sum(revenue) as revenue
from {{ ref('dim_customers') }}
group by country
-- mart_top_skus view marts
select * from {{ ref('int_sku_sales') }} order by revenue desc limit 20
-- mart_customer_cohorts table marts
select date_trunc('month', signed_up_on) as cohort, segment, count(*) as customers,
  sum(revenue) as revenue
from {{ ref('dim_customers') }}
group by 1, 2
-- mart_kpis view marts
select (select sum(revenue) from {{ ref('mart_daily_revenue') }}) as revenue,
  (select sum(orders) from {{ ref('mart_daily_revenue') }}) as orders,
  (select count(*) from {{ ref('dim_customers') }} where orders > 0) as buyers
"""


def _models(text: str) -> list[dict]:
    out = []
    for chunk in re.split(r"^-- ", text, flags=re.M)[1:]:
        head, sql = chunk.split("\n", 1)
        name, materialization, schema = head.split()
        spec = {"materialization": materialization, "schema": schema}
        out.append({"name": name, "sql": sql.strip(), "spec": spec})
    return out


MODELS = _models(PROJECT)
MODEL_NAMES = {m["name"] for m in MODELS}


def _epoch(value: str) -> float:
    at = datetime.fromisoformat(value)
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


def children_cpu() -> float:
    """CPU time of reaped child processes: dbt on every path (Tenantry's dbt is our child too)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def check_results(what: str, project_dir: Path) -> None:
    """The command built exactly the 20 models, every one successfully."""
    path = project_dir / "target" / "run_results.json"
    results = json.loads(path.read_text())["results"]
    built = {r["unique_id"].split(".")[-1]: r["status"] for r in results}
    if set(built) != MODEL_NAMES or set(built.values()) != {"success"}:
        sys.exit(f"{what}: run_results.json holds {built}, expected the 20 models, all success")


class Tenantry(InProcessApp):
    """The platform in this process: one user, one organization, the demo data, the models."""

    def __init__(self, data_dir: Path, poll: float):
        super().__init__(data_dir, "bench@example.com")
        self.poll = poll
        self.org = "/api/v1/orgs/acme-bench"
        org = {"name": "Acme", "slug": "acme-bench"}
        self._ok(self.client.post("/api/v1/orgs", json=org, headers=self.h), 201)
        self.org_id = self.client.get(self.org, headers=self.h).json()["id"]

    def _wait(self, run_id: str, timeout: float = 600) -> tuple[dict, float]:
        deadline = time.monotonic() + timeout
        while True:
            body = self.client.get(f"{self.org}/runs/{run_id}", headers=self.h).json()
            if body["status"] in FINISHED:
                return body, time.time()
            if time.monotonic() > deadline:
                sys.exit(f"run still {body['status']} after {timeout:g} s: {body}")
            time.sleep(self.poll)

    def load_demo(self) -> dict[str, int]:
        """The Acme Shop demo source, connection and pipeline, loaded by a real run."""
        from tenantry.cli.demo import PIPELINES, SOURCES
        from tenantry.cli.demo_data import acme_shop
        from tenantry.connections.storage import org_files

        name, kind, config = SOURCES["acme-shop"][0]
        acme_shop(org_files(self.settings, self.org_id) / config["path"])
        c = self.client
        r = self._ok(
            c.post(
                f"{self.org}/connections",
                json={"name": name, "kind": kind, "config": config},
                headers=self.h,
            ),
            201,
        )
        pipe_name, _, spec = PIPELINES["acme-shop"][0]
        r = self._ok(
            c.post(
                f"{self.org}/pipelines",
                json={"name": pipe_name, "source_id": r.json()["id"], "spec": spec},
                headers=self.h,
            ),
            201,
        )
        r = self._ok(c.post(f"{self.org}/pipelines/{r.json()['id']}/run", headers=self.h), 202)
        body, _ = self._wait(r.json()["id"])
        if body["status"] != "succeeded":
            sys.exit(f"loading the demo data {body['status']}: {body['error']}")
        return {t: v["rows"] for t, v in body["tables"].items() if not t.startswith("_dlt")}

    def create_models(self) -> None:
        for m in MODELS:
            self._ok(self.client.post(f"{self.org}/transformations", json=m, headers=self.h), 201)

    @property
    def project_dir(self) -> Path:
        from tenantry.transforms.jobs import dbt_root

        return dbt_root(self.settings, self.org_id) / "project"

    def profile(self) -> dict:
        """What Tenantry writes into profiles.yml for this organization's runs."""
        from tenantry.transforms.runner import WarehouseTarget, profile
        from tenantry.warehouse.duckdb_store import SCHEMAS
        from tenantry.warehouse.service import duckdb_path

        target = WarehouseTarget(
            kind="duckdb",
            datasets={k: k for k in SCHEMAS},
            path=duckdb_path(self.settings, self.org_id),
        )
        return profile(target, self.settings.dbt_threads)

    def run(self) -> dict:
        cpu0, own0 = children_cpu(), time.process_time()
        posted = time.time()
        r = self._ok(
            self.client.post(
                f"{self.org}/transformations/run", json={"command": "run"}, headers=self.h
            ),
            202,
        )
        body, seen = self._wait(r.json()["id"])
        cpu, own = children_cpu() - cpu0, time.process_time() - own0
        if body["status"] != "succeeded":
            sys.exit(f"Tenantry dbt run {body['status']}: {body['error']}")
        if set(body["tables"]) != MODEL_NAMES:
            sys.exit(f"Tenantry dbt run built {sorted(body['tables'])}, expected the 20 models")
        check_results("Tenantry", self.project_dir)
        lines = self._ok(
            self.client.get(f"{self.org}/runs/{body['id']}/logs", headers=self.h), 200
        ).json()["lines"]
        finished = _epoch(body["finished_at"])
        return {
            "seconds": finished - posted,
            "seen": seen - posted,
            "dbt_cpu": cpu,
            "own_cpu": own,
            "stages": _stages(body, lines, posted, finished),
            "reparsed": any("Unable to do partial parsing" in li["message"] for li in lines),
        }


def _stages(run: dict, lines: list[dict], posted: float, finished: float) -> dict[str, float]:
    """From the run's own timestamps and log lines (stamped in its worker thread)."""
    started = _epoch(run["started_at"])
    command = next((_epoch(li["at"]) for li in lines if li["message"] == "dbt run"), None)
    done = next((_epoch(li["at"]) for li in lines if li["message"].startswith("Done. ")), None)
    if command is None or done is None:
        return {}
    return {
        "queued": started - posted,  # request, commit, the dispatcher's claim
        "plan": command - started,  # store + warehouse introspection → project files
        "dbt": done - command,  # subprocess start to dbt's "Done." line
        "finish": finished - done,  # dbt's exit, results parsed, run row written
    }


# Tenantry's own global flags (runner.run_dbt): no colour codes, and no debug log file, which
# plain `dbt run` writes to <project>/logs/dbt.log. "same flags" isolates the platform's cost.
SAME_FLAGS = ["--no-use-colors", "--log-level-file", "none"]


def plain_dbt(project_dir: Path, profiles_dir: Path, flags: list[str]) -> dict:
    dbt = Path(sys.executable).parent / "dbt"
    cmd = [str(dbt), *flags, "run", "--project-dir", str(project_dir)]
    cmd += ["--profiles-dir", str(profiles_dir)]
    cpu0 = children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.Popen(  # noqa: S603
        cmd,
        env=dict(os.environ, DO_NOT_TRACK="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    output, done = [], None
    for line in proc.stdout:  # read as it comes (dbt flushes each line), to time "Done."
        output.append(line)
        if done is None and " Done. " in line:
            done = time.perf_counter()
    proc.wait()
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} exited {proc.returncode}:\n{''.join(output)[-3000:]}")
    check_results("plain dbt", project_dir)
    return {
        "seconds": elapsed,
        "seen": elapsed,
        "dbt_cpu": children_cpu() - cpu0,
        "own_cpu": 0.0,
        "stages": {"dbt": done - t0, "finish": elapsed - (done - t0)} if done else {},
        "reparsed": "Unable to do partial parsing" in "".join(output),
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per path")
    ap.add_argument(
        "--poll", type=float, default=0.25, help="seconds between Tenantry run status GETs"
    )
    args = ap.parse_args()
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")

    names = ("Tenantry", "plain dbt", "same flags")
    results: dict[str, list[dict]] = {n: [] for n in names}
    with tempfile.TemporaryDirectory(prefix="tenantry-bench-") as tmp:
        tenantry = Tenantry(Path(tmp) / "data", args.poll)
        try:
            setup = {
                "rows": tenantry.load_demo(),
                "threads": tenantry.settings.dbt_threads,
                "load": os.getloadavg()[0],  # others' work on the machine skews every path
            }
            tenantry.create_models()
            profiles = Path(tmp) / "profiles"
            profiles.mkdir()
            # JSON is YAML; the same content Tenantry writes, so dbt's partial parse stays valid.
            (profiles / "profiles.yml").write_text(json.dumps(tenantry.profile()))
            project = tenantry.project_dir  # written by Tenantry's first run, reused as is
            paths = {
                "Tenantry": tenantry.run,
                "plain dbt": lambda: plain_dbt(project, profiles, []),
                "same flags": lambda: plain_dbt(project, profiles, SAME_FLAGS),
            }
            warm = {name: paths[name]()["seconds"] for name in names}
            for i in range(args.repeat):
                for name in names[i % 3 :] + names[: i % 3]:  # no path always goes first
                    results[name].append(paths[name]())
        finally:
            tenantry.close()
    report(args, setup, warm, results)


def report(args, setup: dict, warm: dict, results: dict[str, list[dict]]) -> None:
    views = sum(m["spec"]["materialization"] == "view" for m in MODELS)
    rows = ", ".join(f"{t} {n:,}" for t, n in sorted(setup["rows"].items()))
    print(
        f"dbt run of {len(MODELS)} models ({views} views, {len(MODELS) - views} tables), "
        f"{setup['threads']} dbt threads, over the Acme Shop demo data (raw: {rows})\n"
        f"{args.repeat} timed run(s) per path, interleaved, after one untimed warm-up each; "
        f"Tenantry run status polled every {args.poll:g} s; load average at start "
        f"{setup['load']:.2f} on {os.cpu_count()} CPUs\n"
        f"plain dbt = `dbt run --project-dir … --profiles-dir …`; same flags = plain dbt with "
        f"Tenantry's `{' '.join(SAME_FLAGS)}`"
    )
    print("warm-up s: " + ", ".join(f"{n} {v:.2f}" for n, v in warm.items()) + "\n")
    t, p, f = results["Tenantry"], results["plain dbt"], results["same flags"]
    print(
        f"{'run':<7} {'Tenantry s':>10} {'(seen s)':>9} {'plain dbt s':>12} {'ratio':>6} "
        f"{'same flags s':>13} {'ratio':>6}"
    )
    rows_out = [
        (str(i), a["seconds"], a["seen"], b["seconds"], c["seconds"])
        for i, (a, b, c) in enumerate(zip(t, p, f, strict=True), 1)
    ]
    med = {n: statistics.median(r["seconds"] for r in runs) for n, runs in results.items()}
    seen = statistics.median(r["seen"] for r in t)
    rows_out.append(("median", med["Tenantry"], seen, med["plain dbt"], med["same flags"]))
    for label, a, a_seen, b, c in rows_out:
        print(
            f"{label:<7} {a:>10.2f} {a_seen:>9.2f} {b:>12.2f} {a / b:>5.2f}x {c:>13.2f} "
            f"{a / c:>5.2f}x"
        )
    print("(Tenantry s: request → the run's finished_at; seen s: until a status poll saw it)")

    cpu = {n: statistics.median(r["dbt_cpu"] for r in runs) for n, runs in results.items()}
    print(
        "\nCPU s (median): the dbt process: "
        + ", ".join(f"{n} {v:.2f}" for n, v in cpu.items())
        + f"; Tenantry's own process (server and polling client) "
        f"{statistics.median(r['own_cpu'] for r in t):.2f}"
    )
    print("where the time went (median s):")
    for name, runs in results.items():
        staged = [r["stages"] for r in runs if r["stages"]]
        keys = staged[0] if staged else {}
        parts = "  ".join(f"{k} {statistics.median(s[k] for s in staged):.2f}" for k in keys)
        print(f"  {name:<10} {parts or '(not available)'}")
    print(
        '  (queued: request → claimed; plan: claimed → dbt started; dbt: → dbt\'s "Done." '
        "line; finish: → dbt exited and the run finished)"
    )
    for name, runs in results.items():
        if any(r["reparsed"] for r in runs):
            print(f"note: dbt re-parsed the whole project in a timed {name} run")

    ratio = med["Tenantry"] / med["plain dbt"]
    verdict = "PASS" if ratio <= GOAL else "ABOVE GOAL"
    print(
        f"\nTenantry / plain dbt (medians): {ratio:.2f}x — {verdict} (goal <= {GOAL}x); "
        f"Tenantry / same flags: {med['Tenantry'] / med['same flags']:.2f}x"
    )


if __name__ == "__main__":
    main()
