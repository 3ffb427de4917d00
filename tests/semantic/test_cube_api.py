"""The Cube-compatible API end to end: tenancy, security contexts, access policies, errors and
caching — over real DuckDB warehouses, one per organization."""

from __future__ import annotations

import time

import jwt
import pytest
from fastapi.testclient import TestClient

from tenantry.app import create_app
from tests.helpers import api_key
from tests.semantic.helpers import (
    OPEN_MODEL,
    expected,
    load,
    org_id,
    sample_rows,
    save_model,
    token,
    write_sales,
)

BY_REGION = {"measures": ["sales.count", "sales.amount"], "dimensions": ["sales.region"]}


@pytest.fixture
def two(client, world, settings):
    """Orgs A and B with the same model over different data in their own warehouses."""
    owner, b_owner = world.people["owner"], world.b_owner
    a_id, b_id = org_id(client, owner, world.a), org_id(client, b_owner, world.b)
    write_sales(settings, a_id, sample_rows(1))
    write_sales(settings, b_id, sample_rows(7, n=25))
    save_model(client, owner, world.a, OPEN_MODEL)
    save_model(client, b_owner, world.b, OPEN_MODEL)
    return {
        "a": (a_id, token(client, owner, world.a)),
        "b": (b_id, token(client, b_owner, world.b)),
    }


def _rows(body) -> list[tuple]:
    return sorted(
        (r["sales.region"], int(r["sales.count"]), float(r["sales.amount"])) for r in body["data"]
    )


def _truth(settings, org) -> list[tuple]:
    found = expected(
        settings, org, "SELECT region, count(*), sum(amount) FROM marts.sales GROUP BY 1"
    )
    return sorted((r, int(c), float(a)) for r, c, a in found)


def test_each_tenant_alternately_gets_its_own_data(client, two, settings):
    """Cube #4129: two tenants, distinct warehouses, queried alternately — never crossed."""
    for _ in range(3):
        for name in ("a", "b", "a", "b"):
            org, tok = two[name]
            r = load(client, tok, BY_REGION)
            assert r.status_code == 200, r.text
            assert _rows(r.json()) == _truth(settings, org)
    rt = client.app.state.semantic
    # The four tenant-keyed things are keyed by the same organization id.
    assert {k[0] for k in rt.models._models} == {two["a"][0], two["b"][0]}
    for name in ("a", "b"):
        org = two[name][0]
        assert org in str(rt.targets.get(org).store.path)
        assert rt.targets.get(org).org_id == org


def test_regular_and_multi_responses_have_cube_shapes(client, two):
    _, tok = two["a"]
    query = {
        "measures": ["sales.count"],
        "timeDimensions": [
            {
                "dimension": "sales.sold_at",
                "granularity": "month",
                "dateRange": ["2024-01-01", "2024-03-31"],
            }
        ],
    }
    plain = load(client, tok, query).json()
    assert {"query", "data", "annotation", "lastRefreshTime"} <= set(plain)
    assert plain["data"][0]["sales.sold_at.month"] == "2024-01-01T00:00:00.000"
    assert plain["data"][0]["sales.sold_at"] == "2024-01-01T00:00:00.000"
    assert "sales.sold_at.month" in plain["annotation"]["timeDimensions"]
    assert plain["annotation"]["measures"]["sales.count"]["type"] == "number"
    multi = client.get(
        "/cubejs-api/v1/load",
        params={"query": __import__("json").dumps(query), "queryType": "multi"},
        headers={"Authorization": f"Bearer {tok}"},
    ).json()
    assert multi["queryType"] == "regularQuery" and multi["results"][0]["data"] == plain["data"]
    assert multi["pivotQuery"]["queryType"] == "regularQuery"
    meta = client.get("/cubejs-api/v1/meta", headers={"Authorization": tok}).json()
    cube = next(c for c in meta["cubes"] if c["name"] == "sales")
    assert {m["name"] for m in cube["measures"]} == {"sales.count", "sales.amount"}
    sql = client.post("/cubejs-api/v1/sql", json={"query": query}, headers={"Authorization": tok})
    assert "select" in sql.json()["sql"]["sql"][0].lower()
    dry = client.post(
        "/cubejs-api/v1/dry-run", json={"query": query}, headers={"Authorization": tok}
    )
    assert dry.json()["queryType"] == "regularQuery" and dry.json()["normalizedQueries"]
    assert client.get("/livez").json() == {"health": "HEALTH"}
    assert client.get("/readyz").json()["health"] == "HEALTH"


