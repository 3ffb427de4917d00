"""The demo's prompt registry (`setup_prompts`) on its own, against fresh demo-named
organizations: a `local` provider on the loopback URL (allowed for the demo only), parts, prompts
with several versions and production/staging labels on different ones; a re-run adds nothing;
and the demo's prompts really execute once an OpenAI-compatible server listens there."""

from __future__ import annotations

import asyncio

import pytest

from tenantry.cli.demo_prompts import LABELS, allowing_demo_llm, demo_llm_networks, setup_prompts
from tenantry.core.db import Database
from tests.helpers import create_org, signup
from tests.llm.servers import LLMServer


def _setup(settings) -> None:
    async def go():
        db = Database(settings.resolved_database_url)
        try:
            await setup_prompts(db, settings)
        finally:
            await db.dispose()

    asyncio.run(go())


def _versions(client, h, org: str) -> dict[str, int]:
    items = client.get(f"/api/v1/orgs/{org}/prompts", headers=h).json()["items"]
    return {p["slug"]: p["latest_version"] for p in items}


@pytest.fixture
def ollama_like():
    """An OpenAI-compatible server that, like Ollama, wants no API key."""
    with LLMServer("openai") as server:
        yield server


def test_demo_prompts_are_created_once_and_run(settings, client, ollama_like):
    openai_server = ollama_like
    acme, globex = signup(client, "owner@acme.example"), signup(client, "owner@globex.example")
    create_org(client, acme, "Acme Shop", "acme-shop")
    create_org(client, globex, "Globex Ads", "globex-ads")
    assert settings.allowed_private_networks is None  # the operator allowed nothing
    settings.demo_llm_base_url = openai_server.base_url

    _setup(settings)
    acme_versions = _versions(client, acme.h, "acme-shop")
    globex_versions = _versions(client, globex.h, "globex-ads")
    assert set(acme_versions) == set(LABELS["acme-shop"])
    assert set(globex_versions) == set(LABELS["globex-ads"])
    assert acme_versions["order-summary"] == 3 and globex_versions["ad-copy-ideas"] == 2
    for org, h in (("acme-shop", acme.h), ("globex-ads", globex.h)):
        for slug, wanted in LABELS[org].items():
            labels = client.get(f"/api/v1/orgs/{org}/prompts/{slug}/labels", headers=h).json()
            assert {k: labels["labels"][k] for k in wanted} == wanted
        parts = client.get(f"/api/v1/orgs/{org}/prompt-parts", headers=h).json()["items"]
        assert {p["name"] for p in parts} == {"house_style", "sql_rules"}
        providers = client.get(f"/api/v1/orgs/{org}/llm/providers", headers=h).json()["items"]
        assert [
            (p["name"], p["kind"], p["base_url"], p["default_model"], p["is_default"])
            for p in providers
        ] == [  # fmt: skip
            ("local", "openai", openai_server.base_url, "llama3.1", True)
        ]
    # production and staging point at different versions; the part change shows in history.
    diff = client.get(
        "/api/v1/orgs/acme-shop/prompts/order-summary/diff?from=2&to=3", headers=acme.h
    ).json()
    assert diff["changes"]
    v1 = client.get("/api/v1/orgs/acme-shop/prompts/order-summary/versions/1", headers=acme.h)
    v3 = client.get("/api/v1/orgs/acme-shop/prompts/order-summary/versions/3", headers=acme.h)
    assert v1.json()["parts"] == {} and v3.json()["parts"] == {"house_style": 2}
    tool = client.get("/api/v1/orgs/globex-ads/prompts/ad-copy-ideas", headers=globex.h).json()
    assert tool["spec"]["tools"][0]["name"] == "save_ad_ideas"

    _setup(settings)  # idempotent: no new versions, labels untouched
    assert _versions(client, acme.h, "acme-shop") == acme_versions
    assert _versions(client, globex.h, "globex-ads") == globex_versions
    parts = client.get("/api/v1/orgs/acme-shop/prompt-parts", headers=acme.h).json()["items"]
    assert {p["name"]: p["latest_version"] for p in parts} == {"house_style": 2, "sql_rules": 1}

    # The demo's own server allows the demo LLM host; with that, the prompts run.
    assert demo_llm_networks(settings) == ["127.0.0.1/32"]
    settings.allowed_private_networks = allowing_demo_llm(settings).allowed_private_networks
    r = client.post(
        "/api/v1/orgs/acme-shop/prompts/order-summary/execute",
        json={"inputs": {"customer": "Ada", "orders": [{"id": 1, "status": "shipped"}]}},
        headers=acme.h,
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "succeeded" and r.json()["model"] == "llama3.1"
    assert openai_server.requests[-1].body["model"] == "llama3.1"
