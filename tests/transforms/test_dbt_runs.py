"""Real dbt runs against the organization's DuckDB warehouse, through the run machinery."""

from __future__ import annotations

from tests.pipelines.helpers import logs, make_sqlite, org_dir, query, run, wait
from tests.transforms.helpers import children, dag_run, finished, loaded_shop, model, orders

STG = """select id, customer, amount, cast(updated_at as date) as ordered_on
from {{ source('raw', 'orders') }}"""
INC = """select id, amount, '{{ invocation_id }}' as built_by
from {{ ref('stg_orders') }}
{% if is_incremental() %}
where id > (select max(id) from {{ this }})
{% endif %}"""
CUSTOMERS = [f"c{i}" for i in range(7)]


def test_models_tests_incremental_and_snapshot(client, settings, world):
    owner = world.people["owner"]
    org = world.a
    p = loaded_shop(client, settings, owner, org)
    model(
        client,
        owner,
        org,
        "stg_orders",
        STG,
        description="Orders, typed",
        spec={
            "columns": [
                {"name": "id", "tests": [{"type": "unique"}, {"type": "not_null"}]},
                {"name": "customer", "tests": [{"type": "accepted_values", "values": CUSTOMERS}]},
            ]
        },
    )
    model(
        client,
        owner,
        org,
        "orders_inc",
        INC,
        spec={
            "materialization": "incremental",
            "schema": "marts",
            "unique_key": ["id"],
            "incremental_strategy": "delete+insert",
            "columns": [
                {
                    "name": "id",
                    "tests": [{"type": "relationships", "to": "stg_orders", "field": "id"}],
                }
            ],
        },
    )
    model(
        client,
        owner,
        org,
        "orders_snap",
        "select id, amount, cast(updated_at as timestamp) as updated_at\n"
        "from {{ source('raw', 'orders') }}",
        kind="snapshot",
        spec={
            "schema": "marts",
            "unique_key": ["id"],
            "snapshot": {"strategy": "timestamp", "updated_at": "updated_at"},
        },
    )

    first = dag_run(client, owner, org)
    assert first["status"] == "succeeded", [
        (k, v["status"], v["error"]) for k, v in children(client, owner, org, first["id"]).items()
    ]
    nodes = children(client, owner, org, first["id"])
    assert set(nodes) == {"Orders", "stg_orders", "orders_inc", "orders_snap"}
    assert all(n["status"] == "succeeded" for n in nodes.values()), nodes
    # Each node ran after what it depends on.
    assert nodes["Orders"]["finished_at"] <= nodes["stg_orders"]["started_at"]
    assert nodes["stg_orders"]["finished_at"] <= nodes["orders_inc"]["started_at"]
    text = logs(client, owner, org, nodes["stg_orders"]["id"])
    assert "PASS unique_stg_orders_id" in text and "OK created sql view model" in text
    assert query(client, owner, org, "select count(*) from marts.orders_inc") == [[100]]
    assert query(client, owner, org, "select count(*) from marts.orders_snap") == [[100]]

    # New rows and one changed row at the source; the pipeline's success starts its
    # downstream nodes by itself (event-driven), in one DAG run.
    make_sqlite(
        org_dir(client, settings, owner, org) / "shop.sqlite",
        [*orders(101, 121), (5, "c5", 999.0, "2024-02-01")],
    )
    loaded = run(client, owner, org, p["id"])
    assert loaded["status"] == "succeeded", loaded
    follow_up = wait(
        client,
        owner,
        org,
        loaded["id"],
        until=lambda _r: _dag_after(client, owner, org, loaded["id"]) is not None,
    )
    assert follow_up
    downstream = _dag_after(client, owner, org, loaded["id"])
    downstream = finished(client, owner, org, downstream["id"])
    assert downstream["status"] == "succeeded" and downstream["trigger"] == "dependency"
    assert set(children(client, owner, org, downstream["id"])) == {
        "stg_orders",
        "orders_inc",
        "orders_snap",
    }
    # The incremental model processed only the 20 new rows: the old ones keep their builder.
    builders = query(
        client,
        owner,
        org,
        "select count(distinct built_by), count(*), "
        "count(*) filter (where id > 100 and built_by <> (select built_by from marts.orders_inc "
        "where id = 1)) from marts.orders_inc",
    )
    assert builders == [[2, 120, 20]]
    # Only 20 rows have the second build's id, so order 5 kept its first-run amount there.
    assert query(client, owner, org, "select amount from marts.orders_inc where id = 5") == [[5.0]]
    # The snapshot captured the change: two versions of order 5, the old one closed.
    versions = query(
        client,
        owner,
        org,
        "select amount, dbt_valid_to is null from marts.orders_snap where id = 5 order by 1",
    )
    assert versions == [[5.0, False], [999.0, True]]


def _dag_after(client, person, org, pipeline_run_id):
    r = client.get(f"/api/v1/orgs/{org}/runs", params={"kind": "dag"}, headers=person.h)
    for item in r.json()["items"]:
        if item["trigger"] == "dependency":
            return item
    return None


def test_a_failing_model_or_test_fails_its_run_and_skips_downstream(client, settings, world):
    owner = world.people["owner"]
    org = world.a
    loaded_shop(client, settings, owner, org)
    model(
        client,
        owner,
        org,
        "stg_orders",
        STG,
        spec={
            "columns": [
                {"name": "customer", "tests": [{"type": "accepted_values", "values": ["c0"]}]}
            ]
        },
    )
    model(client, owner, org, "after_stg", "select count(*) as n from {{ ref('stg_orders') }}")
    model(client, owner, org, "broken", "select no_such_column from {{ source('raw', 'orders') }}")
    model(client, owner, org, "after_broken", "select * from {{ ref('broken') }}")
    model(client, owner, org, "fine", "select 1 as one")

    done = dag_run(client, owner, org)
    assert done["status"] == "failed"
    assert "2 of 6 nodes failed" in done["error"], done["error"]
    nodes = children(client, owner, org, done["id"])
    assert nodes["Orders"]["status"] == "succeeded"
    assert nodes["fine"]["status"] == "succeeded"
    # The failing test fails its model's run, naming the test and what it found.
    assert nodes["stg_orders"]["status"] == "failed"
    assert "test 'accepted_values_stg_orders_customer__c0' fail" in nodes["stg_orders"]["error"]
    # The failing model fails with the database's message, naming the model and the column.
    assert nodes["broken"]["status"] == "failed"
    assert "model 'broken' error" in nodes["broken"]["error"]
    assert "no_such_column" in nodes["broken"]["error"]
    for name, cause in (("after_stg", "stg_orders"), ("after_broken", "broken")):
        assert nodes[name]["status"] == "skipped"
        assert nodes[name]["error"] == f"Skipped: upstream '{cause}' failed."
        assert nodes[name]["started_at"] is None

    # Retrying the DAG run runs again only what did not succeed.
    r = client.post(f"/api/v1/orgs/{org}/runs/{done['id']}/retry", headers=owner.h)
    assert r.status_code == 202, r.text
    again = finished(client, owner, org, r.json()["id"], timeout=240)
    assert set(children(client, owner, org, again["id"])) == {
        "stg_orders",
        "after_stg",
        "broken",
        "after_broken",
    }
