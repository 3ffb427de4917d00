"""Sources with freshness thresholds, and compile/preview of a model (real dbt, DuckDB)."""

from __future__ import annotations

from tests.transforms.helpers import finished, loaded_shop, model


def _freshness(client, person, org):
    r = client.post(f"/api/v1/orgs/{org}/sources/freshness", headers=person.h)
    assert r.status_code == 202, r.text
    return finished(client, person, org, r.json()["id"])


def test_source_freshness_passes_then_fails_past_its_threshold(client, settings, world):
    owner, org = world.people["owner"], world.a
    loaded_shop(client, settings, owner, org)
    items = client.get(f"/api/v1/orgs/{org}/sources", headers=owner.h).json()["items"]
    orders = next(i for i in items if (i["dataset"], i["table"]) == ("raw", "orders"))
    assert orders["source"] == "{{ source('raw', 'orders') }}"
    assert {c["name"] for c in orders["columns"]} >= {"id", "customer", "amount"}

    # Loaded from Arrow, the table has no per-row load time: freshness needs a clock.
    url = f"/api/v1/orgs/{org}/sources/raw/orders"
    r = client.put(url, json={"error_after": {"count": 1, "period": "hour"}}, headers=owner.h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "loaded_at_field"
    clock = "cast(updated_at as timestamp)"
    r = client.put(
        url,
        json={"loaded_at_field": clock, "error_after": {"count": 10_000, "period": "day"}},
        headers=owner.h,
    )
    assert r.status_code == 200, r.text
    fresh = _freshness(client, owner, org)
    assert fresh["status"] == "succeeded", fresh["error"]
    assert {r["name"]: r["status"] for r in fresh["results"]} == {"raw.orders": "pass"}

    # Measured by the orders' own dates (2024): far older than a day.
    r = client.put(
        url,
        json={
            "description": "Orders from the shop",
            "loaded_at_field": clock,
            "warn_after": {"count": 12, "period": "hour"},
            "error_after": {"count": 1, "period": "day"},
        },
        headers=owner.h,
    )
    assert r.status_code == 200 and r.json()["description"] == "Orders from the shop"
    stale = _freshness(client, owner, org)
    assert stale["status"] == "failed"
    assert "source 'raw.orders' error" in stale["error"]

    r = client.put(url, json={"error_after": {"count": 1, "period": "fortnight"}}, headers=owner.h)
    assert r.status_code == 422 and "period" in r.text
    r = client.put(f"/api/v1/orgs/{org}/sources/raw/nope", json={}, headers=owner.h)
    assert r.status_code == 404


def test_compile_and_preview_resolve_refs_and_read_only_rows(client, settings, world):
    owner, org = world.people["owner"], world.a
    loaded_shop(client, settings, owner, org)
    stg = model(
        client, owner, org, "stg_orders", "select id, amount from {{ source('raw', 'orders') }}"
    )
    big = model(
        client, owner, org, "big_orders", "select * from {{ ref('stg_orders') }} where amount > 90"
    )
    r = client.post(
        f"/api/v1/orgs/{org}/transformations/{big['id']}/compile", json={}, headers=owner.h
    )
    assert r.status_code == 200, r.text
    assert '"staging"."stg_orders"' in r.json()["compiled_sql"]
    assert r.json()["refs"] == ["stg_orders"]

    # Preview reads the source through its (not yet built) upstream? No: build it first.
    r = client.post(f"/api/v1/orgs/{org}/transformations/{stg['id']}/run", headers=owner.h)
    assert finished(client, owner, org, r.json()["id"])["status"] == "succeeded"
    r = client.post(
        f"/api/v1/orgs/{org}/transformations/{big['id']}/preview",
        json={"limit": 5},
        headers=owner.h,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert [c["name"] for c in body["columns"]] == ["id", "amount"]
    assert len(body["rows"]) == 5 and all(row[1] > 90 for row in body["rows"])
    assert body["truncated"] is True

    # Unsaved SQL previews without saving; a broken one names the line.
    r = client.post(
        f"/api/v1/orgs/{org}/transformations/{big['id']}/preview",
        json={"sql": "select count(*) as n from {{ ref('stg_orders') }}"},
        headers=owner.h,
    )
    assert r.status_code == 200 and r.json()["rows"] == [[100]]
    r = client.post(
        f"/api/v1/orgs/{org}/transformations/{big['id']}/compile",
        json={"sql": "select id\nfrom {{ ref('stg_orders') }}\nwhere"},
        headers=owner.h,
    )
    assert r.status_code == 422 and "model 'big_orders', line 3" in r.text
    saved = client.get(f"/api/v1/orgs/{org}/transformations/{big['id']}", headers=owner.h).json()
    assert "amount > 90" in saved["sql"]
