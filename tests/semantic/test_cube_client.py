"""The official Cube client, `@cubejs-client/core` from npm (pinned in tests/semantic/node), run
by Node against a live `tenantry serve`: load with pivots, filters, order, limit and a relative
date range; meta; sql; a query slower than the continue-wait time; a refused token.

Needs TENANTRY_TEST_CUBE_CLIENT_DIR, a directory whose node_modules holds the pinned client
(.ci/run installs it there with `npm ci` from tests/semantic/node). Unset: skipped; set but
unusable (no node, no client, another version): a failure.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from tenantry.core.config import Settings
from tenantry.warehouse.duckdb_store import DuckDBWarehouse
from tenantry.warehouse.service import duckdb_path

CLIENT_ENV = "TENANTRY_TEST_CUBE_CLIENT_DIR"
NODE_DIR = Path(__file__).parent / "node"
CONTINUE_WAIT = 1.0
SLOW_N = 16_000  # the slow cube counts pairs in range(N) x range(N): seconds of DuckDB work

MODEL = f"""cubes:
  - name: orders
    sql_table: raw.orders
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
      - name: status
        sql: status
        type: string
      - name: amount
        sql: amount
        type: number
      - name: created_at
        sql: created_at
        type: time
    measures:
      - name: count
        type: count
      - name: revenue
        sql: amount
        type: sum
  - name: slow_totals
    sql: >
      SELECT 'all' AS label, count(*) AS n
      FROM range({SLOW_N}) AS a(x), range({SLOW_N}) AS b(y)
      WHERE (a.x * 31 + b.y) % 97 = 0
    refresh_key:
      sql: SELECT 1
    dimensions:
      - name: label
        sql: label
        type: string
        primary_key: true
        public: true
    measures:
      - name: pairs
        sql: n
        type: sum
"""

LOAD = {
    "measures": ["orders.count", "orders.revenue"],
    "dimensions": ["orders.status"],
    "timeDimensions": [
        {
            "dimension": "orders.created_at",
            "granularity": "month",
            "dateRange": ["2021-01-01", "2021-03-31"],
        }
    ],
    "filters": [
        {"member": "orders.status", "operator": "equals", "values": ["paid", "shipped"]},
        {"member": "orders.amount", "operator": "gt", "values": ["10"]},
    ],
    "order": [["orders.created_at", "asc"], ["orders.status", "desc"]],
    "limit": 5,
    "total": True,
}
# The same, as plain SQL on the warehouse: what tablePivot() must show.
EXPECTED_SQL = """
SELECT strftime(date_trunc('month', created_at), '%Y-%m-%dT%H:%M:%S.000') AS month, status,
       count(*) AS n, sum(amount) AS revenue
FROM raw.orders
WHERE status IN ('paid', 'shipped') AND amount > 10
  AND created_at BETWEEN TIMESTAMP '2021-01-01' AND TIMESTAMP '2021-03-31 23:59:59.999999'
