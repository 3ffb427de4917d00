"""DAG runs over pipelines: selection modes, explicit edges, cancel, event-driven downstream."""

from __future__ import annotations

from tests.pipelines.helpers import connection, make_sqlite, org_dir, pipeline
from tests.transforms.helpers import children, dag_run, finished, orders


def _three_pipelines(client, settings, owner, org):
    make_sqlite(org_dir(client, settings, owner, org) / "shop.sqlite", orders(1, 51))
    source = connection(client, owner, org, "Shop", "sqlite", {"path": "shop.sqlite"})
    ids = {}
    for name in ("first", "second", "third"):
        spec = {"mode": "table", "table": "orders", "table_name": f"orders_{name}"}
        ids[name] = pipeline(client, owner, org, name, source, spec)["id"]
    r = client.post(
        f"/api/v1/orgs/{org}/dag/edges",
        json={
            "upstream_kind": "pipeline",
            "upstream_id": ids["first"],
            "downstream_kind": "pipeline",
            "downstream_id": ids["second"],
        },
        headers=owner.h,
    )
    assert r.status_code == 201, r.text
    return ids


def test_dag_run_modes_follow_the_edges(client, settings, world):
    owner, org = world.people["owner"], world.a
    ids = _three_pipelines(client, settings, owner, org)
    # Switched off, a node's success starts nothing by itself.
    r = client.patch(
        f"/api/v1/orgs/{org}/dag/settings", json={"auto_downstream": False}, headers=owner.h
    )
    assert r.status_code == 200 and r.json()["auto_downstream"] is False

    down = dag_run(
        client, owner, org, mode="downstream", node_kind="pipeline", node_id=ids["first"]
    )
    assert down["status"] == "succeeded" and down["target_name"] == "DAG from first"
    nodes = children(client, owner, org, down["id"])
    assert set(nodes) == {"first", "second"}
    assert nodes["first"]["finished_at"] <= nodes["second"]["started_at"]

    up = dag_run(client, owner, org, mode="upstream", node_kind="pipeline", node_id=ids["second"])
    assert set(children(client, owner, org, up["id"])) == {"first", "second"}

    whole = dag_run(client, owner, org)
    assert set(children(client, owner, org, whole["id"])) == {"first", "second", "third"}
    r = client.get(f"/api/v1/orgs/{org}/runs", params={"kind": "dag"}, headers=owner.h)
    assert all(item["trigger"] != "dependency" for item in r.json()["items"])

    # On: a pipeline run that succeeds by itself starts what depends on it.
    client.patch(
        f"/api/v1/orgs/{org}/dag/settings", json={"auto_downstream": True}, headers=owner.h
    )
    r = client.post(f"/api/v1/orgs/{org}/pipelines/{ids['first']}/run", headers=owner.h)
    finished(client, owner, org, r.json()["id"])

    def dependency_run():
        items = client.get(
            f"/api/v1/orgs/{org}/runs", params={"kind": "dag"}, headers=owner.h
        ).json()["items"]
        return next((i for i in items if i["trigger"] == "dependency"), None)

    import time

    deadline = time.monotonic() + 30
    while dependency_run() is None:
        assert time.monotonic() < deadline, "no downstream DAG run started"
        time.sleep(0.1)
    follow = finished(client, owner, org, dependency_run()["id"])
    assert follow["target_name"] == "DAG after first"
    assert set(children(client, owner, org, follow["id"])) == {"second"}


def test_cancelling_a_dag_run_skips_what_had_not_started(client, settings, world):
    owner, org = world.people["owner"], world.a
    ids = _three_pipelines(client, settings, owner, org)
    r = client.post(
        f"/api/v1/orgs/{org}/dag/run",
        json={"mode": "downstream", "node_kind": "pipeline", "node_id": ids["first"]},
        headers=owner.h,
    )
    run_id = r.json()["id"]
    r = client.post(f"/api/v1/orgs/{org}/runs/{run_id}/cancel", headers=owner.h)
    assert r.status_code == 200, r.text
    done = finished(client, owner, org, run_id)
    assert done["status"] == "cancelled"
    nodes = children(client, owner, org, run_id)
    assert nodes["second"]["status"] == "skipped"
    assert nodes["second"]["error"] == "Skipped: the DAG run was cancelled."
    assert nodes["first"]["status"] in ("cancelled", "succeeded")


def test_another_orgs_dag_is_out_of_reach(client, settings, world):
    owner, org = world.people["owner"], world.a
    ids = _three_pipelines(client, settings, owner, org)
    b = world.b_owner
    r = client.post(
        f"/api/v1/orgs/{world.b}/dag/run",
        json={"mode": "downstream", "node_kind": "pipeline", "node_id": ids["first"]},
        headers=b.h,
    )
    assert r.status_code == 422 and "node_id" in r.text
    graph = client.get(f"/api/v1/orgs/{world.b}/dag", headers=b.h).json()
    assert graph["nodes"] == [] and graph["edges"] == []
    edge_id = client.get(f"/api/v1/orgs/{org}/dag", headers=owner.h).json()["edges"][0]["id"]
    r = client.delete(f"/api/v1/orgs/{world.b}/dag/edges/{edge_id}", headers=b.h)
    assert r.status_code == 404


def test_the_reaper_advances_a_dag_run_left_quiet(client, settings, world):
    """A node settled by a process that died before advancing its DAG run: the reaper nudges
    the DAG run, which starts the next node and finishes."""
    import sqlalchemy as sa

    from tenantry.core.db import utcnow
    from tenantry.orchestration import reaper
    from tenantry.orchestration.models import Run

    owner, org = world.people["owner"], world.a
    ids = _three_pipelines(client, settings, owner, org)
    done = dag_run(
        client, owner, org, mode="downstream", node_kind="pipeline", node_id=ids["first"]
    )
    assert done["status"] == "succeeded"
    second = children(client, owner, org, done["id"])["second"]
    from datetime import timedelta

    async def rewind():
        async with client.app.state.db.session() as session:
            await session.execute(sa.delete(Run).where(Run.id == second["id"]))
            await session.execute(
                sa.update(Run)
                .where(Run.id == done["id"])
                .values(
                    status="running", finished_at=None, heartbeat_at=utcnow() - timedelta(hours=1)
                )
            )
            await session.commit()
        await reaper.reap(client.app.state.db, settings)

    client.portal.call(rewind)
    again = finished(client, owner, org, done["id"])
    assert again["status"] == "succeeded"
    assert children(client, owner, org, done["id"])["second"]["status"] == "succeeded"
