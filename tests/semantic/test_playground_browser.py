"""The model editor and the playground in a real Chromium: write a model over a warehouse table
(its problems shown inline as you type), open the playground from a ?query= link, run it, see
the rows, an SVG chart and the SQL; then change the query in the builder and run again."""

from __future__ import annotations

import json
import os
import re
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from playwright.sync_api import expect  # noqa: E402  (after the Chromium check)

from tenantry.warehouse.duckdb_store import DuckDBWarehouse
from tenantry.warehouse.service import duckdb_path
from tests.web.test_browser import CHROMIUM, browser, new_page, server  # noqa: F401

pytestmark = pytest.mark.browser
assert CHROMIUM

MODEL = """cubes:
  - name: orders
    title: Orders
    sql_table: marts.orders
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
      - name: status
        sql: status
        type: string
      - name: created_at
        sql: created_at
        type: time
    measures:
      - name: count
        type: count
      - name: revenue
        sql: amount
        type: sum
"""
ROWS = [
    (1, "paid", 10, "2024-01-05"),
    (2, "paid", 20, "2024-01-20"),
    (3, "refunded", 5, "2024-02-10"),
    (4, "paid", 7, "2024-03-01"),
    (5, "paid", 3, "2024-03-15"),
    (6, "refunded", 1, "2024-03-28"),
]


def _shot(page, name: str) -> None:
    shots = os.environ.get("TENANTRY_SCREENSHOTS")
    if shots:
        os.makedirs(shots, exist_ok=True)
        page.screenshot(path=os.path.join(shots, name), full_page=True)


