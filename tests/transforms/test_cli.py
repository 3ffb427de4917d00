"""`tenantry transforms …` and `tenantry dag …` as real subprocesses, with real dbt runs."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

from tenantry.app import create_app
from tests.cli.test_cli import tenantry
from tests.helpers import create_org, signup
from tests.transforms.helpers import loaded_shop

COMMANDS = [
    ["transforms"],
    ["transforms", "list"],
    ["transforms", "show"],
    ["transforms", "push"],
    ["transforms", "compile"],
    ["transforms", "preview"],
    ["transforms", "run"],
    ["transforms", "test"],
    ["transforms", "freshness"],
    ["dag"],
    ["dag", "show"],
    ["dag", "edge-add"],
    ["dag", "edge-rm"],
    ["dag", "run"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help(command):
    r = tenantry(None, *command, "--help")
    assert r.returncode == 0, r.stderr
    assert "Usage" in r.stdout


def test_push_compile_preview_run_and_the_dag(settings, tmp_path):
    with TestClient(create_app(settings)) as client:
        ada = signup(client, "ada@example.com")
        create_org(client, ada, "Acme")
        loaded_shop(client, settings, ada, "acme")
    org = ("--org", "acme")

    stg = tmp_path / "stg_orders.sql"
    stg.write_text("select id, customer, amount\nfrom {{ source('raw', 'orders') }}\n")
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"columns": [{"name": "id", "tests": [{"type": "unique"}]}]}))
    made = tenantry(
        settings, "transforms", "push", str(stg), *org, "--materialization", "table",
        "--tags", "daily", "--spec", str(spec),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "Created stg_orders (model, table in staging)" in made.stdout

    # Pushing again updates it: new SQL, the options given, the rest of the spec kept.
    stg.write_text(
        "select id, customer, amount\nfrom {{ source('raw', 'orders') }}\nwhere id > 0\n"
    )
    again = tenantry(settings, "transforms", "push", str(stg), *org, "--schema", "marts")
    assert again.returncode == 0 and "Updated stg_orders (model, table in marts)" in again.stdout
    shown = tenantry(settings, "transforms", "show", "stg_orders", *org)
    assert shown.returncode == 0, shown.stderr
    assert "where id > 0" in shown.stdout and "raw.orders" in shown.stdout
    assert '"daily"' in shown.stdout and '"unique"' in shown.stdout

    bad = tmp_path / "broken.sql"
    bad.write_text("select id,\n  amount\nfrom where\n")
    refused = tenantry(settings, "transforms", "push", str(bad), *org)
    assert refused.returncode == 1 and "model 'broken', line 3" in refused.stderr
    assert "Traceback" not in refused.stderr

    compiled = tenantry(settings, "transforms", "compile", "stg_orders", *org)
    assert compiled.returncode == 0, compiled.stderr
    assert re.search(r'"raw"\."orders"|raw\.orders', compiled.stdout)
    rows = tenantry(settings, "transforms", "preview", "stg_orders", *org, "--limit", "3")
    assert rows.returncode == 0, rows.stderr
    assert rows.stdout.splitlines()[0].split() == ["id", "customer", "amount"]
    assert "3 rows (more exist)" in rows.stdout

    built = tenantry(settings, "transforms", "run", "stg_orders", *org, "--wait")
    assert built.returncode == 0, built.stderr
    assert "run succeeded" in built.stderr and "dbt build" in built.stdout
    listed = tenantry(settings, "transforms", "list", *org)
    assert re.search(r"stg_orders\s+table\s+marts\s+succeeded", listed.stdout), listed.stdout
    tested = tenantry(settings, "transforms", "test", *org, "--wait")
    assert tested.returncode == 0, tested.stderr

    # The DAG: the pipeline feeds stg_orders (inferred); an edge added by hand orders another.
    summary = tmp_path / "order_count.sql"
    summary.write_text("select count(*) as n from {{ source('raw', 'orders') }}\n")
    assert tenantry(settings, "transforms", "push", str(summary), *org).returncode == 0
    added = tenantry(settings, "dag", "edge-add", "stg_orders", "order_count", *org)
    assert added.returncode == 0, added.stderr
    edge_id = added.stdout.split()[0]
    cycle = tenantry(settings, "dag", "edge-add", "order_count", "Orders", *org)
    assert cycle.returncode == 1 and "cycle" in cycle.stderr
    unknown = tenantry(settings, "dag", "edge-add", "nope", "Orders", *org)
    assert (
        unknown.returncode == 1 and "no pipeline or transformation named 'nope'" in unknown.stderr
    )
    graph = tenantry(settings, "dag", "show", *org)
    assert graph.returncode == 0, graph.stderr
    assert re.search(r"Orders → stg_orders\s+inferred \(reads raw.orders\)", graph.stdout)
    assert f"id {edge_id}" in graph.stdout and "layer 3" in graph.stdout

    ran = tenantry(settings, "dag", "run", *org, "--from", "stg_orders", "--wait")
    assert ran.returncode == 0, (ran.stdout, ran.stderr)
    assert re.search(r"stg_orders\s+succeeded", ran.stdout)
    assert re.search(r"order_count\s+succeeded", ran.stdout)
    assert "Orders" not in ran.stdout  # upstream of the start: not part of this run
    assert "run succeeded" in ran.stderr

    removed = tenantry(settings, "dag", "edge-rm", edge_id, *org)
    assert removed.returncode == 0 and f"removed {edge_id}" in removed.stdout
    assert "added" not in tenantry(settings, "dag", "show", *org).stdout
