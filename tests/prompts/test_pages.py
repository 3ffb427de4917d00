"""The prompt registry's pages and the LLM provider settings: lists, the editor (checked and
previewed as you type, saved through its form), versions, diffs, labels with their permissions,
the run panel's stream, the execution log's filters, quotas — and keys that never show."""

from __future__ import annotations

import json
import re

from tests.llm.servers import Reply
from tests.prompts.helpers import add_execution, create_prompt
from tests.web.test_pages import browser_login, form_token

SPEC = {
    "id": "greet",
    "description": "Greets a customer",
    "tags": ["support"],
    "model": {"model": "gpt-4o-mini", "temperature": 0.2, "max_tokens": 40},
    "inputs": {
        "name": {"type": "string", "description": "Who is greeted"},
        "tone": {"type": "enum", "values": ["warm", "dry"], "default": "warm"},
    },
    "messages": [
        {"role": "system", "content": "Be {{ tone }}."},
        {"role": "user", "content": "Say hello to {{ name }}."},
    ],
}
YAML = """id: greet
description: Greets a customer
tags: [support]
model:
  model: gpt-4o-mini
inputs:
  name:
    type: string
    description: Who is greeted
  times:
    type: integer
    default: 1
messages:
  - role: system
    content: Be brief.
  - role: user
    content: Say hello to {{ name }} {{ times }} times.
"""


def _pages(world) -> str:
    return f"/o/{world.a}/prompts"


def _versions(client, person, org, slug="greet") -> list[dict]:
    r = client.get(f"/api/v1/orgs/{org}/prompts/{slug}/versions", headers=person.h)
    return r.json()["items"]


def _labels(client, person, org, slug="greet") -> dict[str, int]:
    return client.get(f"/api/v1/orgs/{org}/prompts/{slug}/labels", headers=person.h).json()[
        "labels"
    ]


def _add_provider(client, person, org, server, name="loop") -> dict:
    body = {"name": name, "kind": "openai", "base_url": server.base_url, "api_key": server.api_key}
    r = client.post(f"/api/v1/orgs/{org}/llm/providers", json=body, headers=person.h)
    assert r.status_code == 201, r.text
    return r.json()


def test_every_page_renders_for_the_owner(client, world):
    owner = world.people["owner"]
    r = client.post(
        f"/api/v1/orgs/{world.a}/prompt-parts",
        json={"name": "sig", "content": "Regards, Acme"},
        headers=owner.h,
    )
    assert r.status_code == 201, r.text
    create_prompt(client, owner, world.a, SPEC, labels=["production"], message="first")
    second = SPEC | {"description": "Greets warmly", "messages": [SPEC["messages"][1]]}
    create = client.put(
        f"/api/v1/orgs/{world.a}/prompts/greet", json={"spec": second}, headers=owner.h
    )
    assert create.status_code == 201
    execution = add_execution(
        client, world.a, create.json()["id"], prompt_slug="greet", model="gpt-4o-mini"
    )
    browser_login(client, "owner@a.example")
    base = _pages(world)

    home = client.get(f"/o/{world.a}").text
    assert f'href="{base}"' in home and 'data-nav="prompts"' in home
    assert f'href="/o/{world.a}/llm"' in home

    listing = client.get(base).text
    assert 'data-prompt="greet"' in listing and "Greets warmly" in listing
    assert 'data-label="production"' in listing and "label-production" in listing
    assert 'data-label="latest"' in listing and "v2" in listing
    assert 'data-testid="new-prompt"' in listing and 'data-tag="support"' in listing

    editor = client.get(f"{base}/greet").text
    assert "data-yaml-editor" in editor and "/static/prompts.js" in editor
    assert "Greets warmly" in editor and 'data-testid="save"' in editor
    inputs = json.loads(re.search(r'data-inputs="([^"]*)"', editor).group(1).replace("&#34;", '"'))
    assert [i["name"] for i in inputs] == ["name", "tone"]
    assert inputs[1] | {"type": "enum", "values": ["warm", "dry"], "default": "warm"} == inputs[1]
    # Protected labels are offered to an owner on save.
    assert 'data-save-label="production"' in editor

    new = client.get(f"{base}/new").text
    assert "id: support-reply" in new and 'action="/o/org-a/prompts/new"' in new

    run = client.get(f"{base}/greet/run").text
    assert 'data-testid="run"' in run and 'data-execute-url="/o/org-a/prompts/greet/execute"' in run
    assert "label:production" in run and 'data-testid="run-version">1<' in run
    run2 = client.get(f"{base}/greet/run?target=version:2").text
    assert 'data-testid="run-version">2<' in run2

    versions = client.get(f"{base}/greet/versions").text
    assert 'data-version="2"' in versions and 'data-version="1"' in versions
    assert "first" in versions and 'data-testid="label-history"' in versions
    assert 'data-rollback="2"' in versions  # production is on 1: promote 2

    one = client.get(f"{base}/greet/versions/1").text
    assert "Say hello to {{ name }}." in one and "readonly" in one

    diff = client.get(f"{base}/greet/diff?from=1&to=2").text
    assert 'data-path="description"' not in diff  # a text: shown side by side
    assert 'data-diff-path="description"' in diff and "sbs-replace" in diff
    assert "Greets a customer" in diff and "Greets warmly" in diff
    assert 'data-path="messages[0]"' in diff  # the removed system message: in the table

    parts = client.get(f"{base}/parts").text
    assert 'data-part="sig"' in parts and 'data-testid="part-form"' in parts
    part = client.get(f"{base}/parts/sig").text
    assert "Regards, Acme" in part and 'data-testid="part-versions"' in part

    log = client.get(f"{base}/executions").text
    assert f'data-execution="{execution}"' in log and 'data-testid="totals-day"' in log
    detail = client.get(f"{base}/executions/{execution}")
    assert detail.status_code == 200 and "Not stored" in detail.text

    settings = client.get(f"{base}/settings").text
    assert 'data-testid="save-settings"' in settings and "production" in settings

    llm = client.get(f"/o/{world.a}/llm").text
    assert 'data-testid="provider-form"' in llm and 'data-model="gpt-4o-mini"' in llm


