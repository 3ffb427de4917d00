"""The demo organizations' dbt models: staging views over what their pipelines loaded, marts
tables (one incremental), tests, and a snapshot. Written to run on DuckDB and PostgreSQL."""

from __future__ import annotations

from typing import Any

from tenantry.cli.demo_data import CHANNELS


def _m(name: str, sql: str, description: str = "", kind: str = "model", **spec: Any) -> dict:
    sql = sql.strip()
    return {"name": name, "kind": kind, "sql": sql, "description": description, "spec": spec}


def _col(name: str, description: str = "", *tests: dict | str) -> dict:
    return {
        "name": name,
        "description": description,
        "tests": [{"type": t} if isinstance(t, str) else t for t in tests],
    }


ACME = [
    _m(
        "stg_customers",
        """
select id as customer_id, email, country, cast(signed_up_on as date) as signed_up_on
from {{ source('raw', 'customers') }}""",
        "One row per customer.",
        columns=[
            _col("customer_id", "The customer", "unique", "not_null"),
            _col(
                "country",
                "ISO country code",
                {"type": "accepted_values", "values": ["US", "DE", "FR", "GB", "NL", "ES"]},
            ),
        ],
    ),
    _m(
        "stg_sessions",
        """
select id as session_id, customer_id, cast(started_at as timestamp) as started_at,
       channel, pages
from {{ source('raw', 'sessions') }}""",
        "Web sessions with the marketing channel that brought them.",
        columns=[
            _col("session_id", "", "unique", "not_null"),
            _col(
                "channel",
                "Marketing channel",
                {"type": "accepted_values", "values": list(CHANNELS)},
            ),
            _col(
                "customer_id",
                "",
                {"type": "relationships", "to": "stg_customers", "field": "customer_id"},
            ),
        ],
    ),
    _m(
        "stg_orders",
        """
select id as order_id, customer_id, session_id, cast(ordered_at as timestamp) as ordered_at,
       status, cast(updated_at as timestamp) as updated_at
from {{ source('raw', 'orders') }}""",
        "Orders and their status.",
        columns=[
            _col("order_id", "", "unique", "not_null"),
            _col(
                "status",
                "paid, shipped or refunded",
                {"type": "accepted_values", "values": ["paid", "shipped", "refunded"]},
            ),
        ],
    ),
    _m(
        "stg_order_items",
        """
select id as item_id, order_id, sku, quantity, unit_price, quantity * unit_price as amount
from {{ source('raw', 'order_items') }}""",
        "Order lines with their amount.",
        columns=[_col("item_id", "", "unique", "not_null")],
    ),
    _m(
        "fct_orders",
        """
select o.order_id, o.customer_id, o.ordered_at, o.updated_at, o.status, s.channel,
       sum(i.amount) as revenue, sum(i.quantity) as items
from {{ ref('stg_orders') }} o
join {{ ref('stg_order_items') }} i on i.order_id = o.order_id
left join {{ ref('stg_sessions') }} s on s.session_id = o.session_id
{% if is_incremental() %}
where o.updated_at > (select max(updated_at) from {{ this }})
{% endif %}
group by o.order_id, o.customer_id, o.ordered_at, o.updated_at, o.status, s.channel""",
        "One row per order with its revenue and the channel of its session.",
        materialization="incremental",
        schema="marts",
        unique_key=["order_id"],
        incremental_strategy="delete+insert",
        tags=["finance"],
        columns=[_col("order_id", "", "unique", "not_null"), _col("revenue", "Order total")],
    ),
    _m(
        "channel_performance",
        """
with s as (
    select channel, count(*) as sessions from {{ ref('stg_sessions') }} group by channel
), o as (
    select channel, count(*) as orders, sum(revenue) as revenue
    from {{ ref('fct_orders') }} group by channel
)
select s.channel, s.sessions, coalesce(o.orders, 0) as orders, coalesce(o.revenue, 0) as revenue
from s left join o on o.channel = s.channel""",
        "Sessions, orders and revenue by marketing channel.",
        materialization="table",
        schema="marts",
        tags=["marketing"],
        columns=[_col("channel", "", "unique", "not_null")],
    ),
    _m(
        "orders_snapshot",
        """
select id as order_id, status, cast(updated_at as timestamp) as updated_at
from {{ source('raw', 'orders') }}""",
        "Every status an order went through.",
        kind="snapshot",
        schema="marts",
        unique_key=["order_id"],
        snapshot={"strategy": "timestamp", "updated_at": "updated_at"},
    ),
]

