"""Executions that end badly still settle their quota hold exactly once and are recorded;
refusals happen before anything is written or reserved."""

from __future__ import annotations

import sqlalchemy as sa

from tests.llm.servers import Reply
from tests.prompts.helpers import create_prompt, org_id_of
from tests.prompts.test_execute import SPEC, add_provider, execute


def _usage(client, world, person):
    r = client.get(f"/api/v1/orgs/{world.a}/prompt-settings", headers=person.h)
    return r.json()["usage"]


def _ctx(client, slug):
    from tenantry.tenancy.authcache import OrgSnap
    from tenantry.tenancy.context import Caller, OrgContext
    from tenantry.tenancy.models import Organization

    async def go():
        async with client.app.state.db.session() as s:
            org = await s.scalar(sa.select(Organization).where(Organization.slug == slug))
            return OrgContext(org=OrgSnap.of(org), caller=Caller.system("test"), role="owner")

    return client.portal.call(go)


def _prepare(client, ctx):
    from tenantry.prompts import execute as ex

    db, settings = client.app.state.db, client.app.state.settings

    async def go():
        async with db.session() as s:
            return await ex.prepare(
                s,
                db,
                settings,
                ctx=ctx,
                ref="ask",
                options=ex.ExecuteOptions(inputs={"question": "q"}),
            )

    return client.portal.call(go)


def test_a_stream_the_client_leaves_gives_its_hold_back(client, world, openai_server):
    from tenantry.prompts import execute as ex

    owner = world.people["owner"]
    add_provider(client, owner, world.a, openai_server)
    create_prompt(client, owner, world.a, SPEC, labels=["production"])
    ctx = _ctx(client, world.a)
    db, settings = client.app.state.db, client.app.state.settings

    # Left right after the first event.
    p = _prepare(client, ctx)
    assert _usage(client, world, owner)["tokens_reserved"] > 0

    async def leave_after_start():
        gen = ex.stream(db, settings, p)
        assert (await gen.__anext__())["event"] == "start"
        await gen.aclose()

    client.portal.call(leave_after_start)
    assert _usage(client, world, owner)["tokens_reserved"] == 0
    # Left before the stream began: the response's closing task releases it.
    p = _prepare(client, ctx)
    client.portal.call(lambda: ex.release(db, settings, p, "The client left."))
    client.portal.call(lambda: ex.release(db, settings, p, "twice is a no-op"))
    assert _usage(client, world, owner)["tokens_reserved"] == 0
    failed = client.get(
        f"/api/v1/orgs/{world.a}/prompt-executions?status=failed", headers=owner.h
    ).json()
    assert failed["total"] == 2
    assert {e["error"] for e in failed["items"]} == {
        "The client disconnected before the answer finished.",
        "The client left.",
    }


def test_a_reply_no_adapter_expected_is_a_recorded_502(client, world, openai_server):
    owner = world.people["owner"]
    add_provider(client, owner, world.a, openai_server)
    create_prompt(client, owner, world.a, SPEC, labels=["production"])
    openai_server.script(Reply(body={"choices": ["not an object"]}))
    r = execute(client, owner, world.a)
    assert r.status_code == 502 and "loop" in r.json()["detail"]
    assert r.json()["execution_id"]
    assert _usage(client, world, owner)["tokens_reserved"] == 0


def test_stale_holds_of_dead_processes_are_swept(client, world):
    from tenantry.prompts import quotas

    owner = world.people["owner"]
    db = client.app.state.db
    org_id = org_id_of(client, world.a)
    client.portal.call(lambda: quotas.reserve(db, org_id=org_id, tokens=500, micros=0))
    assert _usage(client, world, owner)["tokens_reserved"] == 500
    assert client.portal.call(lambda: quotas.sweep(db, older_than=3600, force=True)) == 0
    assert client.portal.call(lambda: quotas.sweep(db, older_than=0, force=True)) == 1
    assert _usage(client, world, owner)["tokens_reserved"] == 0


def test_refusals_come_before_anything_is_written(client, world, openai_server):
    owner, editor = world.people["owner"], world.people["editor"]
    base = f"/api/v1/orgs/{world.a}"
    # A label the caller may not move: refused before the version is saved.
    r = client.post(
        f"{base}/prompts", json={"spec": SPEC, "labels": ["production"]}, headers=editor.h
    )
    assert r.status_code == 403
    assert client.get(f"{base}/prompts", headers=owner.h).json()["total"] == 0
    # Model options that would change the call or pass the reserved output size.
    r = client.post(
        f"{base}/prompts",
        json={"spec": SPEC | {"model": {"model": "gpt-4o", "n": 5}}},
        headers=owner.h,
    )
    assert r.status_code == 422 and "model.n" in r.text
    # With a spend limit, a model without a price cannot run.
    add_provider(client, owner, world.a, openai_server)
    create_prompt(
        client, owner, world.a, SPEC | {"model": {"model": "unpriced-1"}}, labels=["production"]
    )
    client.put(f"{base}/prompt-settings", json={"monthly_spend_limit_usd": 5}, headers=owner.h)
    r = execute(client, owner, world.a)
    assert r.status_code == 422 and "unpriced-1" in r.json()["detail"]
    assert openai_server.requests == []


def test_out_of_range_values_are_clear_errors(client, world):
    owner = world.people["owner"]
    base = f"/api/v1/orgs/{world.a}"
    h = owner.h | {"content-type": "application/json"}
    r = client.put(
        f"{base}/prompt-settings", content='{"monthly_spend_limit_usd": Infinity}', headers=h
    )
    assert r.status_code == 422
    r = client.put(
        f"{base}/llm/prices",
        content='{"model": "m", "input_per_mtok": Infinity, "output_per_mtok": 1}',
        headers=h,
    )
    assert r.status_code == 422
    r = client.post(
        f"{base}/llm/providers",
        json={"name": "p", "kind": "openai", "base_url": "https://x.example:99999/v1"},
        headers=owner.h,
    )
    assert r.status_code == 422 and "base_url" in r.text
    r = client.get(f"{base}/prompts/x?version={2**63}", headers=owner.h)
    assert r.status_code == 422
    one = client.post(
        f"{base}/llm/providers", json={"name": "one", "kind": "openai"}, headers=owner.h
    )
    client.post(f"{base}/llm/providers", json={"name": "two", "kind": "openai"}, headers=owner.h)
    r = client.patch(
        f"{base}/llm/providers/{one.json()['id']}",
        json={"name": "two", "is_default": True},
        headers=owner.h,
    )
    assert r.status_code == 409


def test_the_provider_host_is_checked_on_every_call(client, world, settings, openai_server):
    owner = world.people["owner"]
    add_provider(client, owner, world.a, openai_server)
    create_prompt(client, owner, world.a, SPEC, labels=["production"])
    settings.allowed_private_networks = None  # the operator withdrew loopback
    r = execute(client, owner, world.a)
    assert r.status_code == 422 and "loopback" in r.json()["detail"]
    assert openai_server.requests == []
    assert _usage(client, world, owner)["tokens_reserved"] == 0