def test_model_editor_and_playground(server, settings, browser):  # noqa: F811
    http = httpx.Client(base_url=server)
    r = http.post(
        "/api/v1/auth/signup",
        json={"email": "pia@example.com", "password": "correct-horse-battery", "name": "Pia"},
    )
    h = {"Authorization": f"Bearer {r.json()['access_token']}"}
    org = http.post("/api/v1/orgs", json={"name": "Play", "slug": "play"}, headers=h).json()
    with DuckDBWarehouse(duckdb_path(settings, org["id"])).write() as conn:
        conn.execute(
            "CREATE TABLE marts.orders (id INTEGER, status VARCHAR, amount DOUBLE, created_at DATE)"
        )
        conn.executemany("INSERT INTO marts.orders VALUES (?, ?, ?, ?)", ROWS)

    page = new_page(browser, server)
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on(
        "console",
        lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.goto("/login")
    page.fill("#f-email", "pia@example.com")
    page.fill("#f-password", "correct-horse-battery")
    page.click("main button[type=submit]")
    page.goto("/o/play")
    page.click("[data-nav=semantic]")
    page.click("[data-testid=new-file]")

    # Typed with a mistake: the problem names its line, which is marked, before any save.
    page.fill("#f-path", "orders.yml")
    page.fill("#f-content", MODEL.replace("type: string", "type: text"))
    listed = page.locator("[data-problem-list] li")
    expect(listed.first).to_contain_text("orders.yml, line 12, orders.status", timeout=10_000)
    expect(page.locator(".sql-line-number.sql-error-line")).to_have_text("12")
    expect(page.locator(".sql-marker")).to_have_count(1)
    expect(page.locator("[data-yaml-highlight] .yaml-key").first).to_have_text("cubes")
    _shot(page, "semantic-editor-error.png")
    page.fill("#f-content", MODEL)
    expect(page.locator("[data-model-status]")).to_contain_text("valid", timeout=10_000)
    expect(page.locator("[data-problems]")).to_be_hidden()
    expect(page.locator(".sql-line-number.sql-error-line")).to_have_count(0)
    page.fill("#f-message", "Orders")
    page.click("[data-testid=save]")
    expect(page.locator(".alert-success")).to_contain_text("Saved version 1.")
    expect(page).to_have_url(re.compile(r"/o/play/semantic/files/orders\.yml$"))

    # The playground, opened from a link that carries the query.
    query = {
        "measures": ["orders.count", "orders.revenue"],
        "timeDimensions": [
            {
                "dimension": "orders.created_at",
                "granularity": "month",
                "dateRange": ["2024-01-01", "2024-03-31"],
            }
        ],
        "order": {"orders.created_at": "asc"},
    }
    page.goto("/o/play/playground?query=" + quote(json.dumps(query)))
    builder = page.locator("[data-pg-builder]")
    expect(builder).to_be_visible(timeout=10_000)
    expect(page.locator('[data-chips=measures] [data-member="orders.revenue"]')).to_be_visible()
    expect(page.locator("[data-testid=time-dimension]")).to_have_value("orders.created_at")
    expect(page.locator("[data-testid=date-range]")).to_have_value("custom")
    page.click("[data-testid=run]")
    table = page.locator("[data-testid=result-table] tbody tr")
    expect(table).to_have_count(3, timeout=30_000)
    rows = [[c.strip() for c in table.nth(i).locator("td").all_inner_texts()] for i in range(3)]
    assert [(r[0], float(r[1]), float(r[2])) for r in rows] == [
        ("2024-01", 2, 30),
        ("2024-02", 1, 5),
        ("2024-03", 3, 11),
    ]
    chart = page.locator("[data-testid=chart] svg[data-chart=line]")
    expect(chart).to_have_count(1)
    expect(chart.locator("path.pg-line")).to_have_count(2)  # one line per measure
    expect(chart.locator("circle.pg-point")).to_have_count(6)
    sql = page.locator("[data-testid=sql]")
    expect(sql).to_contain_text("marts", timeout=10_000)
    expect(sql.locator(".sql-keyword").first).to_be_visible()
    expect(page.locator("[data-testid=served-by]")).to_contain_text("warehouse")
    expect(page.locator("[data-testid=pg-error]")).to_be_hidden()
    _shot(page, "playground-line.png")

    # Change it in the builder: by status, no time → bars; the link follows the query.
    page.select_option("[data-testid=time-dimension]", "")
    page.select_option("[data-testid=add-dimension]", "orders.status")
    page.click('[data-chips=measures] [data-member="orders.count"] [data-remove]')
    page.click("[data-testid=run]")
    expect(page.locator("[data-testid=chart] svg[data-chart=bar]")).to_have_count(1, timeout=30_000)
    expect(page.locator("[data-testid=chart] rect.pg-bar")).to_have_count(2)
    texts = page.locator("[data-testid=result-table] tbody").inner_text()
    assert "paid" in texts and "40" in texts and "refunded" in texts and "6" in texts
    now = json.loads(parse_qs(urlsplit(page.url).query)["query"][0])
    assert now == {"measures": ["orders.revenue"], "dimensions": ["orders.status"]}
    _shot(page, "playground-bars.png")

    # A query the API refuses: its error is shown in the error box.
    page.goto("/o/play/playground?query=" + quote(json.dumps({"measures": ["orders.nope"]})))
    expect(builder).to_be_visible(timeout=10_000)
    page.click("[data-testid=run]")
    error = page.locator("[data-testid=pg-error]")
    expect(error).to_be_visible(timeout=10_000)
    expect(error).to_contain_text("nope")

    # A slow answer ("Continue wait") is asked for again until the result is there.
    settings.semantic_continue_wait_seconds = 0  # every new query answers "Continue wait" first
    loads: list[str] = []
    page.on("request", lambda r: loads.append(r.url) if "/cubejs-api/v1/load" in r.url else None)
    filtered = {
        "measures": ["orders.count"],
        "dimensions": ["orders.status"],
        "filters": [{"member": "orders.status", "operator": "equals", "values": ["paid"]}],
    }
    page.goto("/o/play/playground?query=" + quote(json.dumps(filtered)))
    expect(builder).to_be_visible(timeout=10_000)
    expect(page.locator("[data-filter-row] [data-filter-member]")).to_have_value("orders.status")
    expect(page.locator("[data-filter-row] [data-filter-values]")).to_have_value("paid")
    page.click("[data-testid=run]")
    rows = page.locator("[data-testid=result-table] tbody tr")
    expect(rows).to_have_count(1, timeout=30_000)
    assert rows.first.locator("td").all_inner_texts() == ["paid", "4"]
    assert len(loads) >= 2, loads

    # No link: the playground opens on the first cube's first measure by month.
    page.goto("/o/play/playground")
    expect(builder).to_be_visible(timeout=10_000)
    expect(page.locator('[data-chips=measures] [data-member="orders.count"]')).to_be_visible()
    expect(page.locator("[data-testid=granularity]")).to_have_value("month")
    expect(page.locator("[data-testid=date-range]")).to_have_value("last 12 months")
    assert not problems, problems
