"""The schedule pages: create through the form (errors under the field, values kept), the
list with next fire and paused badge, pause/resume, the live preview, and the fire history."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from tenantry.app import create_app
from tenantry.core.db import utcnow
from tenantry.orchestration import schedules
from tests.helpers import build_world
from tests.orchestration.helpers import set_active_since, shop_pipeline, store
from tests.web.test_pages import browser_login, form_token


@pytest.fixture
def quiet(settings):
    settings.scheduler_enabled = False
    with TestClient(create_app(settings)) as client:
        yield client


def test_create_pause_and_watch_a_schedule_through_the_pages(quiet, settings):
    client = quiet
    world = build_world(client)
    p = shop_pipeline(client, settings, world.people["owner"], world.a)
    browser_login(client, "editor@a.example")
    base = f"/o/{world.a}/schedules"
    assert "No schedules yet" in client.get(base).text
    new = client.get(base + "/new").text
    assert f'<option value="pipeline:{p["id"]}"' in new and '<option value="dag"' in new
    assert f'value="dag:pipeline:{p["id"]}"' in new and "data-cron-preview" in new
    form = {
        "csrf_token": form_token(client, base + "/new"),
        "name": "Hourly orders",
        "cron": "15 * * * 1-5",
        "timezone": "Europe/Berlln",
        "target": f"pipeline:{p['id']}",
        "grace_seconds": "120",
    }
    # A misspelt zone: the form comes back with the error under the field, values kept.
    r = client.post(base + "/new", data=form)
    assert r.status_code == 422
    assert "is not an IANA time zone" in r.text and 'value="15 * * * 1-5"' in r.text
    assert 'id="e-timezone"' in r.text
    form["timezone"] = "Europe/Berlin"
    r = client.post(base + "/new", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    detail = client.get(r.headers["location"]).text
    schedule_id = r.headers["location"].rsplit("/", 1)[1]
    assert "At 15 minutes past the hour, Monday through Friday" in detail
    assert "Nothing has fired yet" in detail and "Runs pipeline Orders" in detail
    assert len(re.findall(r"<li><time datetime=", detail)) == 5  # next five fire times

    listing = client.get(base).text
    assert "Hourly orders" in listing and 'data-testid="paused"' not in listing
    assert re.search(r"<time datetime=\"[0-9T:-]+:15:00\+0[12]:00\">", listing)  # next fire
    r = client.post(
        f"{base}/{schedule_id}/pause",
        data={"csrf_token": form_token(client, base), "back": "list"},
        follow_redirects=False,
    )
    assert r.headers["location"] == base
    listing = client.get(base).text
    assert 'data-testid="paused"' in listing and 'data-testid="resume"' in listing
    r = client.post(
        f"{base}/{schedule_id}/resume",
        data={"csrf_token": form_token(client, f"{base}/{schedule_id}")},
    )
    assert 'data-testid="pause"' in r.text and "Resumed" in r.text

    # Edit: a bad cron comes back under its field.
    edit = {**form, "csrf_token": form_token(client, f"{base}/{schedule_id}"), "cron": "99 * * * *"}
    r = client.post(f"{base}/{schedule_id}", data=edit)
    assert r.status_code == 422 and "minute field: 99 is outside 0-59" in r.text
    r = client.post(f"{base}/{schedule_id}", data={**edit, "cron": "0 6 * * *"})
    assert "Saved." in r.text and "At 06:00" in r.text

    # The form's live preview, on the browser session.
    r = client.get(f"{base}/preview", params={"cron": "*/30 * * * *", "timezone": "Asia/Tokyo"})
    assert r.status_code == 200 and r.json()["description"] == "Every 30 minutes"
    assert all(t["local"].endswith("+09:00") for t in r.json()["next_fires"])
    r = client.get(f"{base}/preview", params={"cron": "* * *", "timezone": "UTC"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "cron"

    # Fires history: missed ones are shown with why.
    now = utcnow().replace(second=0, microsecond=0)
    set_active_since(settings, schedule_id, now - timedelta(hours=3))
    missed = now - timedelta(hours=2)
    done = store(
        settings,
        lambda db: schedules.fire(db, settings, schedule_id, [missed], "test-worker"),
    )
    assert done == [(missed, "missed")]
    detail = client.get(f"{base}/{schedule_id}").text
    assert 'data-fire="missed"' in detail and "2 h 0 min late, beyond the grace of 120 s" in detail


def test_viewers_see_schedules_but_cannot_change_them(quiet, settings):
    client = quiet
    world = build_world(client)
    owner = world.people["owner"]
    p = shop_pipeline(client, settings, owner, world.a)
    r = client.post(
        f"/api/v1/orgs/{world.a}/schedules",
        json={"name": "Daily", "cron": "@daily", "target_kind": "pipeline", "target_id": p["id"]},
        headers=owner.h,
    )
    schedule_id = r.json()["id"]
    browser_login(client, "viewer@a.example")
    base = f"/o/{world.a}/schedules"
    listing = client.get(base).text
    assert "Daily" in listing and "New schedule" not in listing
    assert 'data-testid="pause"' not in listing
    detail = client.get(f"{base}/{schedule_id}").text
    assert "Delete schedule" not in detail and "disabled" in detail
    assert client.get(base + "/new").status_code == 403
    r = client.post(f"{base}/{schedule_id}/pause", data={"csrf_token": form_token(client, base)})
    assert r.status_code == 403
