"""`tenantry models …`, `tenantry query` and `tenantry preaggs …` as real subprocesses."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from tenantry.app import create_app
from tests.cli.test_cli import tenantry
from tests.helpers import create_org, signup
from tests.semantic.helpers import expected, sample_rows, write_sales
from tests.semantic.test_preaggs import MODEL

COMMANDS = [
    ["models"],
    ["models", "push"],
    ["models", "pull"],
    ["models", "validate"],
    ["models", "history"],
    ["models", "templates"],
    ["query"],
    ["preaggs"],
    ["preaggs", "list"],
    ["preaggs", "build"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help(command):
    r = tenantry(None, *command, "--help")
    assert r.returncode == 0, r.stderr
    assert "Usage" in r.stdout


def test_push_pull_validate_query_and_build(settings, tmp_path):
    with TestClient(create_app(settings)) as client:
        ada = signup(client, "ada@example.com")
        org = create_org(client, ada, "Acme")["id"]
    write_sales(settings, org, sample_rows(1, n=60))
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "sales.yml").write_text(MODEL.replace("type: sum", "type: summ"))
    bad = tenantry(settings, "models", "validate", str(folder))
    assert bad.returncode == 1 and "sales.yml:" in bad.stderr and "summ" in bad.stderr
    refused = tenantry(settings, "models", "push", str(folder), "--org", "acme")
    assert refused.returncode == 1 and "nothing was saved" in refused.stderr

    (folder / "sales.yml").write_text(MODEL)
    assert tenantry(settings, "models", "validate", str(folder)).returncode == 0
    pushed = tenantry(settings, "models", "push", str(folder), "--org", "acme", "-m", "first")
    assert pushed.returncode == 0 and "saved as version 1" in pushed.stdout, pushed.stderr
    again = tenantry(settings, "models", "push", str(folder), "--org", "acme")
    assert "unchanged: still version 1" in again.stdout
    history = tenantry(settings, "models", "history", "--org", "acme")
    assert "v1" in history.stdout and "first" in history.stdout

    out = tmp_path / "pulled"
    pulled = tenantry(settings, "models", "pull", str(out), "--org", "acme")
    assert pulled.returncode == 0 and (out / "sales.yml").read_text() == MODEL

    query = {
        "measures": ["sales.count"],
        "dimensions": ["sales.region"],
        "order": {"sales.region": "asc"},
    }
    answered = tenantry(settings, "query", json.dumps(query), "--org", "acme", "--json")
    assert answered.returncode == 0, answered.stderr
    rows = json.loads(answered.stdout)["results"][0]["data"]
    truth = expected(
        settings, org, "SELECT region, count(*) FROM marts.sales GROUP BY 1 ORDER BY 1"
    )
    assert [(r["sales.region"], int(r["sales.count"])) for r in rows] == truth
    sql = tenantry(settings, "query", json.dumps(query), "--org", "acme", "--sql")
    assert "GROUP BY" in sql.stdout.upper()
    wrong = tenantry(settings, "query", '{"measures": ["sales.nope"]}', "--org", "acme")
    assert (
        wrong.returncode == 1 and "sales.nope" in wrong.stderr and "Traceback" not in wrong.stderr
    )

    built = tenantry(settings, "preaggs", "build", "--org", "acme")
    assert built.returncode == 0, built.stderr
    listed = tenantry(settings, "preaggs", "list", "--org", "acme")
    assert "sales.daily" in listed.stdout and "ready" in listed.stdout
