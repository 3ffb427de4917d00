"""`tenantry`: serve, demo, db, users, orgs, secrets. Heavy imports stay inside commands."""

from __future__ import annotations

import getpass

import typer

from tenantry.cli.common import fail, open_db, run, settings
from tenantry.cli.connections import app as connections_app
from tenantry.cli.dag import app as dag_app
from tenantry.cli.models import app as models_app
from tenantry.cli.models import query_command
from tenantry.cli.pipelines import app as pipelines_app
from tenantry.cli.preaggs import app as preaggs_app
from tenantry.cli.prompts import app as prompts_app
from tenantry.cli.runs import app as runs_app
from tenantry.cli.schedules import app as schedules_app
from tenantry.cli.transforms import app as transforms_app

app = typer.Typer(help="Tenantry: multi-tenant data and analytics platform.", no_args_is_help=True)
db_app = typer.Typer(help="Metadata database migrations.", no_args_is_help=True)
users_app = typer.Typer(help="User accounts.", no_args_is_help=True)
orgs_app = typer.Typer(help="Organizations.", no_args_is_help=True)
secrets_app = typer.Typer(help="Encryption keys for stored secrets.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(orgs_app, name="orgs")
app.add_typer(secrets_app, name="secrets")
app.add_typer(connections_app, name="connections")
app.add_typer(pipelines_app, name="pipelines")
app.add_typer(runs_app, name="runs")
app.add_typer(schedules_app, name="schedules")
app.add_typer(transforms_app, name="transforms")
app.add_typer(dag_app, name="dag")
app.add_typer(models_app, name="models")
app.add_typer(preaggs_app, name="preaggs")
app.add_typer(prompts_app, name="prompts")
app.command("query")(query_command)


def _check_ready() -> None:
    """Refuse to serve on an out-of-date shared database, with the command that fixes it."""

    @run
    async def check():
        db = await open_db(settings())
        await db.dispose()

    check()


def _serve(host: str | None, port: int | None) -> None:
    import uvicorn

    from tenantry.app import create_app

    s = settings()
    _check_ready()
    uvicorn.run(create_app(s), host=host or s.host, port=port or s.port, log_level="warning")


@app.command()
def serve(
    host: str = typer.Option(None, help="Address to bind (default TENANTRY_HOST)"),
    port: int = typer.Option(None, help="Port (default TENANTRY_PORT)"),
):
    """Serve the web UI and the API."""
    s = settings()
    typer.echo(f"Tenantry on http://{host or s.host}:{port or s.port}  (API docs at /docs)")
    _serve(host, port)


@app.command()
def worker(
    concurrency: int = typer.Option(
        None, help="Runs at once in this worker (default TENANTRY_RUN_MAX_CONCURRENCY)"
    ),
    loglevel: str = typer.Option("INFO", help="Celery's log level"),
):
    """Execute runs from the Celery broker (TENANTRY_EXECUTOR=celery)."""
    s = settings()
    from tenantry.orchestration.celery_app import broker_url, make_app
    from tenantry.orchestration.worker import runtime
    from tenantry.runkinds import register_all

    try:
        url = broker_url(s)
    except Exception as exc:
        fail(str(exc))
    register_all()
    runtime()  # connect to the store and start the reaper before taking messages
    n = concurrency or s.run_max_concurrency
    typer.echo(f"Tenantry worker: {n} run(s) at once from {url.split('@')[-1]}")
    make_app(url).worker_main(
        [
            "worker",
            "--pool=threads",
            f"--concurrency={n}",
            f"--loglevel={loglevel}",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    )


@app.command()
def demo(
    serve_after: bool = typer.Option(True, "--serve/--no-serve", help="Serve the UI afterwards"),
    host: str = typer.Option(None, help="Address to bind"),
    port: int = typer.Option(None, help="Port"),
):
    """Create the two demo organizations and their users, print the logins, and serve."""
    from tenantry.cli.demo import setup_demo

    logins = run(setup_demo)(settings())
    s = settings()
    url = f"http://{host or s.host}:{port or s.port}"
    typer.echo("\nDemo ready. Log in at " + url + "/login with:\n")
    for email, password, what in logins:
        typer.echo(f"  {email:<28} {password:<16} {what}")
    typer.echo("")
    if serve_after:
        from tenantry.cli.demo_prompts import allowing_demo_llm
        from tenantry.core.config import set_settings

        set_settings(allowing_demo_llm(s))  # the demo's `local` LLM provider is on loopback
        _serve(host, port)


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target revision")):
    """Apply pending migrations to the metadata database."""

    @run
    async def go():
        from tenantry.core import migrate

        db = await open_db(settings(), migrate=False)
        try:
            before, head = await migrate.check_current(db.engine)
            await migrate.upgrade(db.engine, revision)
            after = await migrate.current_revision(db.engine)
        finally:
            await db.dispose()
        typer.echo(f"Metadata database: {before or '(empty)'} → {after} (code head {head}).")

    go()


@db_app.command("current")
def db_current():
    """Show the database's revision and the code's; exit 1 when they differ."""

    @run
    async def go():
        from tenantry.core import migrate

        db = await open_db(settings(), migrate=False)
        try:
            current, head = await migrate.check_current(db.engine)
        finally:
            await db.dispose()
        typer.echo(f"database: {current or '(empty)'}\ncode:     {head}")
        if current != head:
            fail("migrations pending; run `tenantry db upgrade`")

    go()


@db_app.command("revision")
def db_revision(
    message: str = typer.Option(..., "--message", "-m", help="What the migration does"),
):
    """(Development) write a new migration from the models' difference to the database."""

    @run
    async def go():
        from tenantry.core import migrate

        db = await open_db(settings())  # brought up to date first, so only the new change shows
        try:
            path = await migrate.new_revision(db.engine, message)
        finally:
            await db.dispose()
        typer.echo(f"Wrote {path}; review it (types, data moves) before committing.")

    go()


@users_app.command("create")
def users_create(
    email: str = typer.Option(..., help="Email address (unique, case-insensitive)"),
    name: str = typer.Option("", help="Display name"),
    password: str = typer.Option(
        None,
        help="Password (8 chars to 72 bytes); prompted when omitted. Or TENANTRY_NEW_PASSWORD.",
        envvar="TENANTRY_NEW_PASSWORD",
    ),
):
    """Create a user account."""
    if password is None:
        password = getpass.getpass("Password: ")

    @run
    async def go():
        from tenantry.tenancy import auth
        from tenantry.tenancy.context import Caller

        s = settings()
        db = await open_db(s)
        try:
            async with db.session() as session:
                user = await auth.create_user(
                    session,
                    settings=s,
                    email=email,
                    password=password,
                    name=name,
                    caller=Caller.system("cli"),
                )
        finally:
            await db.dispose()
        typer.echo(f"Created user {user.email} ({user.id}).")

    go()


@users_app.command("list")
def users_list():
    """List user accounts."""

    @run
    async def go():
        import sqlalchemy as sa

        from tenantry.tenancy.models import User

        db = await open_db(settings())
        try:
            async with db.session() as session:
                for u in await session.scalars(sa.select(User).order_by(User.email_normalized)):
                    typer.echo(
                        f"{u.id}  {u.email}  {u.name}{'' if u.is_active else '  (disabled)'}"
                    )
        finally:
            await db.dispose()

    go()


@orgs_app.command("create")
def orgs_create(
    name: str = typer.Option(..., help="Organization name"),
    owner: str = typer.Option(..., help="Email of an existing user who becomes the owner"),
    slug: str = typer.Option(None, help="URL slug (derived from the name if omitted)"),
):
    """Create an organization owned by an existing user."""

    @run
    async def go():
        from tenantry.tenancy import auth, service
        from tenantry.tenancy.context import Caller

        db = await open_db(settings())
        try:
            async with db.session() as session:
                user = await auth.get_user_by_email(session, owner)
                if user is None:
                    fail(f"no user with email {owner}; create one with `tenantry users create`")
                org = await service.create_org(
                    session, name=name, slug=slug, owner=user, caller=Caller.system("cli")
                )
        finally:
            await db.dispose()
        typer.echo(f"Created organization {org.name} (slug {org.slug}), owner {user.email}.")

    go()


@orgs_app.command("list")
def orgs_list():
    """List organizations."""

    @run
    async def go():
        import sqlalchemy as sa

        from tenantry.tenancy.models import Organization

        db = await open_db(settings())
        try:
            async with db.session() as session:
                for o in await session.scalars(sa.select(Organization).order_by(Organization.slug)):
                    typer.echo(f"{o.slug:<24} {o.name}{'  (deleted)' if o.deleted_at else ''}")
        finally:
            await db.dispose()

    go()


@secrets_app.command("new-key")
def secrets_new_key():
    """Print a fresh encryption key (to put first in TENANTRY_ENCRYPTION_KEYS)."""
    from cryptography.fernet import Fernet

    typer.echo(Fernet.generate_key().decode())


@secrets_app.command("rotate")
def secrets_rotate(
    generate: bool = typer.Option(
        False,
        "--generate",
        help="Add a new key to <data_dir>/encryption_keys first (file-managed keys only)",
    ),
    drop_old: bool = typer.Option(
        False, "--drop-old", help="After re-encrypting, remove the old keys from the key file"
    ),
):
    """Re-encrypt every stored secret under the newest key (the first configured one)."""
    from tenantry.cli.keys import rotate

    run(rotate)(generate=generate, drop_old=drop_old)


def main() -> None:
    app()
