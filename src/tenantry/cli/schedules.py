"""`tenantry schedules list|create|pause|resume|delete|fires|next`."""

from __future__ import annotations

import typer

from tenantry.cli.common import fail, org_command, run

app = typer.Typer(help="Schedules: cron + time zone → runs.", no_args_is_help=True)
ORG = typer.Option(..., "--org", help="Organization slug")
REF = typer.Argument(..., help="Schedule id or name")
TARGET_HELP = (
    "What to run: pipeline:NAME|ID, transformation:NAME|ID, dag (the whole DAG) or "
    "dag:pipeline:NAME|ID / dag:transformation:NAME|ID (that node and its downstream)"
)


async def _schedule(c, ref: str):
    import sqlalchemy as sa

    from tenantry.orchestration.models import Schedule

    found = await c.session.scalar(
        sa.select(Schedule).where(
            Schedule.org_id == c.ctx.org.id, sa.or_(Schedule.id == ref, Schedule.name == ref)
        )
    )
    if found is None:
        fail(f"{c.ctx.org.slug} has no schedule '{ref}'; see `tenantry schedules list --org …`")
    return found


async def _node_id(c, kind: str, ref: str) -> str:
    """A pipeline's or transformation's id, from its id or name."""
    from tenantry.orchestration import registry
    from tenantry.runkinds import register_all

    register_all()
    nodes = await registry.nodes(c.session, c.settings, c.ctx.org.id)
    for node in nodes:
        if node.kind == kind and ref in (node.id, node.name):
            return node.id
    fail(f"{c.ctx.org.slug} has no {kind} '{ref}'")


async def _target(c, target: str) -> dict:
    kind, _, rest = target.partition(":")
    if kind == "dag":
        if not rest:
            return {"target_kind": "dag", "target_id": None}
        node_kind, _, ref = rest.partition(":")
        return {
            "target_kind": "dag",
            "dag_node_kind": node_kind,
            "target_id": await _node_id(c, node_kind, ref),
        }
    if kind not in ("pipeline", "transformation") or not rest:
        fail(f"--target '{target}' is not understood. {TARGET_HELP}")
    return {"target_kind": kind, "target_id": await _node_id(c, kind, rest)}


def _when(times: list[dict]) -> str:
    return times[0]["local"][:16].replace("T", " ") + " " + times[0]["local"][19:] if times else "—"


@app.command("list")
def list_schedules(org: str = ORG):
    """Schedules with their next fire time and last fire."""

    @run
    async def go():
        from tenantry.core.pagination import PageParams
        from tenantry.orchestration import schedules
        from tenantry.runkinds import register_all

        register_all()
        async with org_command(org) as c:
            rows, _ = await schedules.list_schedules(
                c.session, ctx=c.ctx, params=PageParams(size=200)
            )
            views = [await schedules.view(c.session, s, fires=1) for s in rows]
        if not views:
            typer.echo(f"{org} has no schedules.")
        for v in views:
            state = "paused" if v["paused"] else f"next {_when(v['next_fires'])}"
            last = v["last_fires"][0]["status"] if v["last_fires"] else "never fired"
            typer.echo(
                f"{v['id']}  {v['name']:<24} {v['cron']:<16} {v['timezone']:<18} "
                f"{state:<32} {last:<10} {v['target_label']}"
            )

    go()


