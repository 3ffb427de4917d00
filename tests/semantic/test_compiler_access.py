"""Access policies: who may query which cube and member, which rows they see, and what /meta
shows them. A missing claim denies, never widens."""

from __future__ import annotations

import pytest

from tenantry.core.errors import PermissionDenied
from tenantry.semantic.compiler import AccessDenied, SecurityContext, compile_query, meta
from tests.semantic.compiler_helpers import NOW, DuckWarehouse, load_model


@pytest.fixture(scope="module")
def model():
    return load_model()


@pytest.fixture(scope="module")
def duck():
    wh = DuckWarehouse()
    yield wh
    wh.close()


def ctx(*roles, **claims):
    return SecurityContext(claims=claims, roles=roles)


def compile_(model, query, context):
    return compile_query(model, query, context=context, now=NOW)


def denied(model, query, context) -> AccessDenied:
    with pytest.raises(AccessDenied) as info:
        compile_(model, query, context)
    assert isinstance(info.value, PermissionDenied) and info.value.status == 403
    return info.value


COUNT = {"measures": ["secure_orders.count"]}


def test_no_matching_policy_denies_the_cube(model):
    err = denied(model, COUNT, ctx())
    assert "'secure_orders'" in str(err)
    err = denied(model, COUNT, ctx("intern"))
    assert "intern" in str(err)
    # through a view, and when the secured cube is only joined in
    denied(model, {"measures": ["secure_sales.count"]}, ctx())
    denied(model, {"measures": ["line_items.count"], "dimensions": ["secure_orders.status"]}, ctx())
    # cubes without policies stay open
    compile_(model, {"measures": ["orders.count"]}, ctx())


def test_security_context_from_claims():
    assert SecurityContext.from_claims({"roles": ["a", "b"]}).roles == ("a", "b")
    assert SecurityContext.from_claims({"role": "a"}, ("platform",)).roles == ("a", "platform")
    assert SecurityContext.from_claims(None).roles == ()


def test_member_level_policies(model):
    staff = ctx("store_staff", store_id=1)
    compile_(
        model, {"measures": ["secure_orders.count"], "dimensions": ["secure_orders.status"]}, staff
    )
    err = denied(model, {"measures": ["secure_orders.revenue"]}, staff)
    assert "'secure_orders.revenue'" in str(err)
    # a filter or an order on a member outside the policy is refused too
    denied(
        model,
        {
            **COUNT,
            "filters": [{"member": "secure_orders.revenue", "operator": "gt", "values": ["1"]}],
        },
        staff,
    )
    denied(model, {**COUNT, "order": {"secure_orders.revenue": "desc"}}, staff)
    denied(model, {"measures": ["secure_sales.revenue"]}, staff)  # through a view too
    # excludes: the auditor sees everything but revenue
    auditor = ctx("auditor")
    compile_(model, {**COUNT, "dimensions": ["secure_orders.created_at"]}, auditor)
    denied(model, {"measures": ["secure_orders.revenue"]}, auditor)
    # a second role adds what the first one lacked
    compile_(
        model,
        {"measures": ["secure_orders.revenue"]},
        ctx("store_staff", "regional", store_id=1, region={"stores": [1]}),
    )


@pytest.mark.parametrize(
    "context",
    [
        ctx("store_staff"),
        ctx("store_staff", store_id=None),
        ctx("store_staff", store_id={"nested": 1}),
        ctx("regional", region={}),
        ctx("regional", region="north"),
    ],
)
def test_a_missing_claim_denies(model, context):
    err = denied(model, COUNT, context)
    assert "securityContext." in str(err)


def test_missing_claim_in_one_policy_never_widens(model):
    # manager's allow_all would widen; store_staff lacks its claim: still denied
    denied(model, COUNT, ctx("store_staff", "auditor"))


def test_row_filters_reach_every_form_of_the_query(model, duck):
    staff = ctx("store_staff", store_id=3)
    (expected,) = duck.run("SELECT count(*) FROM orders WHERE store_id = 3")[1]
    for query in [
        COUNT,
        {**COUNT, "total": True},
        {"dimensions": ["secure_orders.id"], "ungrouped": True, "limit": 50000},
        {"measures": ["secure_orders.count", "line_items.count"]},
        {"measures": ["secure_sales.count"]},
    ]:
        compiled = duck.compile(model, query, context=staff)
        names, rows = duck.run(compiled.sql)
        if query.get("ungrouped"):
            assert len(rows) == expected[0]
        else:
            assert rows[0][0] == expected[0]
        if compiled.total_sql:
            assert duck.run(compiled.total_sql)[1][0][0] == 1
        assert compiled.row_filter_members == ["secure_orders.store_id"]


