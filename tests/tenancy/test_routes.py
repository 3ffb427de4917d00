"""Route inventory, cross-tenant probe and role matrix — isolation tested, not assumed."""

from __future__ import annotations

import re

import pytest

from tenantry.app import create_app
from tenantry.core.routes import iter_routes
from tenantry.tenancy.deps import route_permission
from tenantry.tenancy.permissions import ROLE_PERMISSIONS, SCOPE_PERMISSIONS, Permission
from tests.helpers import api_key, invite_token, member_id

# Routes FastAPI adds for its own documentation.
DOC_ROUTES = {"/openapi.json"}
PUBLIC_MOUNTS = {"/static", "/static/swagger"}


def app_routes():
    return [r for r in iter_routes(create_app()) if r.dependant is not None]


def _uses_verified_form(dependant) -> bool:
    return any(
        getattr(d.call, "csrf", False) or _uses_verified_form(d) for d in dependant.dependencies
    )


def test_every_route_declares_a_permission(settings):
    app = create_app(settings)
    missing = []
    for route in iter_routes(app):
        if route.is_mount:
            assert route.path in PUBLIC_MOUNTS, f"unexpected mount {route.path}"
            continue
        if route.path in DOC_ROUTES:
            continue
        assert route.dependant is not None, f"{route.path} is not an API route"
        if route_permission(route.dependant) is None:
            missing.append(f"{sorted(route.methods)} {route.path}")
    assert not missing, "routes without a declared permission:\n" + "\n".join(missing)


def test_org_routes_require_an_org_permission(settings):
    """Anything under an organization must resolve it (not be public or merely signed-in)."""
    for route in app_routes():
        if "{org}" in route.path:
            perm = route_permission(route.dependant)
            assert perm not in (Permission.PUBLIC, Permission.AUTHENTICATED), route.path


def test_every_state_changing_page_form_checks_csrf(settings):
    for route in app_routes():
        # The Cube API changes nothing, and with a session cookie it needs the X-Tenantry-Org
        # header, which a cross-site form cannot send.
        if route.path.startswith("/cubejs-api/"):
            continue
        if not route.path.startswith("/api/") and "POST" in route.methods:
            assert _uses_verified_form(route.dependant), (
                f"POST {route.path} takes no CSRF-checked form"
            )


# --- cross-tenant probe ---------------------------------------------------------------------

ID_PARAMS = {
    "member_id",
    "invitation_id",
    "key_id",
    "secret_id",
    "connection_id",
    "file_name",
    "pipeline_id",
    "run_id",
    "schedule_id",
    "transform_id",
    "edge_id",
    "signing_key_id",
    "prompt",
    "part",
    "execution_id",
    "provider_id",
    "price_id",
}
# Path parameters that name no object of an organization (a loaded table, per organization).
NAME_PARAMS = {
    "dataset": "raw",
    "table": "orders",
    "number": "1",
    "path": "a_only.yml",
    "label": "production",
}


