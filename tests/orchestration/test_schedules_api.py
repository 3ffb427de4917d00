"""Schedules through the API: CRUD with validation naming the field, pause/resume and who may,
the preview for forms, the fire history, and another organization's schedules answering 404."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from tenantry.app import create_app
from tests.helpers import api_key, build_world
from tests.orchestration.helpers import schedule, set_active_since, shop_pipeline


@pytest.fixture
def quiet(settings):
    """The app without its scheduler: nothing fires behind the test's back."""
    settings.scheduler_enabled = False
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def qworld(quiet):
    return build_world(quiet)


def base(org: str) -> str:
    return f"/api/v1/orgs/{org}/schedules"


def field_of(r) -> list[str]:
    assert r.status_code == 422, r.text
    return [e["field"] for e in r.json()["errors"]]


def test_create_read_change_and_delete(quiet, settings, qworld):
    client, owner, org = quiet, qworld.people["owner"], qworld.a
    p = shop_pipeline(client, settings, owner, org)
    s = schedule(client, owner, org, p["id"], grace_seconds=120)
    assert s["description"] == "At 02:30" and s["timezone"] == "Europe/Berlin"
    assert (s["target_name"], s["target_label"]) == ("Orders", "pipeline Orders")
    assert s["grace_seconds"] == 120 and s["coalesce"] and not s["paused"]
    assert len(s["next_fires"]) == 5 and s["last_fires"] == []
    berlin = ZoneInfo("Europe/Berlin")
    for t in s["next_fires"]:
        local, utc = datetime.fromisoformat(t["local"]), datetime.fromisoformat(t["utc"])
        assert local == utc and local.utcoffset() == utc.astimezone(berlin).utcoffset()
    assert [t["local"][11:16] for t in s["next_fires"]].count("02:30") >= 4  # DST day: 03:30

    listed = client.get(base(org), headers=owner.h).json()
    assert [i["id"] for i in listed["items"]] == [s["id"]] and listed["total"] == 1
    assert client.get(f"{base(org)}/{s['id']}", headers=owner.h).json()["name"] == "Nightly"

    # Name and grace change; the owed window (active_since) stays.
    r = client.patch(
        f"{base(org)}/{s['id']}", json={"name": "Night", "grace_seconds": 60}, headers=owner.h
    )
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Night" and r.json()["active_since"] == s["active_since"]
    # A new cron starts afresh: earlier fire times of the old one are not owed.
    r = client.patch(f"{base(org)}/{s['id']}", json={"cron": "*/15 * * * 1-5"}, headers=owner.h)
    assert r.json()["active_since"] > s["active_since"]
    assert r.json()["description"] == "Every 15 minutes, Monday through Friday"
    r = client.patch(f"{base(org)}/{s['id']}", json={"timezone": "Berlin"}, headers=owner.h)
    assert field_of(r) == ["timezone"]

    other = schedule(client, owner, org, p["id"], name="Other")
    r = client.patch(f"{base(org)}/{other['id']}", json={"name": "Night"}, headers=owner.h)
    assert r.status_code == 409 and r.json()["errors"] == [{"field": "name", "message": "is taken"}]
    r = client.post(
        base(org),
        json={"name": "Night", "cron": "@daily", "target_kind": "dag"},
        headers=owner.h,
    )
    assert r.status_code == 409

    assert client.delete(f"{base(org)}/{s['id']}", headers=owner.h).status_code == 204
    assert client.get(f"{base(org)}/{s['id']}", headers=owner.h).status_code == 404
    assert client.get(f"{base(org)}/{s['id']}/fires", headers=owner.h).status_code == 404
    audit = client.get(
        f"/api/v1/orgs/{org}/audit?object_type=schedule&size=50", headers=owner.h
    ).json()
    actions = {(e["action"], e["object_id"]) for e in audit["items"]}
    for action in ("schedule.create", "schedule.update", "schedule.delete"):
        assert (action, s["id"]) in actions