def test_claim_values_are_literals(model, duck):
    hostile = ctx("store_staff", store_id="1 OR 1=1")
    with pytest.raises(Exception) as info:
        duck.compile(model, COUNT, context=hostile)
    assert "not a number" in str(info.value)
    regional = ctx("regional", region={"stores": ["1) OR (1=1"]})
    with pytest.raises(Exception, match="not a number"):
        duck.compile(model, COUNT, context=regional)


def _names(entry, section):
    return {m["name"] for m in entry[section]}


def test_meta_lists_cubes_and_views(model):
    body = meta(model, ctx())
    by_name = {c["name"]: c for c in body["cubes"]}
    assert {"orders", "customers", "line_items", "stores", "sales"} <= set(by_name)
    assert "secure_orders" not in by_name and "secure_sales" not in by_name
    orders = by_name["orders"]
    assert orders["type"] == "cube" and orders["title"] == "Orders"
    assert orders["public"] is True and orders["isVisible"] is True
    assert orders["hierarchies"] == [] and orders["folders"] == []
    count = next(m for m in orders["measures"] if m["name"] == "orders.count")
    assert count == {
        "name": "orders.count",
        "title": "Orders Count",
        "shortTitle": "Count",
        "type": "number",
        "aggType": "count",
        "cumulative": False,
        "cumulativeTotal": False,
        "drillMembers": ["orders.id", "orders.status", "orders.created_at"],
        "drillMembersGrouped": {
            "measures": [],
            "dimensions": ["orders.id", "orders.status", "orders.created_at"],
        },
        "isVisible": True,
        "public": True,
    }
    revenue = next(m for m in orders["measures"] if m["name"] == "orders.revenue")
    assert revenue["format"] == "currency" and revenue["aggType"] == "sum"
    status = next(d for d in orders["dimensions"] if d["name"] == "orders.status")
    assert status == {
        "name": "orders.status",
        "title": "Orders Status",
        "shortTitle": "Status",
        "type": "string",
        "suggestFilterValues": True,
        "primaryKey": False,
        "isVisible": True,
        "public": True,
    }
    assert next(d for d in orders["dimensions"] if d["name"] == "orders.id")["primaryKey"] is True
    assert _names(orders, "segments") == {"orders.completed", "orders.big"}
    sales = by_name["sales"]
    assert sales["type"] == "view" and sales["title"] == "Sales"
    assert _names(sales, "dimensions") == {
        "sales.status",
        "sales.created_at",
        "sales.customers_city",
        "sales.customers_tier",
    }
    assert _names(sales, "measures") == {"sales.count", "sales.revenue", "sales.items_sold"}
    assert _names(sales, "segments") == {"sales.completed"}


def test_meta_applies_member_level_policies(model):
    staff = {c["name"]: c for c in meta(model, ctx("store_staff"))["cubes"]}
    secure = staff["secure_orders"]
    assert _names(secure, "measures") == {"secure_orders.count"}
    assert _names(secure, "dimensions") == {
        "secure_orders.id",
        "secure_orders.status",
        "secure_orders.store_id",
        "secure_orders.created_at",
    }
    view = staff["secure_sales"]
    assert "secure_sales.revenue" not in _names(view, "measures")
    assert "secure_sales.count" in _names(view, "measures")
    manager = {c["name"]: c for c in meta(model, ctx("manager"))["cubes"]}
    assert "secure_orders.revenue" in _names(manager["secure_orders"], "measures")
    auditor = {c["name"]: c for c in meta(model, ctx("auditor"))["cubes"]}
    assert "secure_orders.revenue" not in _names(auditor["secure_orders"], "measures")
    assert "secure_orders.count" in _names(auditor["secure_orders"], "measures")


def test_meta_hides_non_public_members_and_cubes():
    model = load_model(
        {
            "hidden.yml": """
cubes:
  - name: private_cube
    sql_table: shop.orders
    public: false
    measures: [{name: count, type: count}]
    dimensions:
      - {name: id, sql: id, type: number, primary_key: true, public: true}
  - name: half
    sql_table: shop.orders
    measures:
      - {name: count, type: count}
      - {name: secret, sql: amount, type: sum, public: false}
    dimensions:
      - {name: id, sql: id, type: number, primary_key: true, public: true}
views:
  - name: private_view
    cubes: [{join_path: private_cube, includes: "*"}]
"""
        }
    )
    by_name = {c["name"]: c for c in meta(model, ctx())["cubes"]}
    assert "private_cube" not in by_name
    assert _names(by_name["half"], "measures") == {"half.count"}
    assert _names(by_name["private_view"], "measures") == {"private_view.count"}
