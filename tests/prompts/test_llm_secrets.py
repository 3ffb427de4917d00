"""LLM keys stay out of responses, logs, audit entries, execution records — and are ciphertext
at rest — even when the provider echoes the key back in its error."""

from __future__ import annotations

import sqlalchemy as sa

from tenantry.llm.models import LLMProvider
from tenantry.prompts.models import Execution
from tenantry.tenancy.models import AuditEvent
from tests.prompts.helpers import create_prompt
from tests.tenancy.test_secret_leaks import captured_logs  # noqa: F401

KEY = "sk-live-do-not-leak-7f3a9c"


def test_llm_keys_never_leak(client, world, openai_server, captured_logs):  # noqa: F811
    owner = world.people["owner"]
    base = f"/api/v1/orgs/{world.a}/llm/providers"
    texts = []

    def call(method, url, **kw):
        r = client.request(method, url, headers=owner.h, **kw)
        texts.append(r.text + str(dict(r.headers)))
        return r

    # The loopback server expects another key, and its 401 repeats the key it was sent.
    made = call(
        "POST",
        base,
        json={
            "name": "loop",
            "kind": "openai",
            "base_url": openai_server.base_url,
            "api_key": KEY,
            "headers": {"X-Org-Token": KEY + "-h"},
        },
    )
    assert made.status_code == 201 and made.json()["api_key"] == "********"
    bad = call("POST", base, json={"name": "Bad Name!", "kind": "openai", "api_key": KEY})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "name"
    call("PATCH", f"{base}/loop", json={"api_key": KEY + "2", "default_model": "gpt-4o"})
    tested = call("POST", f"{base}/loop/test")
    assert tested.json()["ok"] is False
    create_prompt(
        client,
        owner,
        world.a,
        {"id": "p", "template": "hi", "model": {"model": "gpt-4o"}},
        labels=["production"],
    )
    failed = call("POST", f"/api/v1/orgs/{world.a}/prompts/p/execute", json={"stream": False})
    assert failed.status_code == 502
    call("GET", base)
    call("GET", f"/api/v1/orgs/{world.a}/prompt-executions")
    call("GET", f"/api/v1/orgs/{world.a}/audit?size=200")

    everything = "\n".join(texts + captured_logs)
    for secret in (KEY, KEY + "2", KEY + "-h"):
        assert secret not in everything

    async def stored():
        async with client.app.state.db.sessionmaker() as s:
            audit = (await s.scalars(sa.select(AuditEvent))).all()
            raw = (
                (await s.execute(sa.select(sa.type_coerce(LLMProvider.secrets, sa.Text))))
                .scalars()
                .all()
            )
            runs = (await s.scalars(sa.select(Execution))).all()
            return audit, raw, runs

    audit, raw, runs = client.portal.call(stored)
    dumped = "\n".join(f"{e.before} {e.after}" for e in audit)
    dumped += "\n".join(f"{r.error} {r.output}" for r in runs)
    assert runs and KEY not in dumped and KEY + "2" not in dumped
    assert raw and all(KEY not in v for v in raw)