def test_list_search_and_tag_chips(client, world):
    owner = world.people["owner"]
    create_prompt(client, owner, world.a, SPEC)
    other = {"id": "summarize", "description": "Summarizes tickets", "tags": ["ops"]}
    create_prompt(client, owner, world.a, other | {"template": "Summarize."})
    browser_login(client, "viewer@a.example")
    base = _pages(world)
    both = client.get(base).text
    assert 'data-prompt="greet"' in both and 'data-prompt="summarize"' in both
    found = client.get(base + "?q=tickets").text
    assert 'data-prompt="summarize"' in found and 'data-prompt="greet"' not in found
    tagged = client.get(base + "?tag=support").text
    assert 'data-prompt="greet"' in tagged and 'data-prompt="summarize"' not in tagged
    assert 'class="tag-chip active"' in tagged
    none = client.get(base + "?q=nothing-like-this").text
    assert 'data-testid="no-match"' in none
    # A viewer gets no "New prompt".
    assert 'data-testid="new-prompt"' not in both


def test_viewer_sees_no_save_or_run_controls_and_its_posts_are_refused(client, world):
    owner = world.people["owner"]
    create_prompt(client, owner, world.a, SPEC, labels=["production"])
    browser_login(client, "viewer@a.example")
    base = _pages(world)
    editor = client.get(f"{base}/greet").text
    assert 'data-testid="save"' not in editor and "readonly" in editor
    assert 'data-testid="delete-prompt"' not in editor
    assert 'data-testid="input-form"' in editor  # a viewer may still preview (prompts:render)
    run = client.get(f"{base}/greet/run").text
    assert 'data-testid="run-disabled"' in run and 'data-testid="run"' not in run
    versions = client.get(f"{base}/greet/versions").text
    assert 'data-testid="label-form"' not in versions and "data-rollback" not in versions
    assert client.get(f"{base}/new").status_code == 403
    settings = client.get(f"{base}/settings").text
    assert 'data-testid="save-settings"' not in settings
    llm = client.get(f"/o/{world.a}/llm").text
    assert 'data-testid="provider-form"' not in llm and 'data-testid="price-form"' not in llm

    token = form_token(client, f"{base}/greet")
    refused = {
        f"{base}/greet": {"yaml": json.dumps(SPEC), "message": "x"},
        f"{base}/greet/execute": {"inputs": '{"name": "Ann"}'},
        f"{base}/greet/labels": {"label": "staging", "version": "1"},
        f"{base}/greet/delete": {},
        f"{base}/new": {"yaml": "id: x\ntemplate: hi\n"},
        f"{base}/parts": {"name": "p", "content": "x"},
        f"{base}/settings": {"monthly_token_limit": "1"},
        f"/o/{world.a}/llm/providers": {"name": "x", "kind": "openai"},
        f"/o/{world.a}/llm/prices": {"model": "m", "input": "1", "output": "1"},
    }
    for url, data in refused.items():
        r = client.post(url, data={"csrf_token": token, **data}, follow_redirects=False)
        assert r.status_code == 403, (url, r.status_code)
    assert [v["version"] for v in _versions(client, owner, world.a)] == [1]
    assert "staging" not in _labels(client, owner, world.a)
    # Without the form's token, even an owner's POST is refused.
    browser_login(client, "owner@a.example")
    r = client.post(f"{base}/greet/labels", data={"label": "staging", "version": "1"})
    assert r.status_code == 403