def test_bad_queries_answer_400_naming_the_member(client, two):
    _, tok = two["a"]
    r = load(client, tok, {"measures": ["sales.nope"]})
    assert r.status_code == 400 and "sales.nope" in r.json()["error"]
    r = load(client, tok, {"measures": ["sales.count"], "limit": 50001})
    assert r.status_code == 400 and "50000" in r.json()["error"]
    r = client.get("/cubejs-api/v1/load?query={bad", headers={"Authorization": tok})
    assert r.status_code == 400 and "JSON" in r.json()["error"]


def test_bad_credentials_answer_403(client, two, world):
    org_a, tok = two["a"]
    header = jwt.get_unverified_header(tok)
    claims = jwt.decode(tok, options={"verify_signature": False})
    secret_of_b = client.post(
        f"/api/v1/orgs/{world.b}/semantic/keys", json={}, headers=world.b_owner.h
    ).json()
    forged = [
        tok[:-4] + ("AAAA" if not tok.endswith("AAAA") else "BBBB"),  # tampered signature
        jwt.encode(claims, None, algorithm="none", headers={"kid": header["kid"]}),
        jwt.encode(claims | {"exp": int(time.time()) - 60}, "x", headers=header),
        jwt.encode(claims, "guess", headers={"kid": "sk_" + "0" * 32}),  # unknown tenant/key
        # B's own key, claiming to be A: it is still B's token, and names another org.
        jwt.encode(claims, secret_of_b["secret"], headers={"kid": secret_of_b["kid"]}),
        "not-a-jwt",
    ]
    for bad in forged:
        r = load(client, bad, BY_REGION)
        assert r.status_code == 403, (bad, r.text)
        assert "error" in r.json() and tok not in r.text
    assert load(client, "", BY_REGION).status_code == 403


def test_api_keys_and_sessions_reach_only_their_own_org(client, two, world, settings):
    owner = world.people["owner"]
    key = api_key(client, owner, world.a, ["semantic"])["key"]
    r = load(client, f"Bearer {key}", BY_REGION)
    assert r.status_code == 200 and _rows(r.json()) == _truth(settings, two["a"][0])
    write_only = api_key(client, owner, world.a, ["write"])["key"]
    assert load(client, write_only, BY_REGION).status_code == 403


