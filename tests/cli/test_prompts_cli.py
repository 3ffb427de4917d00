"""`tenantry prompts` as real subprocesses on a real metadata store: push a folder (prompts and
parts) and push it again, pull then push (nothing changes), validate with line numbers, render,
history, diff, labels, and run against a loopback OpenAI-compatible server."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from tenantry.app import create_app
from tests.cli.test_cli import tenantry
from tests.helpers import create_org, signup
from tests.llm.conftest import openai_server  # noqa: F401
from tests.llm.servers import Reply

ORDER_SUMMARY = """id: order-summary
description: Summarise a customer's recent orders
tags: [sales, support]
model: {provider: loop, model: gpt-4o-mini, temperature: 0.2, max_tokens: 40}
inputs:
  customer: {type: string, description: The customer's name}
  orders: {type: array<object>, description: Recent orders}
messages:
  - role: system
    content: '{% include "house_style" %}'
  - role: user
    content: "Summarise {{ orders | length }} orders for {{ customer }}: {{ orders | json }}"
"""
GREETING = """id: greeting
template: "Hello {{ name }}!"
inputs:
  name: string
"""
BAD = """id: broken
description: nothing wrong up here
inputs:
  name: {type: strng}
template: "Hi {{ nmae }}"
"""
UNDECLARED = """id: undeclared
inputs:
  name: string
template: |-
  Hello {{ name }},
  your code is {{ code }}.
"""


def _folder(tmp_path):
    folder = tmp_path / "prompts"
    (folder / "parts").mkdir(parents=True)
    (folder / "order-summary.yml").write_text(ORDER_SUMMARY)
    (folder / "greeting.yaml").write_text(GREETING)
    # house_style includes sign_off: pushed in one go, the include waits for its part.
    (folder / "parts" / "house_style.txt").write_text(
        'Be brief and kind.\n{% include "sign_off" %}'
    )
    (folder / "parts" / "sign_off.j2").write_text("— The Acme team\n")
    (folder / "notes.md").write_text("not a prompt")
    return folder


def _org(settings, **provider):
    with TestClient(create_app(settings)) as client:
        ada = signup(client, "ada@example.com")
        create_org(client, ada, "Acme", "acme")
        if provider:
            r = client.post("/api/v1/orgs/acme/llm/providers", json=provider, headers=ada.h)
            assert r.status_code == 201, r.text
        return ada


def cli(settings, *args, env=None):
    return tenantry(settings, "prompts", *args, "--org", "acme", env=env)


def test_push_pull_validate_render_history_diff_and_labels(settings, tmp_path):
    _org(settings)
    folder = _folder(tmp_path)

    first = cli(settings, "push", str(folder), "-m", "First push")
    assert first.returncode == 0, first.stderr
    assert "part house_style: created v1" in first.stdout
    assert "part sign_off: created v1" in first.stdout
    assert "order-summary: created v1" in first.stdout and "greeting: created v1" in first.stdout

    again = cli(settings, "push", str(folder))
    assert again.returncode == 0, again.stderr
    assert "order-summary: unchanged (v1)" in again.stdout
    assert "part house_style: unchanged (v1)" in again.stdout
    assert "created" not in again.stdout and "new version" not in again.stdout

    (folder / "order-summary.yml").write_text(
        ORDER_SUMMARY.replace("Summarise {{", "Please summarise {{")
    )
    second = cli(settings, "push", str(folder), "-m", "Politer", "--label", "staging")
    assert second.returncode == 0, second.stderr
    assert "order-summary: new version v2; staging → v2" in second.stdout
    assert "greeting: unchanged (v1); staging → v1" in second.stdout

    # Pull, then push the pulled folder: nothing changes.
    pulled = tmp_path / "pulled"
    out = cli(settings, "pull", str(pulled))
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in pulled.iterdir()) == [
        "greeting.yml",
        "order-summary.yml",
        "parts",
    ]
    assert sorted(p.name for p in (pulled / "parts").iterdir()) == ["house_style.j2", "sign_off.j2"]
    assert "Please summarise" in (pulled / "order-summary.yml").read_text()
    back = cli(settings, "push", str(pulled))
    assert back.returncode == 0, back.stderr
    assert "created" not in back.stdout and "new version" not in back.stdout
    assert back.stdout.count("unchanged") == 4
    assert "unchanged" in cli(settings, "pull", str(pulled)).stdout  # files left as they were
    # Pulled over hand-written files: each prompt goes back into the file that declares its id.
    (folder / "greeting.yaml").rename(folder / "hello.yaml")
    assert cli(settings, "pull", str(folder)).returncode == 0
    assert (
        not (folder / "greeting.yml").exists()
        and "id: greeting" in (folder / "hello.yaml").read_text()
    )
    assert (folder / "parts" / "house_style.txt").read_text().startswith("Be brief")
    assert not (folder / "parts" / "house_style.j2").exists()

    listed = cli(settings, "list", "--json")
    views = {p["slug"]: p for p in json.loads(listed.stdout)}
    assert views["order-summary"]["latest_version"] == 2
    assert views["order-summary"]["labels"] == {"latest": 2, "staging": 2}
    assert "greeting" in cli(settings, "list").stdout
    assert "greeting" not in cli(settings, "list", "--tag", "sales").stdout

    got = cli(settings, "get", "order-summary", "--label", "staging")
    assert got.returncode == 0 and got.stdout == (pulled / "order-summary.yml").read_text()
    as_json = json.loads(cli(settings, "get", "order-summary", "--version", "1", "--json").stdout)
    assert as_json["version"] == 1 and as_json["parts"] == {"house_style": 1, "sign_off": 1}
    assert as_json["part_contents"]["sign_off"] == "— The Acme team\n"
    no_prod = cli(settings, "get", "order-summary")
    assert no_prod.returncode == 1 and "no version labelled 'production'" in no_prod.stderr

    rendered = cli(
        settings,
        "render",
        "order-summary",
        "--label",
        "staging",
        "--input",
        "customer=Ada",
        "--input",
        'orders=[{"id": 1}, {"id": 2}]',
    )
    assert rendered.returncode == 0, rendered.stderr
    assert rendered.stdout.startswith("[system]\nBe brief and kind.\n— The Acme team\n")
    assert 'Please summarise 2 orders for Ada: [{"id": 1}, {"id": 2}]' in rendered.stdout
    inputs_file = tmp_path / "inputs.json"
    inputs_file.write_text(json.dumps({"name": "Bob"}))
    text = cli(settings, "render", "greeting", "--version", "1", "--inputs-json", str(inputs_file))
    assert text.stdout == "Hello Bob!\n"
    number = cli(settings, "render", "greeting", "--version", "1", "--input", "name=42")
    assert number.stdout == "Hello 42!\n"  # JSON 42, coerced to the declared string
    wrong = cli(settings, "render", "order-summary", "--version", "1", "--input", "customer=Ada")
    assert wrong.returncode == 1 and "inputs.orders" in wrong.stderr
    assert "Traceback" not in wrong.stderr

    history = cli(settings, "history", "order-summary")
    lines = history.stdout.splitlines()
    assert lines[0].startswith("v2") and "[latest, staging]" in lines[0] and "Politer" in lines[0]
    assert lines[1].startswith("v1") and "First push" in lines[1]

    diff = cli(settings, "diff", "order-summary", "1", "staging")
    assert diff.returncode == 0, diff.stderr
    assert "--- order-summary v1" in diff.stdout and "+++ order-summary v2" in diff.stdout
    changed = [line for line in diff.stdout.splitlines() if line[:1] in "+-"][2:]
    assert [line[0] for line in changed] == ["-", "+"]
    assert "Summarise {{" in changed[0] and "Please summarise {{" in changed[1]
    same = cli(settings, "diff", "greeting", "1", "1")
    assert "same content" in same.stdout

    moved = cli(settings, "label", "order-summary", "production", "1")
    assert moved.returncode == 0 and "production → v1" in moved.stdout
    assert json.loads(cli(settings, "get", "order-summary", "--json").stdout)["version"] == 1
    gone = cli(settings, "label", "order-summary", "staging", "--delete")
    assert gone.returncode == 0, gone.stderr
    after = cli(settings, "get", "order-summary", "--label", "staging")
    assert after.returncode == 1 and "staging" in after.stderr
    missing = cli(settings, "label", "order-summary", "production", "9")
    assert missing.returncode == 1 and "no version 9" in missing.stderr


def test_validate_and_push_refuse_bad_files_with_line_numbers(settings, tmp_path):
    _org(settings)
    folder = _folder(tmp_path)
    (folder / "broken.yml").write_text(BAD)
    (folder / "undeclared.yml").write_text(UNDECLARED)

    checked = tenantry(
        settings, "prompts", "validate", str(folder / "broken.yml"), str(folder / "greeting.yaml")
    )
    assert checked.returncode == 1
    assert f"{folder / 'broken.yml'}:4: inputs.name.type: unknown type 'strng'" in checked.stderr
    assert f"{folder / 'greeting.yaml'}: valid" in checked.stdout
    # A template problem points at the file's line (the template starts on line 5).
    undeclared = tenantry(settings, "prompts", "validate", str(folder / "undeclared.yml"))
    assert undeclared.returncode == 1
    assert f"{folder / 'undeclared.yml'}:6: template: `code` is used but not declared" in (
        undeclared.stderr
    )
    # Offline, parts come from parts/ beside the file; an unknown one is an error.
    fine = tenantry(settings, "prompts", "validate", str(folder / "order-summary.yml"))
    assert fine.returncode == 0, fine.stderr
    lonely = tmp_path / "lonely.yml"
    lonely.write_text(ORDER_SUMMARY)
    alone = tenantry(settings, "prompts", "validate", str(lonely))
    assert alone.returncode == 1 and "unknown part 'house_style'" in alone.stderr

    pushed = cli(settings, "push", str(folder))
    assert pushed.returncode == 1
    assert "broken.yml: refused, nothing saved" in pushed.stderr
    assert "undeclared.yml: refused, nothing saved" in pushed.stderr
    assert "order-summary: created v1" in pushed.stdout and "greeting: created v1" in pushed.stdout
    assert "2 file(s) refused" in pushed.stderr and "Traceback" not in pushed.stderr
    listed = json.loads(cli(settings, "list", "--json").stdout)
    assert sorted(p["slug"] for p in listed) == ["greeting", "order-summary"]

    bad_input = cli(settings, "render", "greeting", "--version", "1", "--input", "novalue")
    assert bad_input.returncode == 1 and "name=value" in bad_input.stderr
    nobody = tenantry(settings, "prompts", "list", "--org", "nope")
    assert nobody.returncode == 1 and "no organization" in nobody.stderr


def test_run_against_a_loopback_openai_server(settings, tmp_path, openai_server):  # noqa: F811
    env = {"TENANTRY_ALLOWED_PRIVATE_NETWORKS": "127.0.0.0/8", "TENANTRY_LLM_MAX_RETRIES": "0"}
    settings.allowed_private_networks = "127.0.0.0/8"
    owner = _org(
        settings,
        name="loop",
        kind="openai",
        base_url=openai_server.base_url,
        api_key=openai_server.api_key,
    )
    folder = _folder(tmp_path)
    assert cli(settings, "push", str(folder), "--label", "production").returncode == 0

    openai_server.script(Reply(text="Two orders, both shipped.", input_tokens=30, output_tokens=5))
    ran = cli(
        settings,
        "run",
        "order-summary",
        "--input",
        "customer=Ada",
        "--input",
        'orders=[{"id": 1}, {"id": 2}]',
        env=env,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "Two orders, both shipped.\n"
    assert "order-summary v1 (production) · loop/gpt-4o-mini" in ran.stderr
    assert "35 tokens (30 in, 5 out)" in ran.stderr and " ms · execution " in ran.stderr
    sent = openai_server.requests[-1].body
    assert sent["stream"] is True and sent["messages"][0]["content"].startswith("Be brief")

    plain = cli(
        settings,
        "run",
        "greeting",
        "--input",
        "name=Bob",
        "--no-stream",
        "--no-store-inputs",
        "--model",
        "gpt-4.1",
        env=env,
    )
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout == "echo: Hello Bob!\n" and "loop/gpt-4.1" in plain.stderr
    assert openai_server.requests[-1].body.get("stream") in (None, False)

    openai_server.script(Reply(status=400, error="model does not exist"))
    no_model = cli(settings, "run", "greeting", "--input", "name=Bob", env=env)
    assert no_model.returncode == 1 and "name a model" in no_model.stderr
    failed = cli(settings, "run", "greeting", "-i", "name=Bob", "--model", "nope", env=env)
    assert failed.returncode == 1 and "model does not exist" in failed.stderr
    assert "execution" in failed.stderr and "Traceback" not in failed.stderr

    with TestClient(create_app(settings)) as client:
        log = client.get("/api/v1/orgs/acme/prompt-executions", headers=owner.h).json()["items"]
        assert [e["status"] for e in log] == ["failed", "succeeded", "succeeded"]
        assert log[1]["inputs"] is None and log[2]["inputs"]["customer"] == "Ada"
        r = client.put(
            "/api/v1/orgs/acme/prompt-settings", json={"monthly_token_limit": 5}, headers=owner.h
        )
        assert r.status_code == 200, r.text
    calls = len(openai_server.requests)
    refused = cli(settings, "run", "order-summary", "-i", "customer=A", "-i", "orders=[]", env=env)
    assert refused.returncode == 1 and "monthly token quota" in refused.stderr
    assert len(openai_server.requests) == calls
