"""The pipeline and run pages: create through the form, Run now, the run's log, cancel/retry."""

from __future__ import annotations

import re

from tests.pipelines.helpers import connection, make_sqlite, org_dir, wait
from tests.web.test_pages import browser_login, form_token


def _rows(n):
    return [(i, f"c{i}", float(i), "2024-01-01") for i in range(1, n + 1)]


def test_create_run_and_watch_a_pipeline_through_the_pages(client, settings, world):
    owner = world.people["owner"]
    make_sqlite(org_dir(client, settings, owner, world.a) / "shop.sqlite", _rows(30))
    source = connection(client, owner, world.a, "Shop", "sqlite", {"path": "shop.sqlite"})
    browser_login(client, "editor@a.example")
    base = f"/o/{world.a}/pipelines"
    assert "No pipelines yet" in client.get(base).text
    token = form_token(client, base + "/new")
    form = {
        "csrf_token": token,
        "name": "Orders",
        "source_id": source,
        "destination_id": "",
        "mode": "table",
        "table": "orders",
        "write_disposition": "merge",
        "primary_key": "",
        "schema_contract": "evolve",
        "dataset": "raw",
        "batch_size": "1000",
        "max_attempts": "2",
        "backoff_seconds": "5",
        "filter_0_column": "amount",
        "filter_0_operator": "in",
        "filter_0_value": "1, 2, 3",
    }
    # A merge without a key: the form comes back with the error under the field, values kept.
    r = client.post(base + "/new", data=form)
    assert r.status_code == 422
    assert "merge needs a primary key" in r.text and 'value="1, 2, 3"' in r.text
    form["primary_key"] = "id"
    r = client.post(base + "/new", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get(r.headers["location"])
    assert page.status_code == 200 and "Run now" in page.text
    pipeline_id = r.headers["location"].rsplit("/", 1)[1]

    r = client.post(
        f"{base}/{pipeline_id}/run",
        data={"csrf_token": form_token(client, f"{base}/{pipeline_id}")},
        follow_redirects=False,
    )
    assert r.status_code == 303 and "/runs/" in r.headers["location"]
    run_id = r.headers["location"].rsplit("/", 1)[1]
    done = wait(client, owner, world.a, run_id)
    assert done["status"] == "succeeded" and done["rows_loaded"] == 3
    run_page = client.get(r.headers["location"]).text
    assert 'data-status="succeeded"' in run_page and "Extracting orders" in run_page
    assert re.search(r"<td>orders</td><td>3</td>", run_page)
    listing = client.get(base).text
    assert "Orders" in listing and 'data-status="succeeded"' in listing
    runs = client.get(f"/o/{world.a}/runs?status=succeeded").text
    assert run_id in runs
    # A finished run offers no Cancel; retrying a succeeded one is refused with a message.
    assert 'data-testid="cancel"' not in run_page
    r = client.post(
        f"/o/{world.a}/runs/{run_id}/retry",
        data={"csrf_token": form_token(client, f"/o/{world.a}/runs/{run_id}")},
    )
    assert "Only failed or cancelled runs can be retried" in r.text


def test_viewers_see_pipelines_but_cannot_run_or_edit(client, settings, world):
    owner = world.people["owner"]
    make_sqlite(org_dir(client, settings, owner, world.a) / "shop.sqlite", _rows(3))
    source = connection(client, owner, world.a, "Shop", "sqlite", {"path": "shop.sqlite"})
    client.post(
        f"/api/v1/orgs/{world.a}/pipelines",
        json={"name": "Orders", "source_id": source, "spec": {"mode": "table", "table": "orders"}},
        headers=owner.h,
    )
    browser_login(client, "viewer@a.example")
    page = client.get(f"/o/{world.a}/pipelines").text
    assert "Orders" in page and "Run now" not in page and "New pipeline" not in page
    assert client.get(f"/o/{world.a}/pipelines/new").status_code == 403
