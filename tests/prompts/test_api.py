"""The registry's API: versions by content hash, labels and their permissions, rollback, diff,
pinned parts, render — and another organization seeing none of it."""

from __future__ import annotations

from tests.helpers import api_key
from tests.prompts.helpers import create_prompt, save_prompt

SPEC = {
    "id": "greet",
    "description": "Greets a customer",
    "tags": ["support"],
    "template": 'Hello {{ name }}, {% include "sig" %}',
    "inputs": {"name": {"type": "string", "description": "Who"}},
    "model": {"model": "gpt-4o-mini", "temperature": 0.2},
}


def _part(client, person, org, content, name="sig"):
    base = f"/api/v1/orgs/{org}/prompt-parts"
    r = client.put(f"{base}/{name}", json={"content": content}, headers=person.h)
    if r.status_code == 404:
        r = client.post(base, json={"name": name, "content": content}, headers=person.h)
    assert r.status_code in (200, 201), r.text
    return r.json()


def _render(client, person, org, ref="greet", **body):
    return client.post(f"/api/v1/orgs/{org}/prompts/{ref}/render", json=body, headers=person.h)


def test_versions_are_created_only_by_changes_and_never_change(client, world):
    owner = world.people["owner"]
    _part(client, owner, world.a, "Regards, Acme")
    v1 = create_prompt(client, owner, world.a, SPEC, message="first")
    assert v1["version"] == 1 and v1["created"] and v1["parts"] == {"sig": 1}
    # The same content again: no version, 200.
    same = save_prompt(client, owner, world.a, SPEC)
    assert same.status_code == 200 and same.json()["created"] is False
    assert same.json()["version"] == 1
    changed = save_prompt(client, owner, world.a, SPEC | {"template": "Hi {{ name }}"}, message="m")
    assert changed.status_code == 201 and changed.json()["version"] == 2
    # Version 1 reads exactly as saved.
    r = client.get(f"/api/v1/orgs/{world.a}/prompts/greet/versions/1", headers=owner.h)
    assert r.json()["spec"]["template"] == SPEC["template"]
    assert r.json()["message"] == "first" and r.json()["author"] == "owner@a.example"
    history = client.get(f"/api/v1/orgs/{world.a}/prompts/greet/versions", headers=owner.h).json()
    assert [v["version"] for v in history["items"]] == [2, 1]
    assert "latest" in history["items"][0]["labels"]
    # Creating it again is a conflict, not a silent overwrite.
    r = client.post(f"/api/v1/orgs/{world.a}/prompts", json={"spec": SPEC}, headers=owner.h)
    assert r.status_code == 409


def test_yaml_in_and_out_keeps_descriptions(client, world):
    owner = world.people["owner"]
    text = (
        "id: yaml-one\ndescription: Keeps this\ninputs:\n  who:\n    type: string\n"
        "    description: The person greeted\ntemplate: |\n  Hi {{ who }}\n"
    )
    r = client.post(f"/api/v1/orgs/{world.a}/prompts", json={"yaml": text}, headers=owner.h)
    assert r.status_code == 201, r.text
    out = client.get(f"/api/v1/orgs/{world.a}/prompts/yaml-one?label=latest", headers=owner.h)
    assert "The person greeted" in out.json()["yaml"]
    again = client.put(
        f"/api/v1/orgs/{world.a}/prompts/yaml-one",
        json={"yaml": out.json()["yaml"]},
        headers=owner.h,
    )
    assert again.json()["created"] is False


def test_bad_content_is_refused_whole_and_names_the_problem(client, world):
    owner = world.people["owner"]
    bad = SPEC | {"id": "bad", "template": "Hello {{ nobody }}"}
    r = client.post(f"/api/v1/orgs/{world.a}/prompts", json={"spec": bad}, headers=owner.h)
    assert r.status_code == 422 and "nobody" in r.json()["detail"]
    r = client.post(
        f"/api/v1/orgs/{world.a}/prompts",
        json={"yaml": "id: broken\ntemplate: '{% if %}'\n"},
        headers=owner.h,
    )
    assert r.status_code == 422
    assert client.get(f"/api/v1/orgs/{world.a}/prompts", headers=owner.h).json()["total"] == 0


