"""The demo organizations' semantic models: each enables the template made for its business
and extends it with a file of its own; each has a pre-aggregation, built before serving."""

from __future__ import annotations

ACME_OWN = """# Acme's own additions to the ecommerce_attribution template.
cubes:
  - name: channel_performance
    title: Channel performance
    description: Sessions, orders and revenue per marketing channel (dbt mart).
    sql_table: marts.channel_performance
    dimensions:
      - name: channel
        sql: channel
        type: string
        primary_key: true
        public: true
    measures:
      - name: sessions
        sql: sessions
        type: sum
      - name: orders
        sql: orders
        type: sum
      - name: revenue
        sql: revenue
        type: sum
        format: currency
      - name: conversion_rate
        sql: "1.0 * {orders} / NULLIF({sessions}, 0)"
        type: number
        format: percent

  - name: shipped_orders
    extends: orders
    title: Shipped orders
    description: Orders that left the warehouse (the template's orders, narrowed).
    sql: "SELECT * FROM marts.fct_orders WHERE status = 'shipped'"
"""

GLOBEX_OWN = """# Globex's own additions to the paid_performance template.
cubes:
  - name: network_daily
    extends: campaign_daily
    title: Network performance
    description: Campaign performance with each campaign's network as a dimension.
    dimensions:
      - name: network
        sql: "{campaigns.network}"
        type: string
"""

MODELS = {
    "acme-shop": (["ecommerce_attribution"], {"acme.yml": ACME_OWN}),
    "globex-ads": (["paid_performance"], {"globex.yml": GLOBEX_OWN}),
}


async def setup_semantic(db, s) -> None:
    import sqlalchemy as sa
    import typer

    from tenantry.semantic import service
    from tenantry.tenancy.authcache import OrgSnap
    from tenantry.tenancy.context import Caller, OrgContext
    from tenantry.tenancy.models import Organization

    for slug, (templates, files) in MODELS.items():
        async with db.session() as session:
            org = await session.scalar(sa.select(Organization).where(Organization.slug == slug))
            ctx = OrgContext(org=OrgSnap.of(org), caller=Caller.system("demo"), role="owner")
            org_id = ctx.org.id  # a snapshot: the save's rollback expires ORM rows
            version, created = await service.save(
                session,
                ctx=ctx,
                files=files,
                templates=templates,
                message="Demo model",
                extra_dir=s.semantic_templates_dir,
            )
            verb = "saved" if created else "unchanged at"
            typer.echo(f"  {slug}: semantic model {verb} version {version.number}")
            await _build_preaggs(db, s, session, org_id, slug)


async def _build_preaggs(db, s, session, org_id: str, slug: str) -> None:
    """Build the pre-aggregations before serving, so the playground is served from them."""
    import typer

    from tenantry.orchestration.execute import execute_run
    from tenantry.orchestration.models import Run
    from tenantry.semantic.preaggs.refresh import due, start_build

    if not await due(session, s, org_id):
        return
    started = await start_build(session, org_id, trigger="manual")
    if started is None:
        return
    run_id = started.id
    await session.commit()
    status = await execute_run(db, s, run_id)
    async with db.session() as fresh:
        run = await fresh.get(Run, run_id)
        outcome = run.error or (run.details or {}).get("summary") or "done"
    typer.echo(f"  {slug}: pre-aggregations {status} — {outcome}")
