"""`tenantry pipelines list|run`."""

from __future__ import annotations

import typer

from tenantry.cli.common import fail, org_command, run
from tenantry.cli.runs import execute_or_follow, finish

app = typer.Typer(help="Organizations' pipelines.", no_args_is_help=True)
ORG = typer.Option(..., "--org", help="Organization slug")


async def _pipeline_id(session, ctx, ref: str) -> str:
    import sqlalchemy as sa

    from tenantry.pipelines.models import Pipeline

    found = await session.scalar(
        sa.select(Pipeline.id).where(
            Pipeline.org_id == ctx.org.id,
            Pipeline.deleted_at.is_(None),
            sa.or_(Pipeline.id == ref, Pipeline.name == ref),
        )
    )
    if found is None:
        fail(f"{ctx.org.slug} has no pipeline '{ref}'; see `tenantry pipelines list --org …`")
    return found


@app.command("list")
def list_pipelines(org: str = ORG):
    """Pipelines with their mode and last run."""

    @run
    async def go():
        from tenantry.core.pagination import PageParams
        from tenantry.orchestration import service as runs
        from tenantry.pipelines import service

        async with org_command(org) as c:
            rows, _ = await service.list_pipelines(
                c.session, ctx=c.ctx, params=PageParams(size=200)
            )
            ids = [p.id for p in rows]
            last = await runs.latest_by_target(c.session, org_id=c.ctx.org.id, target_ids=ids)
        if not rows:
            typer.echo(f"{org} has no pipelines.")
        for p in rows:
            r = last.get(p.id)
            state = f"{r.status} {r.created_at:%Y-%m-%d %H:%M}" if r else "never run"
            typer.echo(f"{p.id}  {p.spec['mode']:<8} {p.name:<30} {state}")

    go()


@app.command("run")
def run_pipeline(
    pipeline: str = typer.Argument(..., help="Pipeline id or name"),
    org: str = ORG,
    wait: bool = typer.Option(False, "--wait", help="Print the log until the run ends"),
):
    """Start a run. Exit code 1 when it failed or was cancelled (with --wait, or inline)."""

    @run
    async def go():
        from tenantry.pipelines import service

        async with org_command(org) as c:
            pid = await _pipeline_id(c.session, c.ctx, pipeline)
            started = await service.start_run(c.session, ctx=c.ctx, pipeline_id=pid)
            typer.echo(f"{started.id} queued", err=True)
            status = await execute_or_follow(c, started.id, wait=wait)
        if status:
            finish(status)

    go()