def test_reads_default_to_production_and_labels_move_with_permissions(client, world):
    owner, editor = world.people["owner"], world.people["editor"]
    _part(client, owner, world.a, "Regards")
    create_prompt(client, owner, world.a, SPEC)
    base = f"/api/v1/orgs/{world.a}/prompts/greet"
    r = client.get(base, headers=owner.h)
    assert r.status_code == 404 and "production" in r.json()["detail"]
    save_prompt(client, owner, world.a, SPEC | {"template": "Hey {{ name }}"})
    # An editor may move staging, not the protected production label.
    r = client.put(f"{base}/labels/staging", json={"version": 2}, headers=editor.h)
    assert r.status_code == 200 and r.json()["labels"]["staging"] == 2
    r = client.put(f"{base}/labels/production", json={"version": 2}, headers=editor.h)
    assert r.status_code == 403 and "prompts:admin" in r.json()["detail"]
    r = client.put(f"{base}/labels/production", json={"version": 2}, headers=owner.h)
    assert r.status_code == 200
    assert client.get(base, headers=editor.h).json()["version"] == 2
    assert client.get(f"{base}?label=staging", headers=editor.h).json()["label"] == "staging"
    assert client.get(f"{base}?version=1", headers=editor.h).json()["version"] == 1
    # Rollback: move production back; both moves are in the label history and the audit log.
    client.put(f"{base}/labels/production", json={"version": 1}, headers=owner.h)
    assert client.get(base, headers=editor.h).json()["version"] == 1
    moves = client.get(f"{base}/label-history", headers=owner.h).json()["items"]
    prod = [m for m in moves if m["label"] == "production"]
    assert [(m["from_version"], m["to_version"]) for m in prod] == [(2, 1), (None, 2)]
    audit = client.get(f"/api/v1/orgs/{world.a}/audit", headers=owner.h).json()["items"]
    assert any(e["action"] == "prompt.label.move" for e in audit)
    # latest cannot be moved; unknown versions are refused.
    assert (
        client.put(f"{base}/labels/latest", json={"version": 1}, headers=owner.h).status_code == 422
    )
    assert (
        client.put(f"{base}/labels/staging", json={"version": 9}, headers=owner.h).status_code
        == 404
    )


def test_protected_labels_are_configurable(client, world):
    owner, editor = world.people["owner"], world.people["editor"]
    _part(client, owner, world.a, "Regards")
    create_prompt(client, owner, world.a, SPEC)
    r = client.put(
        f"/api/v1/orgs/{world.a}/prompt-settings",
        json={"protected_labels": ["production", "staging"]},
        headers=owner.h,
    )
    assert r.status_code == 200 and r.json()["protected_labels"] == ["production", "staging"]
    r = client.put(
        f"/api/v1/orgs/{world.a}/prompts/greet/labels/staging",
        json={"version": 1},
        headers=editor.h,
    )
    assert r.status_code == 403
    r = client.put(
        f"/api/v1/orgs/{world.a}/prompt-settings", json={"protected_labels": []}, headers=editor.h
    )
    assert r.status_code == 403


def test_diff_between_versions(client, world):
    owner = world.people["owner"]
    _part(client, owner, world.a, "Regards")
    create_prompt(client, owner, world.a, SPEC)
    v2 = SPEC | {
        "template": "Hi {{ name }} from {{ shop }}",
        "inputs": SPEC["inputs"] | {"shop": {"type": "string", "default": "Acme"}},
        "model": {"model": "gpt-4o", "temperature": 0.7},
    }
    save_prompt(client, owner, world.a, v2)
    d = client.get(f"/api/v1/orgs/{world.a}/prompts/greet/diff?from=1&to=2", headers=owner.h)
    paths = {c["path"]: c for c in d.json()["changes"]}
    assert paths["template"]["change"] == "changed"
    assert paths["inputs.shop"]["change"] == "added"
    assert (
        paths["model.temperature"]["before"] == 0.2 and paths["model.temperature"]["after"] == 0.7
    )
    assert "model.model" in paths


def test_an_old_version_renders_with_the_parts_it_pinned(client, world):
    owner = world.people["owner"]
    _part(client, owner, world.a, "Regards, the old team")
    create_prompt(client, owner, world.a, SPEC, labels=["production"])
    _part(client, owner, world.a, "Cheers, the new team")  # part v2
    r = save_prompt(client, owner, world.a, SPEC)  # picks up part v2: new version
    assert r.status_code == 201 and r.json()["parts"] == {"sig": 2}
    old = _render(client, owner, world.a, inputs={"name": "Ann"}, version=1).json()
    new = _render(client, owner, world.a, inputs={"name": "Ann"}, label="latest").json()
    assert old["rendered"]["text"] == "Hello Ann, Regards, the old team"
    assert new["rendered"]["text"] == "Hello Ann, Cheers, the new team"
    # A part pinned by a version cannot be deleted.
    r = client.delete(f"/api/v1/orgs/{world.a}/prompt-parts/sig", headers=owner.h)
    assert r.status_code == 409 and "greet v1" in r.json()["detail"]