GLOBEX = [
    _m(
        "stg_campaigns",
        "select campaign_id, name, network, currency from {{ source('raw', 'campaigns') }}",
        "Campaigns and their ad network.",
        columns=[_col("campaign_id", "", "unique", "not_null")],
    ),
    _m(
        "stg_ad_spend",
        """
select campaign_id, cast(day as date) as day, impressions, spend
from {{ source('raw', 'ad_spend') }}""",
        "Daily impressions and spend per campaign.",
        columns=[
            _col(
                "campaign_id",
                "",
                "not_null",
                {"type": "relationships", "to": "stg_campaigns", "field": "campaign_id"},
            )
        ],
    ),
    _m(
        "stg_clicks",
        """
select click_id, campaign_id, cast(clicked_at as timestamp) as clicked_at
from {{ source('raw', 'clicks') }}""",
        "Ad clicks.",
        columns=[_col("click_id", "", "unique", "not_null")],
    ),
    _m(
        "stg_conversions",
        """
select conversion_id, click_id, campaign_id, revenue
from {{ source('raw', 'conversions') }}""",
        "Conversions attributed to a click.",
        columns=[
            _col("conversion_id", "", "unique", "not_null"),
            _col(
                "click_id", "", {"type": "relationships", "to": "stg_clicks", "field": "click_id"}
            ),
        ],
    ),
    _m(
        "fct_campaign_daily",
        """
with clicks as (
    select campaign_id, cast(clicked_at as date) as day, count(*) as clicks
    from {{ ref('stg_clicks') }} group by 1, 2
), conversions as (
    select c.campaign_id, cast(k.clicked_at as date) as day,
           count(*) as conversions, sum(c.revenue) as revenue
    from {{ ref('stg_conversions') }} c join {{ ref('stg_clicks') }} k using (click_id)
    group by 1, 2
)
select s.campaign_id, s.day, s.impressions, s.spend,
       coalesce(k.clicks, 0) as clicks, coalesce(v.conversions, 0) as conversions,
       coalesce(v.revenue, 0) as revenue
from {{ ref('stg_ad_spend') }} s
left join clicks k on k.campaign_id = s.campaign_id and k.day = s.day
left join conversions v on v.campaign_id = s.campaign_id and v.day = s.day""",
        "Spend, clicks, conversions and revenue per campaign and day.",
        materialization="table",
        schema="marts",
        tags=["paid"],
        columns=[_col("campaign_id", "", "not_null"), _col("day", "", "not_null")],
    ),
    _m(
        "campaigns_snapshot",
        "select campaign_id, name, network from {{ source('raw', 'campaigns') }}",
        "How campaigns were named and where they ran, over time.",
        kind="snapshot",
        schema="marts",
        unique_key=["campaign_id"],
        snapshot={"strategy": "check", "check_cols": ["name", "network"]},
    ),
]

MODELS = {"acme-shop": ACME, "globex-ads": GLOBEX}
# (name, cron, zone, target kind, target pipeline name or None for the whole DAG)
SCHEDULES = {
    "acme-shop": ("Nightly build", "30 2 * * *", "Europe/Berlin", "dag", None),
    # Its success starts the models downstream of it (event-driven).
    "globex-ads": ("Hourly ad spend", "15 * * * *", "UTC", "pipeline", "Ad spend"),
}


async def _schedule(session, s, ctx, org_id: str, slug: str) -> None:
    import sqlalchemy as sa

    from tenantry.orchestration import schedules
    from tenantry.orchestration.models import Schedule
    from tenantry.pipelines.models import Pipeline

    name, cron, zone, kind, target = SCHEDULES[slug]
    exists = await session.scalar(
        sa.select(Schedule.id).where(Schedule.org_id == org_id, Schedule.name == name)
    )
    if exists:
        return
    target_id = None
    if target:
        target_id = await session.scalar(
            sa.select(Pipeline.id).where(Pipeline.org_id == org_id, Pipeline.name == target)
        )
    await schedules.create(
        session,
        ctx=ctx,
        name=name,
        cron_expr=cron,
        timezone=zone,
        target_kind=kind,
        target_id=target_id,
        grace_seconds=s.schedule_default_grace_seconds,
    )


async def setup_models(db, s) -> None:
    """Create the demo models (once), then run each organization's whole DAG (again only if
    its last DAG run did not succeed), on an in-process executor."""
    import asyncio

    import sqlalchemy as sa
    import typer

    from tenantry.orchestration import dag_runs, executors
    from tenantry.orchestration.models import Run
    from tenantry.tenancy.authcache import OrgSnap
    from tenantry.tenancy.context import Caller, OrgContext
    from tenantry.tenancy.models import Organization
    from tenantry.transforms import service as transforms
    from tenantry.transforms.models import Transformation
    from tenantry.transforms.schemas import TransformIn

    executor = executors.InlineExecutor(db, s)
    executors.install(executor)
    await executor.start()
    try:
        for slug, wanted in MODELS.items():
            async with db.session() as session:
                org = await session.scalar(sa.select(Organization).where(Organization.slug == slug))
                ctx = OrgContext(org=OrgSnap.of(org), caller=Caller.system("demo"), role="owner")
                for data in wanted:  # in dependency order: each one's refs exist already
                    exists = await session.scalar(
                        sa.select(Transformation.id).where(
                            Transformation.org_id == org.id,
                            Transformation.name == data["name"],
                            Transformation.deleted_at.is_(None),
                        )
                    )
                    if not exists:
                        await transforms.create(
                            session, settings=s, ctx=ctx, data=TransformIn.model_validate(data)
                        )
                await _schedule(session, s, ctx, org.id, slug)
                last = await session.scalar(
                    sa.select(Run)
                    .where(Run.org_id == org.id, Run.kind == "dag")
                    .order_by(Run.created_at.desc())
                    .limit(1)
                )
                if last is not None and last.status == "succeeded":
                    continue
                run = await dag_runs.start(session, s, org_id=org.id, node=None, mode="all")
                run_id = run.id
            while True:
                async with db.session() as session:
                    run = await session.get(Run, run_id)
                    if run.finished:
                        break
                await asyncio.sleep(0.5)
            outcome = run.error or "every model built and tested"
            typer.echo(f"  {slug}: DAG run {run.status} — {outcome}")
    finally:
        await executor.stop()
        executors.install(None)
