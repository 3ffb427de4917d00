"""`tenantry connections list|test`: an operator's view of an organization's connections."""

from __future__ import annotations

import typer

from tenantry.cli.common import fail, open_db, org_context, run, settings

app = typer.Typer(help="Organizations' connections.", no_args_is_help=True)


@app.command("list")
def list_connections(org: str = typer.Option(..., "--org", help="Organization slug")):
    """List an organization's connections and their last test."""

    @run
    async def go():
        from tenantry.connections import service
        from tenantry.core.pagination import PageParams

        db = await open_db(settings())
        try:
            async with db.session() as session:
                ctx = await org_context(session, org)
                rows, _ = await service.list_connections(
                    session, ctx=ctx, params=PageParams(size=200), kind=None
                )
        finally:
            await db.dispose()
        if not rows:
            typer.echo(f"{org} has no connections.")
        for c in rows:
            status = {None: "never tested", True: "ok", False: "failed"}[c.last_test_ok]
            typer.echo(f"{c.id}  {c.kind:<9} {c.name:<30} {status}")

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

        s = settings()
        db = await open_db(s)
        try:
            async with db.session() as session:
                ctx = await org_context(session, org)
                conn_id = await session.scalar(
                    sa.select(Connection.id).where(
                        Connection.org_id == ctx.org.id,
                        Connection.deleted_at.is_(None),
                        sa.or_(Connection.id == connection, Connection.name == connection),
                    )
                )
                if conn_id is None:
                    fail(f"{org} has no connection '{connection}'; see `tenantry connections list`")
                result = await service.test_saved(
                    session, ctx=ctx, settings=s, connection_id=conn_id
                )
        finally:
            await db.dispose()
        if not result["ok"]:
            fail(result["message"])
        typer.echo(f"ok: {result['message']} ({result['elapsed_ms']} ms)")

    go()
