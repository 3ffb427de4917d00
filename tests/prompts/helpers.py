"""Shared helpers of the prompt registry tests."""

from __future__ import annotations

import sqlalchemy as sa


def org_id_of(client, slug: str) -> str:
    from tenantry.tenancy.models import Organization

    async def go():
        async with client.app.state.db.session() as session:
            return await session.scalar(sa.select(Organization.id).where(Organization.slug == slug))

    return client.portal.call(go)


def add_execution(client, org_slug: str, prompt_id: str, **values) -> str:
    """An execution row as a finished call leaves it (for tests that need one without a call)."""
    from tenantry.prompts import executions

    org_id = org_id_of(client, org_slug)

    async def go():
        async with client.app.state.db.session() as session:
            row = await executions.record(
                session,
                org_id=org_id,
                prompt_id=prompt_id,
                prompt_slug=values.pop("prompt_slug", "a-prompt"),
                version=values.pop("version", 1),
                status=values.pop("status", "succeeded"),
                **values,
            )
            return row.id

    return client.portal.call(go)


def create_prompt(client, person, org: str, spec: dict, labels=(), message: str = "") -> dict:
    r = client.post(
        f"/api/v1/orgs/{org}/prompts",
        json={"spec": spec, "labels": list(labels), "message": message},
        headers=person.h,
    )
    assert r.status_code == 201, r.text
    return r.json()


def save_prompt(client, person, org: str, spec: dict, labels=(), message: str = ""):
    return client.put(
        f"/api/v1/orgs/{org}/prompts/{spec['id']}",
        json={"spec": spec, "labels": list(labels), "message": message},
        headers=person.h,
    )
