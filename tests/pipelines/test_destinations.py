"""Destinations other than the warehouse: a DuckDB file of the organization's own, and the
cloud warehouses (validated and wired to dlt; they cannot be reached from here)."""

from __future__ import annotations

import json

import duckdb
import pytest

from tenantry.connections.kinds import get_kind
from tenantry.pipelines.destinations import (
    DestinationPlan,
    build_destination,
    connection_credentials,
)
from tests.pipelines.helpers import connection, make_sqlite, org_dir, pipeline, query, run

KEY = {"client_email": "loader@proj.iam.gserviceaccount.com", "private_key": "-----BEGIN k-----"}
CLOUD = {
    "bigquery": {"project_id": "proj", "location": "EU", "service_account_json": json.dumps(KEY)},
    "snowflake": {
        "account": "xy12345.eu-central-1",
        "user": "LOADER",
        "password": "sn0w-pass",
        "database": "ANALYTICS",
        "warehouse": "LOADING",
    },
    "redshift": {
        "host": "cluster.abc.eu-west-1.redshift.amazonaws.com",
        "database": "dev",
        "user": "loader",
        "password": "r3d-pass",
    },
}


def test_a_pipeline_loads_into_a_duckdb_file_of_the_organization(client, settings, world):
    owner, editor = world.people["owner"], world.people["editor"]
    files = org_dir(client, settings, owner, world.a)
    make_sqlite(files / "shop.sqlite", [(i, "c", 1.0, "2024-01-01") for i in range(1, 8)])
    source = connection(client, owner, world.a, "Shop", "sqlite", {"path": "shop.sqlite"})
    target = connection(client, owner, world.a, "Mart file", "duckdb", {"path": "mart.duckdb"})
    p = pipeline(
        client,
        editor,
        world.a,
        "To file",
        source,
        {"mode": "table", "table": "orders", "dataset": "exports"},
        destination_id=target,
    )
    done = run(client, editor, world.a, p["id"])
    assert done["status"] == "succeeded", done["error"]
    conn = duckdb.connect(str(files / "mart.duckdb"), read_only=True)
    assert conn.execute("SELECT count(*) FROM exports.orders").fetchone() == (7,)
    conn.close()
    tables = client.get(f"/api/v1/orgs/{world.a}/warehouse", headers=editor.h).json()["tables"]
    assert not [t for t in tables if t["name"] == "orders"]  # not into the warehouse


def test_the_warehouse_offers_only_its_datasets(client, settings, world):
    owner = world.people["owner"]
    make_sqlite(org_dir(client, settings, owner, world.a) / "s.sqlite", [])
    source = connection(client, owner, world.a, "Shop", "sqlite", {"path": "s.sqlite"})
    r = client.post(
        f"/api/v1/orgs/{world.a}/pipelines",
        json={
            "name": "x",
            "source_id": source,
            "spec": {"mode": "table", "table": "orders", "dataset": "elsewhere"},
        },
        headers=owner.h,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "spec.dataset"
    assert "raw, staging, marts" in r.json()["errors"][0]["message"]


@pytest.mark.parametrize("kind", sorted(CLOUD))
def test_cloud_destinations_are_validated_and_wired_to_dlt(kind):
    k = get_kind(kind)
    assert k.direction == "destination" and k.reachable is False
    config = k.config.model_validate(CLOUD[kind])
    factory = build_destination(
        DestinationPlan(kind, kind, "raw", credentials=connection_credentials(kind, config, "h"))
    )
    wired = factory.configuration(factory.spec(), accept_partial=True)
    creds = wired.credentials
    if kind == "bigquery":
        assert creds.project_id == "proj" and creds.client_email == KEY["client_email"]
        assert wired.location == "EU"
    elif kind == "snowflake":
        assert creds.host == "xy12345.eu-central-1" and creds.warehouse == "LOADING"
        assert creds.password == "sn0w-pass"
    else:
        assert (creds.host, creds.port, creds.username) == ("h", 5439, "loader")


def test_cloud_destination_config_errors_name_the_field(client, world):
    owner = world.people["owner"]
    bad = {**CLOUD["bigquery"], "service_account_json": "{not json"}
    r = client.post(
        f"/api/v1/orgs/{world.a}/connections",
        json={"name": "BQ", "kind": "bigquery", "config": bad},
        headers=owner.h,
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "config.service_account_json"
    r = client.post(
        f"/api/v1/orgs/{world.a}/connections",
        json={"name": "SF", "kind": "snowflake", "config": CLOUD["snowflake"]},
        headers=owner.h,
    )
    assert r.status_code == 201 and r.json()["config"]["password"] == "********"
    # A cloud warehouse is a destination: it cannot be a pipeline's source.
    r = client.post(
        f"/api/v1/orgs/{world.a}/pipelines",
        json={"name": "x", "source_id": r.json()["id"], "spec": {"mode": "table", "table": "t"}},
        headers=owner.h,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "source_id"


def test_a_run_into_an_unreachable_cloud_warehouse_fails_clearly(client, settings, world):
    owner, editor = world.people["owner"], world.people["editor"]
    make_sqlite(org_dir(client, settings, owner, world.a) / "s.sqlite", [(1, "c", 1.0, "d")])
    source = connection(client, owner, world.a, "Shop", "sqlite", {"path": "s.sqlite"})
    config = {**CLOUD["redshift"], "host": "redshift.invalid"}
    target = connection(client, owner, world.a, "RS", "redshift", config)
    p = pipeline(
        client,
        editor,
        world.a,
        "To RS",
        source,
        {"mode": "table", "table": "orders"},
        destination_id=target,
    )
    done = run(client, editor, world.a, p["id"])
    assert done["status"] == "failed"
    assert "redshift.invalid" in done["error"] and "r3d-pass" not in done["error"]
    assert query(client, editor, world.a, "SELECT 1") == [[1]]