def test_render_coerces_inputs_and_names_the_bad_one(client, world):
    owner = world.people["owner"]
    spec = {
        "id": "typed",
        "template": "{{ n + 1 }} {{ flag }} {{ tone }}",
        "inputs": {
            "n": {"type": "integer"},
            "flag": {"type": "boolean", "default": False},
            "tone": {"type": "enum", "values": ["warm", "dry"], "default": "warm"},
        },
    }
    create_prompt(client, owner, world.a, spec, labels=["production"])
    ok = _render(client, owner, world.a, "typed", inputs={"n": "41"})
    assert ok.status_code == 200 and ok.json()["rendered"]["text"] == "42 False warm"
    r = _render(client, owner, world.a, "typed", inputs={})
    assert r.status_code == 422 and "inputs.n" in r.text
    r = _render(client, owner, world.a, "typed", inputs={"n": 1, "tone": "loud"})
    assert r.status_code == 422 and "inputs.tone" in r.text
    r = _render(client, owner, world.a, "typed", inputs={"n": 1, "extra": 1})
    assert r.status_code == 422 and "extra" in r.text


def test_validate_reports_lines_and_variables(client, world):
    owner = world.people["owner"]
    text = "id: v\ninputs:\n  used: {}\n  unused: {}\ntemplate: |\n  {{ used }}\n  {{ missing }}\n"
    r = client.post(
        f"/api/v1/orgs/{world.a}/prompts/validate", json={"yaml": text}, headers=owner.h
    )
    body = r.json()
    assert body["valid"] is False
    kinds = {p["kind"] for p in body["problems"]}
    assert {"undeclared", "unused"} <= kinds
    assert any("missing" in p["message"] for p in body["problems"])


def test_another_organization_sees_nothing(client, world):
    owner, intruder = world.people["owner"], world.b_owner
    _part(client, owner, world.a, "Regards")
    made = create_prompt(client, owner, world.a, SPEC, labels=["production", "staging"])
    b_key = api_key(client, intruder, world.b, ["read", "run", "write", "admin"])["key"]
    b_h = {"Authorization": f"Bearer {b_key}"}
    for ref in (made["id"], "greet"):
        for h in (intruder.h, b_h):
            base = f"/api/v1/orgs/{world.b}/prompts/{ref}"
            assert client.get(base, headers=h).status_code == 404
            assert client.get(f"{base}?label=staging", headers=h).status_code == 404
            assert client.get(f"{base}?version=1", headers=h).status_code == 404
            r = client.post(f"{base}/render", json={"inputs": {"name": "x"}}, headers=h)
            assert r.status_code == 404
            r = client.post(f"{base}/execute", json={"inputs": {"name": "x"}}, headers=h)
            assert r.status_code == 404
            # …and through org A's URL, where B is not a member.
            a_url = f"/api/v1/orgs/{world.a}/prompts/{ref}"
            assert client.get(a_url, headers=h).status_code == 404
    # B's own prompt with the same slug is B's, and A's is untouched.
    create_prompt(client, intruder, world.b, SPEC | {"template": "B {{ name }}"})
    a = client.get(f"/api/v1/orgs/{world.a}/prompts/greet", headers=owner.h).json()
    assert a["spec"]["template"] == SPEC["template"]
    parts = client.get(f"/api/v1/orgs/{world.b}/prompt-parts", headers=intruder.h).json()
    assert parts["total"] == 0


def test_api_key_scopes(client, world):
    owner = world.people["owner"]
    create_prompt(
        client, owner, world.a, SPEC | {"template": "Hi {{ name }}"}, labels=["production"]
    )
    read = {"Authorization": f"Bearer {api_key(client, owner, world.a, ['prompts:read'])['key']}"}
    render = {
        "Authorization": f"Bearer {api_key(client, owner, world.a, ['prompts:render'])['key']}"
    }
    base = f"/api/v1/orgs/{world.a}/prompts/greet"
    assert client.get(base, headers=read).status_code == 200
    assert (
        client.post(f"{base}/render", json={"inputs": {"name": "x"}}, headers=read).status_code
        == 403
    )
    assert (
        client.post(f"{base}/render", json={"inputs": {"name": "x"}}, headers=render).status_code
        == 200
    )
    assert client.get(base, headers=render).status_code == 403
    r = client.post(f"{base}/execute", json={"inputs": {"name": "x"}}, headers=render)
    assert r.status_code == 403 and "prompts:execute" in r.json()["detail"]
    r = client.put(base, json={"spec": SPEC}, headers=read)
    assert r.status_code == 403


def test_an_api_key_can_ask_which_organization_it_belongs_to(client, world):
    owner = world.people["owner"]
    made = api_key(client, owner, world.a, ["prompts:read"], name="app")
    r = client.get("/api/v1/api-key", headers={"Authorization": f"Bearer {made['key']}"})
    assert r.status_code == 200
    assert (r.json()["org"], r.json()["scopes"], r.json()["name"]) == (
        world.a,
        ["prompts:read"],
        "app",
    )
    assert made["key"] not in r.text
    assert client.get("/api/v1/api-key", headers=owner.h).status_code == 401
    bad = {"Authorization": "Bearer tny_not-a-real-key"}
    assert client.get("/api/v1/api-key", headers=bad).status_code == 401
