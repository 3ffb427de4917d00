"""`tenantry preaggs list|build`: an organization's pre-aggregations."""

from __future__ import annotations

import typer

from tenantry.cli.common import fail, org_command, run
from tenantry.cli.runs import execute_or_follow, finish

app = typer.Typer(help="Pre-aggregations of organizations' semantic models.", no_args_is_help=True)
ORG = typer.Option(..., "--org", help="Organization slug")


@app.command("list")
def list_preaggs(org: str = ORG):
    """Each pre-aggregation with its table, partitions, rows and whether it serves queries."""

    @run
    async def go():
        from tenantry.semantic.preaggs import status

        async with org_command(org) as c:
            found = await status.describe(c.session, c.settings, c.ctx.org.id)
            if not found:
                typer.echo(f"{org} has no pre-aggregations")
            for p in found:
                state = "ready" if p["ready"] else "not built"
                parts = len(p["partitions"]) or 1
                typer.echo(
                    f"{p['name']:<40} {state:<10} {p['rows']:>10} rows  {parts:>3} partition(s)"
                    f"  {p['table']}"
                )

    go()


@app.command("build")
def build(
    org: str = ORG,
    pre_aggregation: list[str] = typer.Option(
        None, "--only", help="cube.name of one to build (repeat); default: all"
    ),
    full: bool = typer.Option(False, "--full", help="Rebuild every partition"),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Print the log until it ends"),
):
    """Build what is due now (missing partitions, or under a changed refresh key) as a run."""

    @run
    async def go():
        from tenantry.semantic.preaggs.refresh import start_build

        async with org_command(org) as c:
            details = {"pre_aggregations": list(pre_aggregation or []) or None, "full": full}
            started = await start_build(c.session, c.ctx.org.id, trigger="manual", details=details)
            if started is None:
                fail("a pre-aggregation build of this organization is already queued or running")
            typer.echo(f"run {started.id} queued", err=True)
            status = await execute_or_follow(c, started.id, wait=wait)
            if status:
                finish(status)

    go()