def test_invalid_input_names_the_field(quiet, settings, qworld):
    client, owner, org = quiet, qworld.people["owner"], qworld.a
    p = shop_pipeline(client, settings, owner, org)
    b_pipeline = shop_pipeline(client, settings, qworld.b_owner, qworld.b, name="B's")
    good = {"name": "S", "cron": "0 6 * * *", "target_kind": "pipeline", "target_id": p["id"]}

    def post(**changes):
        return client.post(base(org), json=good | changes, headers=owner.h)

    r = post(cron="0 25 * * *")
    assert field_of(r) == ["cron"] and "hour field: 25 is outside 0-23" in r.json()["detail"]
    assert field_of(post(cron="every day")) == ["cron"]
    r = post(timezone="Mars/Olympus")
    assert field_of(r) == ["timezone"] and "IANA" in r.json()["detail"]
    assert field_of(post(target_kind="report")) == ["target_kind"]
    assert field_of(post(target_id=None)) == ["target_id"]
    assert field_of(post(target_id="0" * 32)) == ["target_id"]
    # Another organization's pipeline is no target here (like a missing one).
    assert field_of(post(target_id=b_pipeline["id"])) == ["target_id"]
    assert field_of(post(target_kind="dag", target_id=p["id"])) == ["dag_node_kind"]
    assert field_of(post(grace_seconds=-1)) == ["grace_seconds"]
    assert field_of(post(name="  ")) == ["name"]
    assert client.get(base(org), headers=owner.h).json()["total"] == 0

    whole = post(target_kind="dag", target_id=None, name="Whole DAG")
    assert whole.status_code == 201 and whole.json()["target_label"] == "the whole DAG"
    node = post(target_kind="dag", dag_node_kind="pipeline", name="From orders")
    assert node.status_code == 201, node.text
    assert node.json()["target_label"] == "the DAG from pipeline Orders and downstream"
    default = post(name="Default grace")
    assert default.json()["grace_seconds"] == settings.schedule_default_grace_seconds


def test_pause_and_resume_and_who_may(quiet, settings, qworld):
    client, owner, org = quiet, qworld.people["owner"], qworld.a
    p = shop_pipeline(client, settings, owner, org)
    s = schedule(client, owner, org, p["id"])
    one = f"{base(org)}/{s['id']}"
    viewer = qworld.people["viewer"]
    assert client.get(one, headers=viewer.h).status_code == 200
    assert client.post(one + "/pause", headers=viewer.h).status_code == 403
    assert client.patch(one, json={"name": "x"}, headers=viewer.h).status_code == 403
    assert client.post(base(org), json={}, headers=viewer.h).status_code == 403

    runner = {"Authorization": f"Bearer {api_key(client, owner, org, ['run'])['key']}"}
    writer = {"Authorization": f"Bearer {api_key(client, owner, org, ['write'])['key']}"}
    assert client.post(one + "/pause", headers=writer).status_code == 403
    assert client.patch(one, json={"coalesce": False}, headers=runner).status_code == 403
    assert client.patch(one, json={"coalesce": False}, headers=writer).status_code == 200

    paused = client.post(one + "/pause", headers=runner).json()
    assert paused["paused"] and paused["next_fires"] == []
    assert client.get(base(org), headers=owner.h).json()["items"][0]["paused"]
    # While paused a long time…
    long_ago = datetime.fromisoformat(s["active_since"]) - timedelta(days=2)
    set_active_since(settings, s["id"], long_ago)
    resumed = client.post(one + "/resume", headers=runner).json()
    # …resuming owes nothing for the paused stretch: fire times count from now.
    assert not resumed["paused"] and resumed["active_since"] > s["active_since"]
    assert len(resumed["next_fires"]) == 5
    audit = client.get(f"/api/v1/orgs/{org}/audit?object_id={s['id']}", headers=owner.h).json()
    assert {"schedule.pause", "schedule.resume"} <= {e["action"] for e in audit["items"]}


def test_preview_for_the_form(quiet, qworld):
    client, viewer, org = quiet, qworld.people["viewer"], qworld.a
    r = client.get(
        f"{base(org)}/preview",
        params={"cron": "0 9 * * 1-5", "timezone": "America/New_York"},
        headers=viewer.h,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["description"] == "At 09:00, Monday through Friday"
    times = [datetime.fromisoformat(t["local"]) for t in body["next_fires"]]
    assert len(times) == 5 and times == sorted(times)
    assert all(t.strftime("%H:%M") == "09:00" and t.isoweekday() <= 5 for t in times)
    r = client.get(
        f"{base(org)}/preview", params={"cron": "0 9 * *", "timezone": "NYC"}, headers=viewer.h
    )
    assert field_of(r) == ["cron", "timezone"]


def test_another_organizations_schedule_answers_404(quiet, settings, qworld):
    client, owner, org = quiet, qworld.people["owner"], qworld.a
    s = schedule(client, owner, org, shop_pipeline(client, settings, owner, org)["id"])
    intruder = qworld.b_owner
    for org_slug in (qworld.b, qworld.a):
        one = f"{base(org_slug)}/{s['id']}"
        assert client.get(one, headers=intruder.h).status_code == 404
        assert client.get(one + "/fires", headers=intruder.h).status_code == 404
        assert client.patch(one, json={"name": "x"}, headers=intruder.h).status_code == 404
        assert client.post(one + "/pause", headers=intruder.h).status_code == 404
        assert client.delete(one, headers=intruder.h).status_code == 404
    assert client.get(base(qworld.b), headers=intruder.h).json()["total"] == 0
    assert client.get(f"{base(org)}/{s['id']}", headers=owner.h).json()["paused"] is False
