"""The transformation, sources and DAG pages, and a DAG run's run page (real dbt runs)."""

from __future__ import annotations

import re

from tests.transforms.helpers import finished, loaded_shop, model
from tests.web.test_pages import browser_login, form_token

STG = "select id, customer, amount\nfrom {{ source('raw', 'orders') }}"


def _form(token: str, **fields) -> dict:
    base = {
        "csrf_token": token,
        "kind": "model",
        "description": "",
        "schema": "staging",
        "materialization": "view",
        "incremental_strategy": "",
        "unique_key": "",
        "tags": "",
        "snapshot_strategy": "timestamp",
        "updated_at": "",
        "check_cols": "",
    }
    return base | fields


def test_the_editor_creates_validates_and_edits(client, settings, world):
    owner = world.people["owner"]
    loaded_shop(client, settings, owner, world.a)
    browser_login(client, "editor@a.example")
    base = f"/o/{world.a}/transformations"
    listing = client.get(base).text
    assert "No transformations yet" in listing and "Check source freshness" in listing
    page = client.get(base + "/new").text
    assert "data-sql-editor" in page and "/static/sql-editor.js" in page
    assert "raw.orders" in page  # the "insert a reference" list offers the loaded table
    token = form_token(client, base + "/new")

    # As you type: the editor's check names the line, then passes once the SQL is fixed.
    bad = "select id,\n  amount\nfrom where"
    r = client.post(base + "/validate", data=_form(token, name="stg_orders", sql=bad))
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "sql"
    assert "model 'stg_orders', line 3" in r.json()["errors"][0]["message"]
    r = client.post(base + "/validate", data=_form(token, name="", sql=STG))
    assert r.status_code == 200 and r.json()["sources"] == ["raw.orders"]

    # Saving bad SQL shows the error under the editor, with what was typed kept.
    r = client.post(base + "/new", data=_form(token, name="stg_orders", sql=bad))
    assert r.status_code == 422
    assert "model &#39;stg_orders&#39;, line 3" in r.text and "from where</textarea>" in r.text
    # A spec problem lands on its field.
    r = client.post(
        base + "/new",
        data=_form(
            token,
            name="stg_orders",
            sql=STG,
            materialization="incremental",
            incremental_strategy="merge",
        ),
    )
    assert r.status_code == 422 and 'id="e-unique_key"' in r.text

    form = _form(
        token,
        name="stg_orders",
        sql=STG,
        description="Orders, typed",
        materialization="table",
        tags="daily, shop",
        col_0_name="id",
        col_0_description="The order",
        col_0_not_null="on",
        col_0_unique="on",
        col_1_name="customer",
        col_1_accepted="c0, c1, c2, c3, c4, c5, c6",
        col_1_warn="on",
        col_2_name="",
    )
    r = client.post(base + "/new", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    transform_id = r.headers["location"].rsplit("/", 1)[1]
    saved = client.get(f"/api/v1/orgs/{world.a}/transformations/{transform_id}", headers=owner.h)
    spec = saved.json()["spec"]
    assert spec["materialization"] == "table" and spec["tags"] == ["daily", "shop"]
    assert spec["columns"][0]["tests"] == [
        {"type": "not_null", "severity": "error"},
        {"type": "unique", "severity": "error"},
    ]
    assert spec["columns"][1]["tests"][0]["values"][:2] == ["c0", "c1"]
    assert spec["columns"][1]["tests"][0]["severity"] == "warn"

    edit = client.get(r.headers["location"]).text
    assert 'value="stg_orders"' in edit and 'data-testid="compile"' in edit
    assert re.search(r'name="col_0_unique"[^>]*checked', edit)
    assert 'value="c0, c1, c2, c3, c4, c5, c6"' in edit

    # Editing: the SQL changes, the spec with it; an unknown ref is refused naming the line.
    token = form_token(client, f"{base}/{transform_id}")
    changed = form | {"csrf_token": token, "sql": STG + "\nwhere amount > 10"}
    r = client.post(f"{base}/{transform_id}", data=changed, follow_redirects=False)
    assert r.status_code == 303
    broken = changed | {"sql": "select *\nfrom {{ ref('nope') }}"}
    r = client.post(f"{base}/{transform_id}", data=broken)
    assert r.status_code == 422 and "line 2: ref(&#39;nope&#39;)" in r.text

    # Preview: the editor's unsaved SQL, through dbt and the read-only guard.
    r = client.post(
        f"{base}/{transform_id}/preview",
        data={"csrf_token": token, "sql": STG + "\nwhere id <= 3", "limit": "10"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["row_count"] == 3 and "orders" in r.json()["compiled_sql"]

    # Run (build): the page starts a run and goes to it; the list then shows its outcome.
    r = client.post(
        f"{base}/{transform_id}/run", data={"csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 303 and "/runs/" in r.headers["location"]
    done = finished(client, owner, world.a, r.headers["location"].rsplit("/", 1)[1])
    assert done["status"] == "succeeded", done
    listing = client.get(base).text
    assert 'data-transform="stg_orders"' in listing and 'data-status="succeeded"' in listing
    assert ">table<" in listing and ">daily<" in listing

    r = client.post(f"{base}/{transform_id}/delete", data={"csrf_token": token})
    assert r.status_code == 200 and "Deleted stg_orders" in r.text


def test_viewers_read_but_cannot_change(client, settings, world):
    owner = world.people["owner"]
    loaded_shop(client, settings, owner, world.a)
    t = model(client, owner, world.a, "stg_orders", STG)
    browser_login(client, "viewer@a.example")
    base = f"/o/{world.a}/transformations"
    page = client.get(f"{base}/{t['id']}").text
    assert "readonly" in page and 'data-testid="save"' not in page
    assert 'data-testid="run"' not in page and "New transformation" not in client.get(base).text
    token = form_token(client, base)
    r = client.post(base + "/new", data=_form(token, name="x", sql="select 1 as a"))
    assert r.status_code == 403
    r = client.post(f"{base}/{t['id']}/run", data={"csrf_token": token})
    assert r.status_code == 403


def test_sources_page_sets_descriptions_and_freshness(client, settings, world):
    owner = world.people["owner"]
    loaded_shop(client, settings, owner, world.a)
    browser_login(client, "editor@a.example")
    page = client.get(f"/o/{world.a}/sources").text
    assert 'data-source="raw.orders"' in page
    assert "{{ source(&#39;raw&#39;, &#39;orders&#39;) }}" in page and "customer" in page
    token = form_token(client, f"/o/{world.a}/sources")
    fields = {"csrf_token": token, "dataset": "raw", "table": "orders"}
    r = client.post(
        f"/o/{world.a}/sources",
        data=fields | {"description": "Shop orders", "warn_count": "0", "warn_period": "hour"},
    )
    assert r.status_code == 422 and "greater than or equal to 1" in r.text
    r = client.post(
        f"/o/{world.a}/sources",
        data=fields
        | {
            "description": "Shop orders",
            "loaded_at_field": "cast(updated_at as timestamp)",
            "warn_count": "12",
            "warn_period": "hour",
            "error_count": "2",
            "error_period": "day",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    items = client.get(f"/api/v1/orgs/{world.a}/sources", headers=owner.h).json()["items"]
    orders = next(s for s in items if s["table"] == "orders")
    assert orders["description"] == "Shop orders"
    assert orders["warn_after"] == {"count": 12, "period": "hour"}
    assert orders["error_after"] == {"count": 2, "period": "day"}
    assert orders["loaded_at_field"] == "cast(updated_at as timestamp)"


def test_dag_page_draws_the_graph_and_runs_it(client, settings, world):
    owner = world.people["owner"]
    p = loaded_shop(client, settings, owner, world.a)
    stg = model(client, owner, world.a, "stg_orders", STG)
    bad = model(
        client,
        owner,
        world.a,
        "bad",
        "select cast('not a number' as integer) as n",
        spec={"materialization": "table"},
    )
    after = model(client, owner, world.a, "after_bad", "select n from {{ ref('bad') }}")
    browser_login(client, "editor@a.example")
    dag = f"/o/{world.a}/dag"
    page = client.get(dag).text
    assert "<svg" in page
    for name in ("Orders", "stg_orders", "bad", "after_bad"):
        assert f'data-node="{name}"' in page
    assert f'href="/o/{world.a}/pipelines/{p["id"]}"' in page
    assert f'href="/o/{world.a}/transformations/{stg["id"]}"' in page
    # Inferred edges are dashed paths with arrowheads.
    drawn = re.findall(r'<path class="dag-edge( inferred)?" d="M[^"]+" marker-end=', page)
    assert drawn == [" inferred", " inferred"]
    assert 'data-edge="Orders→stg_orders"' in page and 'marker-end="url(#dag-arrow)"' in page

    # An edge added by hand is drawn solid and can be removed.
    token = form_token(client, dag)
    r = client.post(
        dag + "/edges",
        data={
            "csrf_token": token,
            "upstream": f"transformation:{stg['id']}",
            "downstream": f"transformation:{bad['id']}",
        },
    )
    assert r.status_code == 200 and "Edge added" in r.text
    assert 'class="dag-edge" d=' in r.text and 'data-edge="stg_orders→bad"' in r.text
    # One closing a cycle is refused with its path.
    r = client.post(
        dag + "/edges",
        data={
            "csrf_token": token,
            "upstream": f"transformation:{after['id']}",
            "downstream": f"pipeline:{p['id']}",
        },
    )
    assert "cycle: Orders → stg_orders → bad → after_bad → Orders" in r.text
    edge_id = re.search(r"/dag/edges/([0-9a-f]{32})/delete", client.get(dag).text).group(1)
    r = client.post(f"{dag}/edges/{edge_id}/delete", data={"csrf_token": token})
    assert "Edge removed" in r.text and 'data-edge="stg_orders→bad"' not in r.text

    # Settings need org:update: an editor sees them read-only and cannot post them.
    assert 'data-testid="dag-settings"' not in r.text
    r = client.post(dag + "/settings", data={"csrf_token": token, "max_parallel": "2"})
    assert r.status_code == 403

    # Run from 'bad': it fails, and its downstream is skipped with the reason.
    r = client.post(
        dag + "/run",
        data={"csrf_token": token, "mode": "downstream", "node": f"transformation:{bad['id']}"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and "/runs/" in r.headers["location"]
    run_id = r.headers["location"].rsplit("/", 1)[1]
    done = finished(client, owner, world.a, run_id)
    assert done["status"] == "failed" and done["kind"] == "dag"
    run_page = client.get(r.headers["location"]).text
    assert 'data-testid="dag-node-runs"' in run_page
    assert re.search(r'data-node-run="bad".*?data-status="failed"', run_page, re.S)
    assert re.search(r'data-node-run="after_bad".*?data-status="skipped"', run_page, re.S)
    assert "Skipped: upstream &#39;bad&#39; failed." in run_page
    # The DAG page colours nodes by their last run and lists the DAG run.
    page = client.get(dag).text
    assert re.search(r'data-node="bad" data-node-status="failed"', page)
    assert re.search(r'data-node="after_bad" data-node-status="skipped"', page)
    assert f'data-dag-run="{run_id}"' in page

    # An owner may change the settings.
    browser_login(client, "owner@a.example")
    token = form_token(client, dag)
    r = client.post(dag + "/settings", data={"csrf_token": token, "max_parallel": "2"})
    assert r.status_code == 200 and "DAG settings saved" in r.text
    settings_now = client.get(f"/api/v1/orgs/{world.a}/dag/settings", headers=owner.h).json()
    assert settings_now == {"auto_downstream": False, "max_parallel": 2}
