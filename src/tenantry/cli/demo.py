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
            await _sources(session, s)
        await _pipelines(db, s)
        from tenantry.cli.demo_models import setup_models

        await setup_models(db, s)
        from tenantry.cli.demo_semantic import setup_semantic

        await setup_semantic(db, s)
        from tenantry.cli.demo_prompts import setup_prompts

        await setup_prompts(db, s)
    finally:
        await db.dispose()
    return [
        (ORGS[0][2], DEMO_PASSWORD, "owner of Acme Shop"),
        (ORGS[1][2], DEMO_PASSWORD, "owner of Globex Ads"),
        (SHARED_USER, DEMO_PASSWORD, "editor in both organizations"),
    ]


# What each demo organization's data looks like at the source, and the connections to it.
SOURCES = {
    "acme-shop": [("Shop database", "sqlite", {"path": "uploads/acme_shop.sqlite"})],
    "globex-ads": [
        ("Campaigns", "files", {"path": "uploads/campaigns.csv"}),
        ("Ad spend", "files", {"path": "uploads/ad_spend.csv"}),
        ("Clicks", "files", {"path": "uploads/clicks.jsonl"}),
        ("Conversions", "files", {"path": "uploads/conversions.parquet"}),
    ],
}


async def _sources(session, s: Settings) -> None:
    """Generate the source files (once) and the connections to them (once)."""
    import sqlalchemy as sa

    from tenantry.cli.demo_data import acme_shop, globex_ads
    from tenantry.connections import service as connections
    from tenantry.connections.models import Connection
    from tenantry.connections.storage import org_files
    from tenantry.tenancy.authcache import OrgSnap
    from tenantry.tenancy.context import Caller, OrgContext
    from tenantry.tenancy.models import Organization

    for slug, wanted in SOURCES.items():
        org = await session.scalar(sa.select(Organization).where(Organization.slug == slug))
        files = org_files(s, org.id)
        if slug == "acme-shop" and not (files / "uploads" / "acme_shop.sqlite").exists():
            acme_shop(files / "uploads" / "acme_shop.sqlite")
        if slug == "globex-ads" and not (files / "uploads" / "conversions.parquet").exists():
            globex_ads(files / "uploads")
        ctx = OrgContext(org=OrgSnap.of(org), caller=Caller.system("demo"), role="owner")
        for name, kind, config in wanted:
            exists = await session.scalar(
                sa.select(Connection.id).where(Connection.org_id == org.id, Connection.name == name)
            )
            if not exists:
                conn = await connections.create(
                    session, ctx=ctx, settings=s, name=name, kind=kind, config=config
                )
                await connections.test_saved(session, ctx=ctx, settings=s, connection_id=conn.id)


def _files(table: str, source: str) -> tuple[str, str, dict]:
    return (
        table.replace("_", " ").capitalize(),
        source,
        {
            "mode": "files",
            "table_name": table,
            "write_disposition": "replace",
        },
    )


# Each organization's pipelines into its own warehouse: (name, source connection, spec).
PIPELINES = {
    "acme-shop": [
        (
            "Shop database",
            "Shop database",
            {
                "mode": "database",
                "write_disposition": "merge",
                "dataset": "raw",
            },
        ),
    ],
    "globex-ads": [
        _files("campaigns", "Campaigns"),
        _files("ad_spend", "Ad spend"),
        _files("clicks", "Clicks"),
        _files("conversions", "Conversions"),
    ],
}


async def _pipelines(db, s: Settings) -> None:
    """Create the demo pipelines (once) and load each organization's warehouse with real runs
    (again only if the last run did not succeed)."""
    import sqlalchemy as sa
    import typer

    from tenantry.connections.models import Connection
    from tenantry.orchestration import service as runs
    from tenantry.orchestration.execute import execute_run
    from tenantry.orchestration.models import Run
    from tenantry.pipelines import service as pipelines
    from tenantry.pipelines.models import Pipeline
    from tenantry.runkinds import register_all
    from tenantry.tenancy.authcache import OrgSnap
    from tenantry.tenancy.context import Caller, OrgContext
    from tenantry.tenancy.models import Organization

    register_all()
    for slug, wanted in PIPELINES.items():
        async with db.session() as session:
            org = await session.scalar(sa.select(Organization).where(Organization.slug == slug))
            ctx = OrgContext(org=OrgSnap.of(org), caller=Caller.system("demo"), role="owner")
            todo = []
            for name, source, spec in wanted:
                p = await session.scalar(
                    sa.select(Pipeline).where(Pipeline.org_id == org.id, Pipeline.name == name)
                )
                if p is None:
                    source_id = await session.scalar(
                        sa.select(Connection.id).where(
                            Connection.org_id == org.id, Connection.name == source
                        )
                    )
                    p = await pipelines.create(
                        session, ctx=ctx, name=name, source_id=source_id, spec=spec
                    )
                last = await runs.latest_by_target(session, org_id=org.id, target_ids=[p.id])
                if p.id not in last or last[p.id].status != "succeeded":
                    todo.append(await pipelines.start_run(session, ctx=ctx, pipeline_id=p.id))
        for run in todo:
            status = await execute_run(db, s, run.id)
            async with db.session() as session:
                done = await session.get(Run, run.id)
            typer.echo(
                f"  {slug}: {done.target_name} {status} — {done.rows_loaded:,} rows "
                f"into {', '.join(sorted(done.tables)) or 'no table'}"
            )
