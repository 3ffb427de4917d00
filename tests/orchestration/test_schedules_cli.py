"""`tenantry schedules …`: create by target name, list, pause/resume, fires, next, delete;
mistakes exit 1 with the reason and no traceback. One call runs as a real subprocess; the rest
go through typer's runner in this process (same code, without a second of start-up each)."""

from __future__ import annotations

from types import SimpleNamespace

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tenantry.app import create_app
from tenantry.cli.main import app
from tests.cli import test_cli
from tests.helpers import create_org, signup
from tests.orchestration.helpers import shop_pipeline


def tenantry(settings, *args: str):
    """The command in this process, on the test's settings (the CLI reads them globally)."""
    result = CliRunner().invoke(app, list(args))
    return SimpleNamespace(returncode=result.exit_code, stdout=result.stdout, stderr=result.stderr)


def test_schedules_from_the_command_line(settings):
    settings.scheduler_enabled = False
    with TestClient(create_app(settings)) as client:
        owner = signup(client, "owner@a.example")
        create_org(client, owner, "Org A", "org-a")
        shop_pipeline(client, settings, owner, "org-a")

    made = test_cli.tenantry(  # a real process
        settings,
        "schedules",
        "create",
        "Nightly",
        "--org",
        "org-a",
        "--cron",
        "30 2 * * *",
        "--timezone",
        "America/New_York",
        "--target",
        "pipeline:Orders",
        "--grace",
        "600",
    )
    assert made.returncode == 0, made.stderr
    assert "Created schedule Nightly" in made.stdout and "At 02:30, America/New_York" in made.stdout
    assert made.stdout.count("T02:30:00-0") + made.stdout.count("T03:30:00-04:00") == 5

    bad = tenantry(
        settings, "schedules", "create", "Bad", "--org", "org-a", "--cron", "30 2 * *",
        "--target", "pipeline:Orders",
    )  # fmt: skip
    assert bad.returncode == 1 and "cron: has 4 fields; cron needs 5" in bad.stderr
    assert "Traceback" not in bad.stderr
    missing = tenantry(
        settings, "schedules", "create", "X", "--org", "org-a", "--cron", "@daily",
        "--target", "pipeline:Nope",
    )  # fmt: skip
    assert missing.returncode == 1 and "org-a has no pipeline 'Nope'" in missing.stderr

    assert tenantry(settings, "schedules", "pause", "Nightly", "--org", "org-a").returncode == 0
    listed = tenantry(settings, "schedules", "list", "--org", "org-a")
    assert "Nightly" in listed.stdout and "paused" in listed.stdout
    assert "pipeline Orders" in listed.stdout
    assert tenantry(settings, "schedules", "resume", "Nightly", "--org", "org-a").returncode == 0
    listed = tenantry(settings, "schedules", "list", "--org", "org-a")
    assert "next 20" in listed.stdout and "never fired" in listed.stdout

    fires = tenantry(settings, "schedules", "fires", "Nightly", "--org", "org-a")
    assert fires.returncode == 0 and "Nightly has not fired yet" in fires.stdout
    upcoming = tenantry(settings, "schedules", "next", "Nightly", "--org", "org-a", "-n", "2")
    assert upcoming.returncode == 0 and "At 02:30 (America/New_York)" in upcoming.stdout
    preview = tenantry(settings, "schedules", "next", "--cron", "0 9 * * 1", "--timezone", "UTC")
    assert "At 09:00, only on Monday (UTC)" in preview.stdout

    assert tenantry(settings, "schedules", "delete", "Nightly", "--org", "org-a").returncode == 0
    gone = tenantry(settings, "schedules", "pause", "Nightly", "--org", "org-a")
    assert gone.returncode == 1 and "has no schedule 'Nightly'" in gone.stderr
