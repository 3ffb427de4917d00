"""dbt runs of two organizations stay in their own warehouses and see no server secret."""

from __future__ import annotations

import pytest

from tests.pipelines.helpers import query
from tests.transforms.helpers import finished, loaded_shop, model, orders

SECRET = "server-secret-value-0123456789abcdef"
ENV_MODEL = (
    "select '{{ env_var('TENANTRY_SECRET_KEY', '') }}' as secret_key,\n"
    "       '{{ env_var('TENANTRY_DATABASE_URL', '') }}' as database_url,\n"
    "       '{{ env_var('DO_NOT_TRACK', '') }}' as do_not_track"
)


def _build(client, person, org):
    r = client.post(
        f"/api/v1/orgs/{org}/transformations/run", json={"command": "build"}, headers=person.h
    )
    assert r.status_code == 202, r.text
    return r.json()["id"]


def _schema(client, person, org, kind):
    info = client.get(f"/api/v1/orgs/{org}/warehouse", headers=person.h).json()
    return (info.get("schemas") or {}).get(kind, kind)


def _no_profiles_left(settings):
    root = settings.data_dir.resolve()
    assert not list(root.rglob("profiles.yml")), "a profile with credentials was left behind"


def _two_orgs_build_at_once(client, settings, world):
    owner, b_owner = world.people["owner"], world.b_owner
    loaded_shop(client, settings, owner, world.a, orders(1, 101))
    loaded_shop(client, settings, b_owner, world.b, orders(1, 31))
    for org, person in ((world.a, owner), (world.b, b_owner)):
        model(
            client,
            person,
            org,
            "order_count",
            "select count(*) as n from {{ source('raw', 'orders') }}",
            spec={
                "materialization": "table",
                "schema": "marts",
                "columns": [{"name": "n", "tests": [{"type": "not_null"}]}],
            },
        )
        model(client, person, org, "env_seen", ENV_MODEL, spec={"materialization": "table"})
    started = {world.a: _build(client, owner, world.a), world.b: _build(client, b_owner, world.b)}
    for org, person in ((world.a, owner), (world.b, b_owner)):
        done = finished(client, person, org, started[org])
        assert done["status"] == "succeeded", done["error"]
        results = {r["name"]: r["status"] for r in done["results"]}
        assert results == {
            "order_count": "success",
            "env_seen": "success",
            "not_null_order_count_n": "pass",
        }
    for org, person, n in ((world.a, owner, 100), (world.b, b_owner, 30)):
        marts = _schema(client, person, org, "marts")
        assert query(client, person, org, f"select n from {marts}.order_count") == [[n]]
    # env_var() sees only what dbt needs: the server's secrets are not in its environment.
    staging = _schema(client, owner, world.a, "staging")
    seen = query(client, owner, world.a, f"select * from {staging}.env_seen")
    assert seen == [["", "", "1"]]
    _no_profiles_left(settings)


def test_duckdb_orgs_build_apart_without_server_secrets(client, settings, world, monkeypatch):
    monkeypatch.setenv("TENANTRY_SECRET_KEY", SECRET)
    _two_orgs_build_at_once(client, settings, world)


def test_postgres_orgs_build_apart_and_cannot_read_each_other(
    client, settings, world, pg_warehouse, monkeypatch
):
    monkeypatch.setenv("TENANTRY_SECRET_KEY", SECRET)
    _two_orgs_build_at_once(client, settings, world)
    from tests.warehouse.test_postgres import _store

    owner, b_owner = world.people["owner"], world.b_owner
    b_raw = _store(client, world.b, b_owner).schemas["raw"]
    a_store = _store(client, world.a, owner)
    # Arbitrary SQL in org A's model: the database refuses B's schema to A's role.
    model(client, owner, world.a, "peek", f'select * from "{b_raw}".orders')
    r = client.post(
        f"/api/v1/orgs/{world.a}/transformations/run",
        json={"command": "run", "select": "peek"},
        headers=owner.h,
    )
    done = finished(client, owner, world.a, r.json()["id"])
    assert done["status"] == "failed"
    assert "model 'peek' error" in done["error"] and "permission denied" in done["error"]
    # The organization's password is in no file dbt left behind.
    project = settings.data_dir.resolve() / "orgs"
    for path in project.rglob("*"):
        if path.is_file() and path.suffix in (".yml", ".json", ".sql", ".msgpack"):
            assert a_store.password.encode() not in path.read_bytes(), path
    _no_profiles_left(settings)


@pytest.fixture(autouse=True)
def _short_lock(settings):
    settings.dbt_lock_timeout_seconds = 120