def test_row_level_policies_follow_the_token_claims(client, world, settings):
    from tests.semantic.helpers import SALES_MODEL

    owner = world.people["owner"]
    org = org_id(client, owner, world.a)
    write_sales(settings, org, sample_rows(1))
    save_model(client, owner, world.a, SALES_MODEL)
    for store in (1, 2):
        tok = token(client, owner, world.a, {"store_id": store, "roles": ["store_user"]})
        got = load(client, tok, BY_REGION)
        assert got.status_code == 200, got.text
        truth = expected(
            settings,
            org,
            f"SELECT region, count(*), sum(amount) FROM marts.sales WHERE store_id = {store} "
            "GROUP BY 1",
        )
        assert _rows(got.json()) == sorted((r, int(c), float(a)) for r, c, a in truth)
    missing = load(client, token(client, owner, world.a, {"roles": ["store_user"]}), BY_REGION)
    assert missing.status_code == 403 and "store_id" in missing.json()["error"]
    no_role = load(client, token(client, owner, world.a, {"store_id": 1}), BY_REGION)
    assert no_role.status_code == 403 and "no access policy" in no_role.json()["error"]
    manager = load(client, token(client, owner, world.a, {"roles": ["manager"]}), BY_REGION)
    assert _rows(manager.json()) == _truth(settings, org)
    # An auditor sees counts by region, and not the amounts.
    auditor = token(client, owner, world.a, {"roles": ["auditor"]})
    assert load(client, auditor, {"measures": ["sales.count"]}).status_code == 200
    refused = load(client, auditor, BY_REGION)
    assert refused.status_code == 403 and "sales.amount" in refused.json()["error"]
    meta = client.get("/cubejs-api/v1/meta", headers={"Authorization": auditor}).json()
    names = {m["name"] for c in meta["cubes"] for m in c["measures"] + c["dimensions"]}
    assert "sales.amount" not in names and "sales.count" in names
    # A hostile claim value is a literal, never SQL.
    hostile = token(client, owner, world.a, {"store_id": "1 OR 1=1", "roles": ["store_user"]})
    r = load(client, hostile, BY_REGION)
    assert r.status_code in (200, 400) and (r.status_code == 400 or r.json()["data"] == [])


def test_cache_serves_until_refresh_key_and_no_cache_reads_fresh(client, two, settings):
    org, tok = two["a"]
    first = load(client, tok, BY_REGION).json()
    write_sales(settings, org, sample_rows(3))  # the data changes; the refresh key (1 h) not
    cached = load(client, tok, BY_REGION).json()
    assert cached["data"] == first["data"]
    assert cached["lastRefreshTime"] == first["lastRefreshTime"]
    fresh = load(client, tok, BY_REGION, cache="no-cache").json()
    assert _rows(fresh) == _truth(settings, org) != _rows(first)
    r = load(client, tok, BY_REGION, cache="sometimes")
    assert r.status_code == 400 and "must-revalidate" in r.json()["error"]


def test_a_slow_query_answers_continue_wait_then_its_result(settings, tmp_path):
    from tests.helpers import build_world

    quick = settings.model_copy(update={"semantic_continue_wait_seconds": 0.05})
    with TestClient(create_app(quick)) as client:
        world = build_world(client)
        owner = world.people["owner"]
        org = org_id(client, owner, world.a)
        write_sales(quick, org, sample_rows(1))
        slow = OPEN_MODEL + (
            "  - name: slow\n"
            "    sql: >\n"
            "      SELECT count(*) AS n FROM range(100000000) a WHERE a.range % 7 = 3\n"
            "    measures:\n"
            "      - name: n\n"
            "        sql: n\n"
            "        type: sum\n"
        )
        save_model(client, owner, world.a, slow)
        tok = token(client, owner, world.a)
        answers = []
        for _ in range(200):
            r = load(client, tok, {"measures": ["slow.n"]})
            answers.append(r.json())
            if "data" in r.json():
                break
            time.sleep(0.05)
        assert answers[0] == {"error": "Continue wait"}
        assert answers[-1]["data"] == [{"slow.n": str((100000000 - 4) // 7 + 1)}]


def test_cors_is_configurable_and_only_for_the_cube_api(settings):
    allowed = settings.model_copy(update={"semantic_cors_origins": "https://shop.example"})
    preflight = {
        "Origin": "https://shop.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    with TestClient(create_app(allowed)) as client:
        r = client.options("/cubejs-api/v1/load", headers=preflight)
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "https://shop.example"
        other = client.options(
            "/cubejs-api/v1/load", headers=preflight | {"Origin": "https://x.example"}
        )
        assert "access-control-allow-origin" not in other.headers
        api = client.options("/api/v1/orgs", headers=preflight)
        assert "access-control-allow-origin" not in api.headers
    with TestClient(create_app(settings)) as client:  # unset: no CORS at all
        r = client.options("/cubejs-api/v1/load", headers=preflight)
        assert "access-control-allow-origin" not in r.headers