@app.command("create")
def create(
    name: str = typer.Argument(..., help="A name, unique in the organization"),
    org: str = ORG,
    cron: str = typer.Option(..., "--cron", help="e.g. '*/15 * * * *', '30 2 * * 1-5', @daily"),
    timezone: str = typer.Option("UTC", "--timezone", help="IANA time zone, e.g. Europe/Berlin"),
    target: str = typer.Option(..., "--target", help=TARGET_HELP),
    grace: int = typer.Option(
        None, "--grace", help="Seconds a fire time may be late and still run"
    ),
    coalesce: bool = typer.Option(True, help="Several fire times due at once start one run"),
    paused: bool = typer.Option(False, "--paused", help="Create it paused"),
):
    """Create a schedule; prints its next five fire times."""

    @run
    async def go():
        from tenantry.orchestration import schedules

        async with org_command(org) as c:
            s = await schedules.create(
                c.session,
                ctx=c.ctx,
                name=name,
                cron_expr=cron,
                timezone=timezone,
                grace_seconds=c.settings.schedule_default_grace_seconds if grace is None else grace,
                coalesce=coalesce,
                paused=paused,
                **await _target(c, target),
            )
            v = await schedules.view(c.session, s)
        typer.echo(f"Created schedule {v['name']} ({v['id']}): {v['description']}, {v['timezone']}")
        for t in v["next_fires"]:
            typer.echo(f"  {t['local']}")

    go()


def _set_paused(org: str, ref: str, paused: bool) -> None:
    @run
    async def go():
        from tenantry.orchestration import schedules

        async with org_command(org) as c:
            s = await _schedule(c, ref)
            await schedules.set_paused(c.session, ctx=c.ctx, schedule_id=s.id, paused=paused)
        typer.echo(f"{'Paused' if paused else 'Resumed'} {s.name}.")

    go()


@app.command("pause")
def pause(schedule: str = REF, org: str = ORG):
    """Stop firing (nothing is owed for the time it stays paused)."""
    _set_paused(org, schedule, True)


@app.command("resume")
def resume(schedule: str = REF, org: str = ORG):
    """Fire again from the next fire time on."""
    _set_paused(org, schedule, False)


@app.command("delete")
def delete(schedule: str = REF, org: str = ORG):
    """Delete a schedule and its fire history (the runs it started stay)."""

    @run
    async def go():
        from tenantry.orchestration import schedules

        async with org_command(org) as c:
            s = await _schedule(c, schedule)
            await schedules.delete(c.session, ctx=c.ctx, schedule_id=s.id)
        typer.echo(f"Deleted {s.name}.")

    go()


@app.command("fires")
def fires(schedule: str = REF, org: str = ORG, limit: int = typer.Option(20, min=1, max=200)):
    """Recorded fire times, newest first: fired (with the run), coalesced, missed, failed."""

    @run
    async def go():
        from tenantry.core.pagination import PageParams
        from tenantry.orchestration import schedules

        async with org_command(org) as c:
            s = await _schedule(c, schedule)
            rows, total = await schedules.list_fires(
                c.session, ctx=c.ctx, schedule_id=s.id, params=PageParams(size=limit)
            )
        if not rows:
            typer.echo(f"{s.name} has not fired yet.")
        for f in rows:
            what = f"run {f.run_id}" if f.run_id else f.reason
            typer.echo(f"{f.fire_time:%Y-%m-%d %H:%M} UTC  {f.status:<10} {what}")
        if total > len(rows):
            typer.echo(f"… {total - len(rows)} older", err=True)

    go()


@app.command("next")
def next_fires(
    schedule: str = typer.Argument(None, help="Schedule id or name (with --org)"),
    org: str = typer.Option(None, "--org", help="Organization slug"),
    cron: str = typer.Option(None, "--cron", help="Preview an expression instead"),
    timezone: str = typer.Option("UTC", "--timezone", help="Time zone for --cron"),
    count: int = typer.Option(5, "-n", min=1, max=100, help="How many"),
):
    """The next fire times of a schedule, or of an expression (--cron) without saving it."""

    @run
    async def go():
        from tenantry.core.db import utcnow
        from tenantry.orchestration import cron as crons

        expr, zone = cron, timezone
        if cron is None:
            if not (schedule and org):
                fail("give a schedule and --org, or --cron EXPR [--timezone TZ]")
            async with org_command(org) as c:
                s = await _schedule(c, schedule)
                expr, zone = s.cron, s.timezone
        typer.echo(f"{crons.describe(expr)} ({zone})")
        for t in crons.next_fire_times(expr, zone, utcnow(), count):
            typer.echo(f"  {t.isoformat()}")

    go()