def _objects_in_a(client, world) -> dict[str, str]:
    owner = world.people["owner"]
    token = invite_token(client, owner, world.a, "pending@a.example", "viewer")
    del token
    inv = client.get(f"/api/v1/orgs/{world.a}/invitations", headers=owner.h).json()["items"][0]
    key = api_key(client, owner, world.a, ["read"])
    secret = client.put(
        f"/api/v1/orgs/{world.a}/secrets",
        json={"name": "A_SECRET", "value": "s3cret-a"},
        headers=owner.h,
    ).json()
    connection = client.post(
        f"/api/v1/orgs/{world.a}/connections",
        json={"name": "A db", "kind": "duckdb", "config": {"path": "a.duckdb"}},
        headers=owner.h,
    ).json()
    import io

    uploaded = client.post(
        f"/api/v1/orgs/{world.a}/files",
        files={"file": ("a-only.csv", io.BytesIO(b"a\n1\n"))},
        headers=owner.h,
    ).json()
    pipeline = client.post(
        f"/api/v1/orgs/{world.a}/pipelines",
        json={
            "name": "A pipeline",
            "source_id": connection["id"],
            "spec": {"mode": "table", "table": "t"},
        },
        headers=owner.h,
    ).json()
    run = client.post(
        f"/api/v1/orgs/{world.a}/pipelines/{pipeline['id']}/run", headers=owner.h
    ).json()
    schedule = client.post(
        f"/api/v1/orgs/{world.a}/schedules",
        json={
            "name": "A schedule",
            "cron": "0 0 1 1 *",
            "target_kind": "pipeline",
            "target_id": pipeline["id"],
        },
        headers=owner.h,
    ).json()
    transform = client.post(
        f"/api/v1/orgs/{world.a}/transformations",
        json={"name": "a_model", "sql": "select 1 as a"},
        headers=owner.h,
    ).json()
    edge = client.post(
        f"/api/v1/orgs/{world.a}/dag/edges",
        json={
            "upstream_kind": "pipeline",
            "upstream_id": pipeline["id"],
            "downstream_kind": "transformation",
            "downstream_id": transform["id"],
        },
        headers=owner.h,
    ).json()
    signing_key = client.post(
        f"/api/v1/orgs/{world.a}/semantic/keys", json={"label": "A app"}, headers=owner.h
    ).json()
    prompt_ids = _prompt_objects_in_a(client, world)
    return prompt_ids | {
        "signing_key_id": signing_key["id"],
        "transform_id": transform["id"],
        "edge_id": edge["id"],
        "pipeline_id": pipeline["id"],
        "run_id": run["id"],
        "schedule_id": schedule["id"],
        "file_name": uploaded["name"],
        "connection_id": connection["id"],
        "member_id": member_id(client, owner, world.a, "viewer@a.example"),
        "invitation_id": inv["id"],
        "key_id": key["id"],
        "secret_id": secret["id"],
    }


def _prompt_objects_in_a(client, world) -> dict[str, str]:
    from tests.prompts.helpers import add_execution

    owner = world.people["owner"]
    base = f"/api/v1/orgs/{world.a}"
    part = client.post(
        f"{base}/prompt-parts", json={"name": "a_part", "content": "A's style"}, headers=owner.h
    ).json()
    spec = {"id": "a-prompt", "template": '{% include "a_part" %} {{ q }}', "inputs": {"q": {}}}
    prompt = client.post(
        f"{base}/prompts", json={"spec": spec, "labels": ["production"]}, headers=owner.h
    ).json()
    provider = client.post(
        f"{base}/llm/providers",
        json={"name": "a-openai", "kind": "openai", "api_key": "sk-a-only"},
        headers=owner.h,
    ).json()
    price = client.put(
        f"{base}/llm/prices",
        json={"model": "a-model", "input_per_mtok": 1, "output_per_mtok": 2},
        headers=owner.h,
    ).json()
    execution = add_execution(client, world.a, prompt["id"])
    return {
        "prompt": prompt["id"],
        "part": part["id"],
        "provider_id": provider["id"],
        "price_id": price["id"],
        "execution_id": execution,
    }


def _fill(path: str, org: str, ids: dict[str, str]) -> str:
    def sub(m):
        name = m.group(1)
        if name == "org":
            return org
        if name in NAME_PARAMS:
            return NAME_PARAMS[name]
        assert name in ids, (
            f"route {path} takes an id '{name}' the cross-tenant probe does not know"
        )
        return ids[name]

    return re.sub(r"\{(\w+)(?::\w+)?\}", sub, path)


def _body_for(route) -> dict:
    """A body the route's model accepts, so the answer is about the id, not the body."""
    body = {
        "role": "viewer",
        "name": "x",
        "value": "x",
        "member_id": "x",
        "email": "x@x.example",
        "config": {},
    }
    params = getattr(route.dependant, "body_params", None) or []
    model = getattr(params[0].field_info, "annotation", None) if len(params) == 1 else None
    fields = getattr(model, "model_fields", None)
    return {k: v for k, v in body.items() if k in fields} if fields is not None else body


