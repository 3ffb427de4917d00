"""`tenantry runs list|logs|cancel|retry`: follow and steer runs from a terminal."""

from __future__ import annotations

import asyncio
from datetime import datetime

import typer

from tenantry.cli.common import org_command, run

app = typer.Typer(help="Runs of pipelines (and later transformations).", no_args_is_help=True)
ORG = typer.Option(..., "--org", help="Organization slug")
STATUS_COLOURS = {"succeeded": "green", "failed": "red", "cancelled": "yellow"}


def _line(at: datetime, level: str, message: str) -> str:
    return f"{at.strftime('%H:%M:%S')} {level:<7} {message}"


async def follow(db, org_id: str, run_id: str, *, follow: bool = True, after: int = 0) -> str:
    """Print the run's log (as it is written, with ``follow``); returns the final status."""
    import sqlalchemy as sa

    from tenantry.orchestration import service
    from tenantry.orchestration.models import Run

    while True:
        async with db.session() as session:
            lines = await service.logs(session, org_id=org_id, run_id=run_id, after=after)
            status = await session.scalar(sa.select(Run.status).where(Run.id == run_id))
        for line in lines:
            after = line.seq
            typer.echo(_line(line.at, line.level, line.message))
        if not follow or (status in ("succeeded", "failed", "cancelled") and not lines):
            return status
        await asyncio.sleep(0.5)


def finish(status: str) -> None:
    typer.secho(f"run {status}", fg=STATUS_COLOURS.get(status), err=True)
    if status != "succeeded":
        raise typer.Exit(1)


@app.command("list")
def list_runs(
    org: str = ORG,
    status: str | None = typer.Option(None, help="queued, running, succeeded, failed, cancelled"),
    pipeline: str | None = typer.Option(None, help="Only this pipeline's runs (id)"),
    limit: int = typer.Option(20, min=1, max=200),
):
    """The newest runs first."""

    @run
    async def go():
        from tenantry.core.pagination import PageParams
        from tenantry.orchestration import service

        async with org_command(org) as c:
            rows, total = await service.list_runs(
                c.session,
                ctx=c.ctx,
                params=PageParams(size=limit),
                status=status,
                target_id=pipeline,
            )
        if not rows:
            typer.echo(f"{org} has no runs" + (f" with status {status}." if status else "."))
        for r in rows:
            when = r.created_at.strftime("%Y-%m-%d %H:%M:%S")
            typer.echo(
                f"{r.id}  {when}  {r.status:<9} {r.kind:<8} {r.target_name:<28} "
                f"attempt {r.attempt}  rows {r.rows_loaded:,}"
            )
        if total > len(rows):
            typer.echo(f"… {total - len(rows)} older; use --limit")

    go()


@app.command("logs")
def logs(
    run_id: str = typer.Argument(..., help="Run id"),
    org: str = ORG,
    follow_: bool = typer.Option(False, "--follow", "-f", help="Keep printing until it ends"),
):
    """Print a run's log; with --follow, as it is written until the run finishes."""

    @run
    async def go():
        from tenantry.orchestration import service

        async with org_command(org) as c:
            found = await service.get(c.session, ctx=c.ctx, run_id=run_id)
            await c.session.commit()  # no transaction held open while following
            status = await follow(c.db, c.ctx.org.id, found.id, follow=follow_)
        if follow_:
            finish(status)

    go()


@app.command("cancel")
def cancel(run_id: str = typer.Argument(...), org: str = ORG):
    """Cancel a queued run at once, or a running one at its next batch."""

    @run
    async def go():
        from tenantry.orchestration import service

        async with org_command(org) as c:
            found = await service.cancel(c.session, ctx=c.ctx, run_id=run_id)
        typer.echo(f"{found.id} {'cancelled' if found.finished else 'cancel requested'}")

    go()


@app.command("retry")
def retry(
    run_id: str = typer.Argument(...),
    org: str = ORG,
    wait: bool = typer.Option(False, "--wait", help="Follow the new attempt until it ends"),
):
    """Start a new attempt of a failed or cancelled run."""

    @run
    async def go():
        from tenantry.orchestration import service

        async with org_command(org) as c:
            new = await service.retry(c.session, ctx=c.ctx, run_id=run_id)
            typer.echo(f"{new.id} queued (attempt {new.attempt})")
            status = await execute_or_follow(c, new.id, wait=wait)
        if status:
            finish(status)

    go()


async def execute_or_follow(c, run_id: str, *, wait: bool) -> str | None:
    """Inline executor: this process runs it (a server's dispatcher may win the claim, then we
    follow). Celery: a worker runs it; follow only with --wait."""
    await c.session.commit()  # no transaction held open while the run goes on
    db, s, org_id = c.db, c.settings, c.ctx.org.id
    if s.executor == "inline":
        from tenantry.orchestration.execute import execute_run
        from tenantry.runkinds import register_all

        register_all()
        task = asyncio.create_task(execute_run(db, s, run_id))
        status = await follow(db, org_id, run_id, follow=True) if wait else await task
        await task
        if status is None:  # another process claimed it
            status = await follow(db, org_id, run_id, follow=True)
        return status
    if wait:
        return await follow(db, org_id, run_id, follow=True)
    return None
