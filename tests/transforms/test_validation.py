"""Saving a transformation checks it whole: SQL, references, tests, cycles (no dbt needed)."""

from __future__ import annotations

from tests.transforms.helpers import loaded_shop, model


def _post(client, person, org, **body):
    return client.post(f"/api/v1/orgs/{org}/transformations", json=body, headers=person.h)


def test_errors_name_the_model_and_the_line(client, settings, world):
    editor = world.people["owner"]
    loaded_shop(client, settings, editor, world.a)
    r = _post(client, editor, world.a, name="stg", sql="select id,\n  amount\nfrom where")
    assert r.status_code == 422
    assert "model 'stg', line 3" in r.json()["detail"]
    assert r.json()["errors"][0]["field"] == "sql"

    r = _post(client, editor, world.a, name="stg", sql="select 1 as a\nfrom {{ ref('nope') }}")
    assert r.status_code == 422
    assert "model 'stg', line 2: ref('nope')" in r.json()["detail"]

    r = _post(client, editor, world.a, name="stg", sql="select * from {{ source('raw', 'gone') }}")
    assert r.status_code == 422 and "source('raw', 'gone') is not in the warehouse" in r.text

    r = _post(client, editor, world.a, name="stg", sql="select {{ oops ")
    assert r.status_code == 422 and "line 1: template error" in r.text

    r = _post(client, editor, world.a, name="stg", sql="delete from raw.orders")
    assert r.status_code == 422 and "not DELETE" in r.text

    bad_spec = {"materialization": "incremental", "incremental_strategy": "merge"}
    r = _post(client, editor, world.a, name="stg", sql="select 1 as a", spec=bad_spec)
    assert r.status_code == 422 and "unique_key" in r.text

    r = _post(
        client,
        editor,
        world.a,
        name="snap",
        kind="snapshot",
        sql="select * from {{ source('raw', 'orders') }}",
    )
    assert r.status_code == 422 and "strategy" in r.text
    # Nothing was saved by any of these.
    listed = client.get(f"/api/v1/orgs/{world.a}/transformations", headers=editor.h).json()
    assert listed["total"] == 0


def test_a_cycle_is_refused_with_its_path(client, settings, world):
    editor = world.people["owner"]
    p = loaded_shop(client, settings, editor, world.a)
    a = model(client, editor, world.a, "a", "select * from {{ source('raw', 'orders') }}")
    b = model(client, editor, world.a, "b", "select * from {{ ref('a') }}")
    c = model(client, editor, world.a, "c", "select * from {{ ref('b') }}")
    r = client.patch(
        f"/api/v1/orgs/{world.a}/transformations/{a['id']}",
        json={"sql": "select * from {{ ref('c') }}"},
        headers=editor.h,
    )
    assert r.status_code == 422, r.text
    assert "this would make a cycle: a → b → c → a" in r.json()["detail"]

    # Inferred edges: pipeline → a (its source), a → b → c (their refs).
    graph = client.get(f"/api/v1/orgs/{world.a}/dag", headers=editor.h).json()
    edges = {(e["from"], e["to"], e["inferred"]) for e in graph["edges"]}
    assert (f"pipeline:{p['id']}", f"transformation:{a['id']}", True) in edges
    assert (f"transformation:{a['id']}", f"transformation:{b['id']}", True) in edges
    assert (f"transformation:{b['id']}", f"transformation:{c['id']}", True) in edges
    names = [[n.split(":")[0] for n in layer] for layer in graph["layers"]]
    assert names[0] == ["pipeline"] and len(graph["layers"]) == 4

    # An explicit edge closing a cycle is refused the same way, naming the path.
    r = client.post(
        f"/api/v1/orgs/{world.a}/dag/edges",
        json={
            "upstream_kind": "transformation",
            "upstream_id": c["id"],
            "downstream_kind": "pipeline",
            "downstream_id": p["id"],
        },
        headers=editor.h,
    )
    assert r.status_code == 422, r.text
    assert "cycle: Orders → a → b → c → Orders" in r.json()["detail"]
    r = client.post(
        f"/api/v1/orgs/{world.a}/dag/edges",
        json={
            "upstream_kind": "transformation",
            "upstream_id": a["id"],
            "downstream_kind": "transformation",
            "downstream_id": c["id"],
        },
        headers=editor.h,
    )
    assert r.status_code == 201, r.text
    edge_id = r.json()["id"]
    graph = client.get(f"/api/v1/orgs/{world.a}/dag", headers=editor.h).json()
    assert any(e["id"] == edge_id and not e["inferred"] for e in graph["edges"])
    r = client.delete(f"/api/v1/orgs/{world.a}/dag/edges/{edge_id}", headers=editor.h)
    assert r.status_code == 204
    # A model others ref() cannot be deleted from under them.
    r = client.delete(f"/api/v1/orgs/{world.a}/transformations/{a['id']}", headers=editor.h)
    assert r.status_code == 409 and "'a' is used by b" in r.text