GROUP BY 1, 2 ORDER BY 1 ASC, 2 DESC
"""
RELATIVE = {
    "measures": ["orders.count"],
    "timeDimensions": [
        {"dimension": "orders.created_at", "granularity": "month", "dateRange": "last 12 months"}
    ],
}
SLOW = {"measures": ["slow_totals.pairs"], "dimensions": ["slow_totals.label"]}


def _pinned() -> str:
    return json.loads((NODE_DIR / "package.json").read_text())["dependencies"][
        "@cubejs-client/core"
    ]


@pytest.fixture(scope="module")
def client_dir() -> Path:
    raw = os.environ.get(CLIENT_ENV)
    if not raw:
        pytest.skip(
            f"{CLIENT_ENV} is not set: install the Cube client outside the repo (cp "
            "tests/semantic/node/package*.json DIR && npm ci --prefix DIR) and point it at DIR"
        )
    if shutil.which("node") is None:
        pytest.fail(f"{CLIENT_ENV} is set but `node` is not on PATH")
    pkg = Path(raw) / "node_modules" / "@cubejs-client" / "core" / "package.json"
    if not pkg.is_file():
        pytest.fail(f"{CLIENT_ENV}={raw}: no node_modules/@cubejs-client/core there")
    version = json.loads(pkg.read_text())["version"]
    if version != _pinned():
        pytest.fail(f"{CLIENT_ENV}={raw} holds @cubejs-client/core {version}, not {_pinned()}")
    return Path(raw)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    """A real `tenantry serve` on its own data dir (a fresh SQLite store, DuckDB warehouses)."""
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        secret_key="cube-client-test-" + uuid.uuid4().hex,
        encryption_keys=Fernet.generate_key().decode(),
    )
    settings.data_dir.mkdir()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTRY_")}
    env.update(
        TENANTRY_DATA_DIR=str(settings.data_dir),
        TENANTRY_SECRET_KEY=settings.secret_key,
        TENANTRY_ENCRYPTION_KEYS=settings.encryption_keys,
        TENANTRY_BCRYPT_ROUNDS="4",
        TENANTRY_SCHEDULER_ENABLED="false",
        TENANTRY_SEMANTIC_CONTINUE_WAIT_SECONDS=str(CONTINUE_WAIT),
    )
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tenantry", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, "server exited:\n" + log_path.read_text()
            try:
                if httpx.get(base + "/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not start:\n" + log_path.read_text()
            time.sleep(0.2)
        yield base, settings, log_path
    finally:
        proc.terminate()
        proc.wait(15)


def _order_rows(now: dt.datetime) -> list[tuple]:
    """2021 rows for the exact query; recent rows for 'last 12 months'; one older row."""
    statuses = ("paid", "shipped", "refunded")
    rows = []
    start = dt.datetime(2021, 1, 1, 6)
    for i in range(110):  # every 23 hours from 2021-01-01 to mid-April
        amount = Decimal(i * 13 % 40) + Decimal("0.25") * (i % 4)
        rows.append((i + 1, statuses[i * 7 % 3], amount, start + dt.timedelta(hours=23 * i)))
    noon = now.replace(hour=12, minute=0, second=0, microsecond=0, tzinfo=None)
    for n, days_ago in enumerate((40, 40, 40, 100, 100, 800)):
        rows.append((1000 + n, "paid", Decimal("5.00"), noon - dt.timedelta(days=days_ago)))
    return rows


def _load_warehouse(path: Path, rows: list[tuple]) -> list[tuple]:
    """Write raw.orders into the organization's DuckDB file (under its writer lock) and answer
    the exact query with plain SQL."""
    with DuckDBWarehouse(path).write() as conn:
        conn.execute(
            "CREATE TABLE raw.orders (id INTEGER, status VARCHAR, amount DECIMAL(10, 2), "
            "created_at TIMESTAMP)"
        )
        conn.executemany("INSERT INTO raw.orders VALUES (?, ?, ?, ?)", rows)
        return conn.execute(EXPECTED_SQL).fetchall()


def _slow_pairs(n: int) -> int:
    """What the slow cube counts, by arithmetic: pairs with y ≡ -31x (mod 97)."""
    total = 0
    for x in range(n):
        r = (-31 * x) % 97
        total += (n - 1 - r) // 97 + 1 if r < n else 0
    return total


def _months_before(now: dt.datetime, count: int) -> list[str]:
    index = now.year * 12 + now.month - 1
    out = []
    for i in range(index - count, index):
        out.append(f"{i // 12:04d}-{i % 12 + 1:02d}-01T00:00:00.000")
    return out


def _month_of(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-01T00:00:00.000")


def _numbers(rows: list[dict], measures: tuple[str, ...]) -> list[dict]:
    """Measures compared as numbers: Cube sends them as strings or numbers, by driver."""
    return [
        {k: Decimal(str(v)) if k in measures and v is not None else v for k, v in row.items()}
        for row in rows
    ]


def _setup_org(base: str, settings: Settings, now: dt.datetime) -> tuple[str, list[tuple]]:
    with httpx.Client(base_url=base, timeout=30) as http:
        r = http.post(
            "/api/v1/auth/signup",
            json={"email": "owner@cube.example", "password": "correct-horse-battery"},
        )
        assert r.status_code == 201, r.text
        h = {"Authorization": f"Bearer {r.json()['access_token']}"}
        r = http.post("/api/v1/orgs", json={"name": "Cube Co", "slug": "cube-co"}, headers=h)
        assert r.status_code == 201, r.text
        org = r.json()
        expected = _load_warehouse(duckdb_path(settings, org["id"]), _order_rows(now))
        r = http.put(
            "/api/v1/orgs/cube-co/semantic/model", json={"files": {"shop.yml": MODEL}}, headers=h
        )
        assert r.status_code == 201, r.text
        r = http.post(
            "/api/v1/orgs/cube-co/semantic/tokens",
            json={"claims": {"sub": "end-user-1"}, "expires_in": 600},
            headers=h,
        )
        assert r.status_code == 201, r.text
        return r.json()["token"], expected


def _tampered(token: str) -> str:
    return token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")


def _run_client(client_dir: Path, api_url: str, token: str, log_path: Path) -> dict:
    check = {
        "load": LOAD,
        "relative": RELATIVE,
        "slow": SLOW,
        "sql": LOAD,
        "badToken": _tampered(token),
    }
    env = dict(
        os.environ,
        CUBE_CLIENT_DIR=str(client_dir),
        CUBE_API_URL=api_url,
        CUBE_TOKEN=token,
        CUBE_CHECK=json.dumps(check),
    )
    proc = subprocess.run(
        ["node", str(NODE_DIR / "client_check.mjs")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    server_log = log_path.read_text()[-4000:]
    assert proc.returncode == 0, (
        f"the Cube client failed:\n{proc.stderr}\nserver log:\n{server_log}"
    )
    return json.loads(proc.stdout)


def test_the_official_cube_client_against_a_live_server(client_dir, server):
    base, settings, log_path = server
    now = dt.datetime.now(dt.UTC)
    token, expected = _setup_org(base, settings, now)
    api_url = base + "/cubejs-api/v1"
    out = _run_client(client_dir, api_url, token, log_path)
    assert out["clientVersion"] == _pinned()

    # load: tablePivot() is the plain SQL answer; the limit cut it, `total` counts every row.
    assert len(expected) == 6 > LOAD["limit"]
    want = [
        {
            "orders.created_at.month": month,
            "orders.status": status,
            "orders.count": n,
            "orders.revenue": revenue,
        }
        for month, status, n, revenue in expected[: LOAD["limit"]]
    ]
    measures = ("orders.count", "orders.revenue")
    load = out["load"]
    assert _numbers(load["tablePivot"], measures) == _numbers(want, measures)
    assert load["totalRows"] == len(expected)
    assert len(load["rawData"]) == LOAD["limit"]
    assert [r["orders.created_at.month"] for r in load["rawData"]] == [
        r["orders.created_at.month"] for r in want
    ]
    # chartPivot()/series(): months on x (filled over the date range), status × measure series.
    months = ["2021-01-01T00:00:00.000", "2021-02-01T00:00:00.000", "2021-03-01T00:00:00.000"]
    assert [p["x"] for p in load["chartPivot"]] == months
    statuses = sorted({r["orders.status"] for r in want})
    assert sorted(s["key"] for s in load["series"]) == sorted(
        f"{s},{m}" for s in statuses for m in measures
    )
    for series in load["series"]:
        assert [p["x"] for p in series["series"]] == months
        status, measure = series["key"].split(",")
        got = {p["x"]: Decimal(str(p["value"])) for p in series["series"]}
        for row in _numbers(want, measures):
            if row["orders.status"] == status:
                assert got[row["orders.created_at.month"]] == row[measure], series
    assert {c["key"] for c in load["tableColumns"]} == set(want[0])
    # POST with castNumerics: the same rows, measures as JSON numbers.
    assert _numbers(out["loadPost"], measures) == _numbers(want, measures)
    assert all(isinstance(r[m], int | float) for r in out["loadPost"] for m in measures)

    # A relative range: the 12 whole months before this one, empty months filled with 0.
    counts: dict[str, int] = {}
    for _, _, _, created_at in _order_rows(now):
        counts[_month_of(created_at)] = counts.get(_month_of(created_at), 0) + 1
    want_relative = [
        {"orders.created_at.month": m, "orders.count": counts.get(m, 0)}
        for m in _months_before(now, 12)
    ]
    got_relative = _numbers(out["relative"]["tablePivot"], ("orders.count",))
    assert got_relative == _numbers(want_relative, ("orders.count",))
    assert sum(r["orders.count"] for r in got_relative) == 5  # 40 and 100 days ago, not 800

    # meta
    cubes = {c["name"]: c for c in out["meta"]["cubes"]}
    assert {"orders", "slow_totals"} <= set(cubes)
    assert {"orders.count", "orders.revenue"} <= set(cubes["orders"]["measures"])
    assert {"orders.status", "orders.amount", "orders.created_at"} <= set(
        cubes["orders"]["dimensions"]
    )
    assert "slow_totals.pairs" in cubes["slow_totals"]["measures"]
    time_dims = {g["cube"]: g["members"] for g in out["meta"]["timeDimensions"]}
    assert time_dims["orders"] == ["orders.created_at"]
    resolved = out["meta"]["resolved"]
    assert "error" not in resolved and resolved["name"] == "orders.revenue"
    assert "gt" in out["meta"]["filterOperators"]  # the client saw a number dimension

    # sql(): the SQL the query compiles to
    sql = out["sql"]["sql"]
    assert isinstance(sql, str) and "select" in sql.lower() and "orders" in sql.lower()

    # The slow query: each client got "Continue wait", re-requested on its own, and both got
    # the one shared execution's answer (the same lastRefreshTime) after more than the wait.
    pairs = _slow_pairs(SLOW_N)
    for run in out["slow"]:
        assert run["continueWaits"], "expected at least one 'Continue wait' before the result"
        assert all("Continue wait" in w.get("error", "") for w in run["continueWaits"])
        assert run["ms"] > CONTINUE_WAIT * 1000
        got = _numbers(run["tablePivot"], ("slow_totals.pairs",))
        assert got == [{"slow_totals.label": "all", "slow_totals.pairs": Decimal(pairs)}]
    first, second = (run["loadResponse"]["lastRefreshTime"] for run in out["slow"])
    assert first and first == second, "two executions of one query (no dedup)"

    # A refused token: the client rejects with the server's own message and status.
    bad = out["badToken"]
    refused = httpx.get(
        api_url + "/load",
        params={"query": json.dumps(LOAD), "queryType": "multi"},
        headers={"Authorization": _tampered(token)},
    )
    assert refused.status_code == 403
    assert bad["rejected"] and bad["status"] == 403
    assert bad["message"] == refused.json()["error"] and bad["message"].startswith("Invalid token")
