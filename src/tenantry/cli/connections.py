"""`tenantry connections list|test`: an operator's view of an organization's connections."""

from __future__ import annotations

import typer

from tenantry.cli.common import fail, org_command, run

app = typer.Typer(help="Organizations' connections.", no_args_is_help=True)


@app.command("list")
def list_connections(org: str = typer.Option(..., "--org", help="Organization slug")):
    """List an organization's connections and their last test."""

    @run
    async def go():
        from tenantry.connections import service
        from tenantry.core.pagination import PageParams

        async with org_command(org) as c:
            rows, _ = await service.list_connections(
                c.session, ctx=c.ctx, params=PageParams(size=200), kind=None
            )
        if not rows:
            typer.echo(f"{org} has no connections.")
        for conn in rows:
            status = {None: "never tested", True: "ok", False: "failed"}[conn.last_test_ok]
            typer.echo(f"{conn.id}  {conn.kind:<9} {conn.name:<30} {status}")

    go()


@app.command("test")
def test_connection(
    connection: str = typer.Argument(..., help="Connection id or name"),
    org: str = typer.Option(..., "--org", help="Organization slug"),
):
    """Really connect; prints what was found. Exit code 1 when it fails."""

    @run
    async def go():
        import sqlalchemy as sa

        from tenantry.connections import service
        from tenantry.connections.models import Connection

        async with org_command(org) as c:
            conn_id = await c.session.scalar(
                sa.select(Connection.id).where(
                    Connection.org_id == c.ctx.org.id,
                    Connection.deleted_at.is_(None),
                    sa.or_(Connection.id == connection, Connection.name == connection),
                )
            )
            if conn_id is None:
                fail(f"{org} has no connection '{connection}'; see `tenantry connections list`")
            result = await service.test_saved(
                c.session, ctx=c.ctx, settings=c.settings, connection_id=conn_id
            )
        if not result["ok"]:
            fail(result["message"])
        typer.echo(f"ok: {result['message']} ({result['elapsed_ms']} ms)")

    go()