def test_cross_tenant_ids_answer_404(client, world):
    ids = _objects_in_a(client, world)
    intruder = world.b_owner
    b_key = api_key(client, intruder, world.b, ["read", "write", "run", "admin"])["key"]
    probed = 0
    for route in app_routes():
        params = set(re.findall(r"\{(\w+)(?::\w+)?\}", route.path))
        if not route.path.startswith("/api/") or not params & ID_PARAMS:
            continue
        for method in route.methods:
            # Org B's owner asking, through org B, for org A's objects: like a missing id.
            url = _fill(route.path, world.b, ids)
            r = client.request(method, url, headers=intruder.h, json=_body_for(route))
            assert r.status_code == 404, f"{method} {url} → {r.status_code} {r.text}"
            # …and through org A's own URL: not a member, so the organization is not found.
            url = _fill(route.path, world.a, ids)
            r = client.request(method, url, headers=intruder.h, json=_body_for(route))
            assert r.status_code == 404, f"{method} {url} → {r.status_code} {r.text}"
            # Org B's API key on org A's routes is refused too.
            r = client.request(
                method, url, headers={"Authorization": f"Bearer {b_key}"}, json=_body_for(route)
            )
            assert r.status_code == 404, f"{method} {url} with B's key → {r.status_code}"
            probed += 1
    assert probed >= 6
    # Nothing of A's was touched.
    owner = world.people["owner"]
    assert (
        client.get(
            f"/api/v1/orgs/{world.a}/members/{ids['member_id']}", headers=owner.h
        ).status_code
        == 200
    )
    keys = client.get(f"/api/v1/orgs/{world.a}/api-keys", headers=owner.h).json()["items"]
    assert any(k["id"] == ids["key_id"] for k in keys)


def test_every_org_route_refuses_other_orgs_members_and_keys(client, world):
    intruder = world.b_owner
    b_key = api_key(client, intruder, world.b, ["read", "write", "run", "admin"])["key"]
    ids = dict.fromkeys(ID_PARAMS, "0" * 32)
    for route in app_routes():
        if not route.path.startswith("/api/v1/orgs/{org}"):
            continue
        url = _fill(route.path, world.a, ids)
        for method in route.methods:
            for headers in (intruder.h, {"Authorization": f"Bearer {b_key}"}):
                r = client.request(method, url, headers=headers, json={})
                assert r.status_code == 404, f"{method} {url} → {r.status_code}"


def test_org_pages_answer_404_across_tenants(client, world):
    from tests.web.test_pages import browser_login, form_token

    ids = _objects_in_a(client, world)
    browser_login(client, "owner@b.example")
    token = form_token(client, f"/o/{world.b}/members")
    checked = 0
    for route in app_routes():
        if not route.path.startswith("/o/{org}"):
            continue
        takes_id = bool(set(re.findall(r"\{(\w+)(?::\w+)?\}", route.path)) & ID_PARAMS)
        # Org A's URL (not a member) always; org B's URL with A's ids for id-taking routes.
        targets = [world.a] + ([world.b] if takes_id else [])
        for org in targets:
            url = _fill(route.path, org, ids)
            if "GET" in route.methods:
                assert client.get(url).status_code == 404, url
            if "POST" in route.methods:
                r = client.post(
                    url, data={"csrf_token": token, "role": "viewer"}, follow_redirects=False
                )
                assert r.status_code == 404, f"POST {url} → {r.status_code}"
            checked += 1
    assert checked >= 15


# --- role matrix ----------------------------------------------------------------------------

