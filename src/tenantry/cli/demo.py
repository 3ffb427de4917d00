"""`tenantry demo`: the two demo organizations and their people. Idempotent: re-running is safe."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tenantry.cli.common import open_db

if TYPE_CHECKING:
    from tenantry.core.config import Settings

DEMO_PASSWORD = "tenantry-demo"
ORGS = [
    ("Acme Shop", "acme-shop", "owner@acme.example"),
    ("Globex Ads", "globex-ads", "owner@globex.example"),
]
SHARED_USER = "analyst@example.com"


async def setup_demo(s: Settings) -> list[tuple[str, str, str]]:
    import sqlalchemy as sa

    from tenantry.tenancy import auth, service
    from tenantry.tenancy.context import Caller
    from tenantry.tenancy.models import Membership, Organization

    caller = Caller.system("demo")
    db = await open_db(s)
    try:
        async with db.session() as session:

            async def user(email: str, name: str):
                found = await auth.get_user_by_email(session, email)
                return found or await auth.create_user(
                    session,
                    settings=s,
                    email=email,
                    password=DEMO_PASSWORD,
                    name=name,
                    caller=caller,
                )

            analyst = await user(SHARED_USER, "Ana Lyst")
            for name, slug, owner_email in ORGS:
                owner = await user(owner_email, f"{name} Owner")
                org = await session.scalar(sa.select(Organization).where(Organization.slug == slug))
                if org is None:
                    org = await service.create_org(
                        session, name=name, slug=slug, owner=owner, caller=caller
                    )
                member = await session.scalar(
                    sa.select(Membership).where(
                        Membership.org_id == org.id, Membership.user_id == analyst.id
                    )
                )
                if member is None:
                    await service.add_member(
                        session, org_id=org.id, user=analyst, role="editor", caller=caller
                    )
            await session.commit()
    finally:
        await db.dispose()
    return [
        (ORGS[0][2], DEMO_PASSWORD, "owner of Acme Shop"),
        (ORGS[1][2], DEMO_PASSWORD, "owner of Globex Ads"),
        (SHARED_USER, DEMO_PASSWORD, "editor in both organizations"),
    ]
