"""Quotas hold under concurrency: reservations are atomic in the database, so twenty calls at
once against room for five let exactly five through — on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from tests.llm.servers import Reply
from tests.prompts.helpers import create_prompt, org_id_of
from tests.prompts.test_execute import add_provider, execute

# "Hi {{ who }}" with who=x renders to "Hi x": 1 + 4 + 3 = 8 estimated input tokens, plus
# max_tokens. Each provider reply reports exactly that much, so the quota's arithmetic is exact.
MAX_TOKENS = 1000
PER_CALL = 8 + MAX_TOKENS
SPEC = {
    "id": "tiny",
    "template": "Hi {{ who }}",
    "inputs": {"who": {"type": "string"}},
    "model": {"model": "gpt-4o-mini", "max_tokens": MAX_TOKENS},
}


def test_twenty_concurrent_executions_with_room_for_five(client, world, openai_server):
    owner = world.people["owner"]
    add_provider(client, owner, world.a, openai_server)
    create_prompt(client, owner, world.a, SPEC, labels=["production"])
    limit = 5 * PER_CALL + PER_CALL // 2
    r = client.put(
        f"/api/v1/orgs/{world.a}/prompt-settings",
        json={"monthly_token_limit": limit},
        headers=owner.h,
    )
    assert r.status_code == 200
    # Slow replies keep all five in flight while the other fifteen ask.
    openai_server.script(
        *[Reply(text="ok", input_tokens=8, output_tokens=MAX_TOKENS, delay=1.0)] * 20
    )
    with ThreadPoolExecutor(20) as pool:
        answers = list(
            pool.map(
                lambda _: execute(client, owner, world.a, "tiny", inputs={"who": "x"}), range(20)
            )
        )
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] * 5 + [429] * 15
    assert len(openai_server.requests) == 5
    refused = next(a for a in answers if a.status_code == 429).json()
    assert refused["quota"] == "tokens" and refused["used"]["tokens_limit"] == limit
    assert "resets at" in refused["detail"] and refused["resets_at"]
    assert int(next(a for a in answers if a.status_code == 429).headers["Retry-After"]) > 0
    usage = client.get(f"/api/v1/orgs/{world.a}/prompt-settings", headers=owner.h).json()["usage"]
    assert usage["tokens_used"] == 5 * PER_CALL and usage["tokens_reserved"] == 0


def test_spend_quota(client, world, openai_server):
    owner = world.people["owner"]
    add_provider(client, owner, world.a, openai_server)
    create_prompt(client, owner, world.a, SPEC, labels=["production"])
    client.put(
        f"/api/v1/orgs/{world.a}/llm/prices",
        json={"model": "gpt-4o-mini", "input_per_mtok": 1000.0, "output_per_mtok": 1000.0},
        headers=owner.h,
    )
    # One call may cost up to 1008 tokens × $0.001 = $1.008: a $1.50 limit admits one.
    client.put(
        f"/api/v1/orgs/{world.a}/prompt-settings",
        json={"monthly_spend_limit_usd": 1.5},
        headers=owner.h,
    )
    openai_server.script(*[Reply(text="ok", input_tokens=8, output_tokens=MAX_TOKENS)] * 2)
    assert execute(client, owner, world.a, "tiny", inputs={"who": "x"}).status_code == 200
    r = execute(client, owner, world.a, "tiny", inputs={"who": "x"})
    assert r.status_code == 429 and r.json()["quota"] == "spend"
    assert "$1.50" in r.json()["detail"]


def test_failed_calls_release_their_reservation(client, world, openai_server):
    owner = world.people["owner"]
    add_provider(client, owner, world.a, openai_server)
    create_prompt(client, owner, world.a, SPEC, labels=["production"])
    client.put(
        f"/api/v1/orgs/{world.a}/prompt-settings",
        json={"monthly_token_limit": PER_CALL},
        headers=owner.h,
    )
    openai_server.script(Reply(status=400, error="bad request"))
    assert execute(client, owner, world.a, "tiny", inputs={"who": "x"}).status_code == 502
    usage = client.get(f"/api/v1/orgs/{world.a}/prompt-settings", headers=owner.h).json()["usage"]
    assert usage["tokens_used"] == 0 and usage["tokens_reserved"] == 0
    openai_server.script(Reply(text="ok", input_tokens=8, output_tokens=MAX_TOKENS))
    assert execute(client, owner, world.a, "tiny", inputs={"who": "x"}).status_code == 200


def test_reservations_are_atomic_in_the_store(client, world):
    """The same race straight at the database: twenty reservations at once, room for five."""
    from tenantry.core.errors import RateLimited
    from tenantry.prompts import quotas

    owner = world.people["owner"]
    client.put(
        f"/api/v1/orgs/{world.a}/prompt-settings",
        json={"monthly_token_limit": 5 * 100 + 50},
        headers=owner.h,
    )
    org_id = org_id_of(client, world.a)
    db = client.app.state.db

    async def race():
        async def one():
            try:
                return await quotas.reserve(db, org_id=org_id, tokens=100, micros=0)
            except RateLimited:
                return None

        return await asyncio.gather(*(one() for _ in range(20)))

    results = client.portal.call(race)
    granted = [r for r in results if r is not None]
    assert len(granted) == 5
    for r in granted:
        client.portal.call(lambda r=r: quotas.settle(db, r, tokens_used=0, micros_used=0))