def test_saving_through_the_form_creates_versions_and_applies_labels(client, world):
    owner = world.people["owner"]
    browser_login(client, "editor@a.example")
    base = _pages(world)
    token = form_token(client, f"{base}/new")

    r = client.post(
        f"{base}/new",
        data={"csrf_token": token, "yaml": YAML, "message": "first", "labels": "staging"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"{base}/greet"
    page = client.get(r.headers["location"]).text
    assert "Created greet, version 1." in page and "Labels staging → version 1." in page
    assert _labels(client, owner, world.a)["staging"] == 1

    changed = YAML.replace("Be brief.", "Be very brief.")
    r = client.post(
        f"{base}/greet",
        data={"csrf_token": token, "yaml": changed, "message": "shorter", "new_label": "canary"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = client.get(r.headers["location"]).text
    assert "Saved version 2." in page and "Labels canary → version 2." in page
    versions = _versions(client, owner, world.a)
    assert [(v["version"], v["message"], v["author"]) for v in versions][0] == (
        2,
        "shorter",
        "editor@a.example",
    )
    # The same text again: no version.
    r = client.post(f"{base}/greet", data={"csrf_token": token, "yaml": changed})
    assert "No changes; greet is still version 2." in r.text
    assert len(_versions(client, owner, world.a)) == 2

    # An editor asking for production on save: saved, the label refused with why.
    r = client.post(
        f"{base}/greet",
        data={"csrf_token": token, "yaml": YAML, "labels": "production"},
    )
    assert "Saved version 3." in r.text and "protected" in r.text
    assert "production" not in _labels(client, owner, world.a)

    # A refused save lists the problems with their lines and keeps the text.
    bad = YAML.replace("{{ times }}", "{{ nobody }}")
    r = client.post(f"{base}/greet", data={"csrf_token": token, "yaml": bad, "message": "oops"})
    assert r.status_code == 422
    assert "nobody" in r.text and "{{ nobody }}" in r.text and 'value="oops"' in r.text
    assert "data-line=" in r.text
    r = client.post(f"{base}/greet", data={"csrf_token": token, "yaml": "id: other\n" + YAML[10:]})
    assert r.status_code == 422 and "keep the id" in r.text
    assert len(_versions(client, owner, world.a)) == 3


def test_live_check_and_preview(client, world):
    browser_login(client, "viewer@a.example")
    base = _pages(world)
    token = form_token(client, f"/o/{world.a}/prompts")

    r = client.post(f"{base}/validate", data={"csrf_token": token, "yaml": YAML})
    assert r.status_code == 200 and r.json()["valid"] is True
    assert [(i["name"], i["type"], i["default"]) for i in r.json()["inputs"]] == [
        ("name", "string", None),
        ("times", "integer", 1),
    ]
    bad = YAML.replace("type: integer", "type: int")
    r = client.post(f"{base}/validate", data={"csrf_token": token, "yaml": bad})
    assert r.json()["valid"] is False and r.json()["inputs"] is None
    problem = r.json()["problems"][0]
    assert problem["line"] == 11 and "integer" in problem["message"]

    inputs = json.dumps({"name": "Ann", "times": "3"})
    r = client.post(f"{base}/preview", data={"csrf_token": token, "yaml": YAML, "inputs": inputs})
    assert r.status_code == 200
    assert r.json()["rendered"]["messages"][1] == {
        "role": "user",
        "content": "Say hello to Ann 3 times.",
    }
    wrong = json.dumps({"name": "Ann", "times": "many"})
    r = client.post(f"{base}/preview", data={"csrf_token": token, "yaml": YAML, "inputs": wrong})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "inputs.times"
    # Without the token: refused, nothing rendered.
    r = client.post(f"{base}/preview", data={"yaml": YAML}, follow_redirects=False)
    assert r.status_code == 403


def test_label_moves_for_admins_and_editors(client, world):
    owner = world.people["owner"]
    create_prompt(client, owner, world.a, SPEC, labels=["production"])
    client.put(
        f"/api/v1/orgs/{world.a}/prompts/greet",
        json={"spec": SPEC | {"description": "v2"}},
        headers=owner.h,
    )
    base = _pages(world)
    # An editor: staging moves; production is refused with a clear message, and not offered.
    browser_login(client, "editor@a.example")
    page = client.get(f"{base}/greet/versions").text
    assert '<option value="staging">' in page and '<option value="production">' not in page
    assert "data-locked" in page and "production: protected" in page
    assert "data-rollback" not in page
    token = form_token(client, f"{base}/greet/versions")
    r = client.post(
        f"{base}/greet/labels", data={"csrf_token": token, "label": "staging"} | {"version": "2"}
    )
    assert "staging now points at version 2." in r.text
    r = client.post(
        f"{base}/greet/labels", data={"csrf_token": token, "label": "production", "version": "2"}
    )
    assert r.status_code == 200 and "alert-error" in r.text
    assert "Label not moved" in r.text and "protected" in r.text and "prompts:admin" in r.text
    assert _labels(client, owner, world.a)["production"] == 1

    # An admin promotes, then rolls back; both moves are in the label history.
    browser_login(client, "admin@a.example")
    token = form_token(client, f"{base}/greet/versions")
    r = client.post(
        f"{base}/greet/labels", data={"csrf_token": token, "label": "production", "version": "2"}
    )
    assert "production now points at version 2 (was 1)." in r.text
    assert 'data-rollback="1"' in r.text and "Move production back to v1" in r.text
    r = client.post(
        f"{base}/greet/labels", data={"csrf_token": token, "label": "production", "version": "1"}
    )
    assert "production now points at version 1 (was 2)." in r.text
    history = r.text.split('data-testid="label-history"')[1]
    assert "v2 → v1" in history and "v1 → v2" in history
    assert _labels(client, owner, world.a)["production"] == 1
    # Unknown versions and bad names are refused with why.
    r = client.post(
        f"{base}/greet/labels", data={"csrf_token": token, "label": "Bad Name", "version": "1"}
    )
    assert "Label not moved" in r.text and "lowercase" in r.text
    r = client.post(f"{base}/greet/labels/delete", data={"csrf_token": token, "label": "staging"})
    assert "Removed the label staging." in r.text
    assert "staging" not in _labels(client, owner, world.a)


def test_provider_form_stores_the_key_and_no_page_shows_it(client, world, openai_server):
    key = openai_server.api_key
    browser_login(client, "admin@a.example")
    llm = f"/o/{world.a}/llm"
    token = form_token(client, llm)
    form = {
        "csrf_token": token,
        "kind": "openai",
        "name": "loop",
        "base_url": openai_server.base_url,
        "api_key": key,
        "default_model": "gpt-4o-mini",
        "timeout_seconds": "20",
    }
    r = client.post(f"{llm}/providers", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get(llm).text
    assert 'data-provider="loop"' in page and "Added provider loop" in page
    assert "********" in page and 'data-testid="default-badge"' in page
    assert key not in page
    # The stored key works: the test lists the server's models with it.
    provider = client.get(
        f"/api/v1/orgs/{world.a}/llm/providers/loop", headers=world.people["owner"].h
    ).json()
    r = client.post(f"{llm}/providers/{provider['id']}/test", data={"csrf_token": token})
    assert "loop: Connected" in r.text and key not in r.text
    assert openai_server.requests[-1].headers["authorization"] == f"Bearer {key}"
    # Editing with a blank key keeps it; the edit form never carries it.
    edit = client.get(f"{llm}/providers/{provider['id']}").text
    assert key not in edit and 'name="api_key" type="password" value=""' in edit
    r = client.post(
        f"{llm}/providers/{provider['id']}",
        data=form | {"api_key": "", "default_model": "gpt-4.1"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    r = client.post(f"{llm}/providers/{provider['id']}/test", data={"csrf_token": token})
    assert "loop: Connected" in r.text
    assert openai_server.requests[-1].headers["authorization"] == f"Bearer {key}"
    assert "gpt-4.1" in r.text and key not in r.text
    # Extra headers: write-only like the key; the edit page names them, never their values.
    r = client.post(
        f"{llm}/providers/{provider['id']}",
        data=form | {"api_key": "", "headers": "X-Gateway-Tenant: gw-secret-77\n"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    client.post(f"{llm}/providers/{provider['id']}/test", data={"csrf_token": token})
    assert openai_server.requests[-1].headers["x-gateway-tenant"] == "gw-secret-77"
    edit = client.get(f"{llm}/providers/{provider['id']}").text
    assert "X-Gateway-Tenant" in edit and "gw-secret-77" not in edit
    r = client.post(
        f"{llm}/providers/{provider['id']}",
        data=form | {"api_key": "", "headers": "no colon here"},
    )
    assert r.status_code == 422 and "Name: value" in r.text
    # A refused form shows the problem and does not echo the key.
    r = client.post(f"{llm}/providers", data=form | {"name": "Bad Name"})
    assert r.status_code == 422 and "lowercase" in r.text and key not in r.text
    # Prices: an override is added and removed.
    r = client.post(
        f"{llm}/prices",
        data={"csrf_token": token, "model": "my-tune", "input": "1.5", "output": "3"},
    )
    assert 'data-model="my-tune"' in r.text and "override" in r.text
    r = client.post(f"{llm}/prices", data={"csrf_token": token, "model": "m", "input": "x"})
    assert r.status_code == 422 and "USD per 1M tokens" in r.text
    price = next(
        p
        for p in client.get(
            f"/api/v1/orgs/{world.a}/llm/prices", headers=world.people["owner"].h
        ).json()["items"]
        if p["model"] == "my-tune"
    )
    r = client.post(f"{llm}/prices/{price['id']}/delete", data={"csrf_token": token})
    assert 'data-model="my-tune"' not in r.text
    # Another organization's provider: 404.
    browser_login(client, "owner@b.example")
    assert client.get(f"/o/{world.b}/llm/providers/{provider['id']}").status_code == 404
    token_b = form_token(client, f"/o/{world.b}/llm")
    r = client.post(
        f"/o/{world.b}/llm/providers/{provider['id']}/delete", data={"csrf_token": token_b}
    )
    assert r.status_code == 404


def test_executions_page_filters_and_totals(client, world):
    owner = world.people["owner"]
    greet = create_prompt(client, owner, world.a, SPEC)
    other = create_prompt(client, owner, world.a, SPEC | {"id": "other"})
    ids = {
        "ok": add_execution(
            client,
            world.a,
            greet["id"],
            prompt_slug="greet",
            model="gpt-4o-mini",
            input_tokens=10,
            output_tokens=5,
            cost_micros=12,
            inputs={"name": "Ann"},
            output="Hello Ann",
        ),
        "failed": add_execution(
            client,
            world.a,
            greet["id"],
            prompt_slug="greet",
            model="gpt-4.1",
            status="failed",
            error="The provider refused",
        ),
        "other": add_execution(
            client, world.a, other["id"], prompt_slug="other", version=1, model="gpt-4o-mini"
        ),
    }
    browser_login(client, "viewer@a.example")
    log = f"{_pages(world)}/executions"

    def shown(query=""):
        text = client.get(log + query).text
        return {k for k, v in ids.items() if f'data-execution="{v}"' in text}, text

    assert shown()[0] == {"ok", "failed", "other"}
    assert shown("?prompt=greet")[0] == {"ok", "failed"}
    assert shown("?status=failed")[0] == {"failed"}
    assert shown("?model=gpt-4o-mini")[0] == {"ok", "other"}
    assert shown("?prompt=greet&version=1&status=succeeded")[0] == {"ok"}
    assert shown("?version=2")[0] == set()
    assert shown("?since=2000-01-01&until=2999-12-31")[0] == {"ok", "failed", "other"}
    assert shown("?until=2000-01-01")[0] == set()
    found, text = shown("?prompt=greet")
    per_prompt = text.split('data-testid="totals-prompt"')[1].split("</table>")[0]
    assert 'data-key="greet"' in per_prompt and 'data-key="other"' not in per_prompt
    assert "<td>2</td><td>1</td><td>10</td><td>5</td>" in per_prompt  # runs, failed, in, out
    found, text = shown("?since=yesterday")
    assert found == {"ok", "failed", "other"} and "a date, such as" in text
    # Pages of the filtered log keep the filters.
    page = client.get(log + "?prompt=greet&size=1").text
    assert "?prompt=greet&amp;page=2&size=1" in page
    # One execution: inputs and output, or the error.
    ok = client.get(f"{log}/{ids['ok']}").text
    assert "Hello Ann" in ok and "&#34;Ann&#34;" in ok and "$0.000012" in ok
    failed = client.get(f"{log}/{ids['failed']}").text
    assert "The provider refused" in failed
    browser_login(client, "owner@b.example")
    assert client.get(f"/o/{world.b}/prompts/executions/{ids['ok']}").status_code == 404
    assert client.get(f"/o/{world.b}/prompts/greet").status_code == 404
    assert client.get(f"/o/{world.b}/prompts/greet/versions").status_code == 404


def test_the_run_panel_streams_and_shows_refusals(client, world, openai_server):
    owner = world.people["owner"]
    _add_provider(client, owner, world.a, openai_server)
    create_prompt(client, owner, world.a, SPEC, labels=["production"])
    browser_login(client, "editor@a.example")
    run = f"{_pages(world)}/greet/run"
    token = form_token(client, run)
    url = f"{_pages(world)}/greet/execute"
    openai_server.script(Reply(text="Hello Ann!", input_tokens=9, output_tokens=3))
    form = {
        "csrf_token": token,
        "target": "label:production",
        "inputs": json.dumps({"name": "Ann"}),
        "store_inputs": "false",
        "temperature": "0.5",
        "top_p": "0.9",
        "stop": "END, ###",
    }
    events, name = [], None
    with client.stream("POST", url, data=form) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:])))
    kinds = [k for k, _ in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and "text" in kinds
    done = events[-1][1]
    assert done["output"] == "Hello Ann!" and done["input_tokens"] == 9
    assert done["inputs_stored"] is False and done["label"] == "production"
    sent = openai_server.requests[-1].body
    assert (sent["temperature"], sent["top_p"], sent["stop"]) == (0.5, 0.9, ["END", "###"])
    # Refusals are JSON naming the problem: a bad input, then the monthly quota.
    r = client.post(url, data=form | {"inputs": "{}"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "inputs.name"
    r = client.post(url, data=form | {"max_tokens": "-3"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "model.max_tokens"
    client.put(
        f"/api/v1/orgs/{world.a}/prompt-settings",
        json={"monthly_token_limit": 10},
        headers=owner.h,
    )
    r = client.post(url, data=form)
    assert r.status_code == 429 and "monthly token quota" in r.json()["detail"]
    # The preview of the stored version.
    r = client.post(f"{_pages(world)}/greet/render", data=form)
    assert r.json()["rendered"]["messages"][1]["content"] == "Say hello to Ann."


def test_settings_form_and_quota_usage(client, world):
    browser_login(client, "admin@a.example")
    base = _pages(world)
    token = form_token(client, f"{base}/settings")
    r = client.post(
        f"{base}/settings",
        data={
            "csrf_token": token,
            "monthly_token_limit": "5000",
            "monthly_spend_limit_usd": "2.5",
            "protected_labels": "production, staging",
            "retention_days": "30",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = client.get(f"{base}/settings").text
    assert "Settings saved." in page and "0 used of 5,000" in page and "$2.50" in page
    assert 'value="production, staging"' in page and 'value="30"' in page
    assert "<meter" in page and "Resets" in page
    store_box = page.split('name="store_inputs"')[1].split(">")[0]
    assert "checked" not in store_box  # left unticked: inputs are not kept by default
    r = client.post(
        f"{base}/settings",
        data={"csrf_token": token, "monthly_token_limit": "lots", "protected_labels": "Prod!"},
    )
    assert r.status_code == 422 and "whole number" in r.text and 'value="lots"' in r.text
    browser_login(client, "editor@a.example")
    token = form_token(client, f"{base}/settings")
    r = client.post(f"{base}/settings", data={"csrf_token": token, "monthly_token_limit": ""})
    assert r.status_code == 403