# One real request per permission. Each is harmless when allowed: it ends in 2xx, 404 or 409
# after the permission check, never in 403.
PROBES = {
    Permission.ORG_READ: ("GET", "/api/v1/orgs/{org}", None),
    Permission.MEMBERS_READ: ("GET", "/api/v1/orgs/{org}/members", None),
    Permission.MEMBERS_MANAGE: (
        "PATCH",
        "/api/v1/orgs/{org}/members/" + "0" * 32,
        {"role": "viewer"},
    ),
    Permission.API_KEYS_MANAGE: ("GET", "/api/v1/orgs/{org}/api-keys", None),
    Permission.SECRETS_MANAGE: ("GET", "/api/v1/orgs/{org}/secrets", None),
    Permission.AUDIT_READ: ("GET", "/api/v1/orgs/{org}/audit", None),
    Permission.ORG_UPDATE: ("PATCH", "/api/v1/orgs/{org}", {}),
    Permission.ORG_DELETE: ("POST", "/api/v1/orgs/{org}/restore", None),
    Permission.ORG_TRANSFER: ("POST", "/api/v1/orgs/{org}/transfer", {"member_id": "0" * 32}),
    Permission.PROMPTS_READ: ("GET", "/api/v1/orgs/{org}/prompts", None),
    Permission.PROMPTS_RENDER: ("POST", "/api/v1/orgs/{org}/prompts/" + "0" * 32 + "/render", {}),
    Permission.PROMPTS_EXECUTE: (
        "POST",
        "/api/v1/orgs/{org}/prompts/" + "0" * 32 + "/execute",
        {},
    ),
    Permission.PROMPTS_WRITE: ("PUT", "/api/v1/orgs/{org}/prompts/" + "0" * 32, {}),
    Permission.PROMPTS_ADMIN: ("PUT", "/api/v1/orgs/{org}/prompt-settings", {}),
    Permission.LLM_MANAGE: ("DELETE", "/api/v1/orgs/{org}/llm/prices/" + "0" * 32, None),
}
ORG_PERMISSIONS = [p for p in Permission if p not in (Permission.PUBLIC, Permission.AUTHENTICATED)]


@pytest.mark.parametrize("role", ["owner", "admin", "editor", "viewer"])
def test_role_matrix(client, world, role):
    person = world.people[role]
    access = client.get(f"/api/v1/orgs/{world.a}/me", headers=person.h).json()
    assert access["role"] == role
    for perm in ORG_PERMISSIONS:
        expected = perm in ROLE_PERMISSIONS[role]
        assert (perm.value in access["permissions"]) == expected, (role, perm)
        if perm in PROBES:
            method, path, body = PROBES[perm]
            r = client.request(method, path.format(org=world.a), headers=person.h, json=body)
            if expected:
                assert r.status_code in (200, 201, 204, 404, 409), (
                    role,
                    perm,
                    r.status_code,
                    r.text,
                )
            else:
                assert r.status_code == 403, (role, perm, r.status_code, r.text)
                assert perm.value in r.json()["detail"]


@pytest.mark.parametrize(
    "scope",
    ["read", "write", "run", "admin", "prompts:read", "prompts:render", "prompts:execute"],
)
def test_api_key_scope_matrix(client, world, scope):
    key = api_key(client, world.people["owner"], world.a, [scope])["key"]
    h = {"Authorization": f"Bearer {key}"}
    access = client.get(f"/api/v1/orgs/{world.a}/me", headers=h)
    if Permission.ORG_READ not in SCOPE_PERMISSIONS[scope]:
        assert access.status_code == 403
    else:
        assert access.json()["scopes"] == [scope]
    for perm, (method, path, body) in PROBES.items():
        r = client.request(method, path.format(org=world.a), headers=h, json=body)
        if perm in SCOPE_PERMISSIONS[scope]:
            assert r.status_code in (200, 201, 204, 404, 409), (scope, perm, r.status_code, r.text)
        else:
            assert r.status_code == 403, (scope, perm, r.status_code, r.text)
