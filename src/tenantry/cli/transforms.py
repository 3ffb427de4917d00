"""`tenantry transforms list|show|push|compile|preview|run|test|freshness`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from tenantry.cli.common import fail, org_command, run
from tenantry.cli.runs import execute_or_follow, finish

app = typer.Typer(
    help="Organizations' transformations (dbt models and snapshots).", no_args_is_help=True
)
ORG = typer.Option(..., "--org", help="Organization slug")
WAIT = typer.Option(False, "--wait", help="Print the log until the run ends")


async def find(session, ctx, ref: str):
    """A live transformation of the organization by id or name."""
    import sqlalchemy as sa

    from tenantry.transforms.models import Transformation

    found = await session.scalar(
        sa.select(Transformation).where(
            Transformation.org_id == ctx.org.id,
            Transformation.deleted_at.is_(None),
            sa.or_(Transformation.id == ref, Transformation.name == ref),
        )
    )
    if found is None:
        fail(
            f"{ctx.org.slug} has no transformation '{ref}'; see `tenantry transforms list --org …`"
        )
    return found


def _materialization(spec: dict[str, Any], kind: str) -> str:
    return "snapshot" if kind == "snapshot" else spec.get("materialization", "view")


@app.command("list")
def list_transforms(org: str = ORG):
    """Transformations with their materialization, schema and last run."""

    @run
    async def go():
        from tenantry.core.pagination import PageParams
        from tenantry.orchestration import service as runs
        from tenantry.transforms import service

        async with org_command(org) as c:
            rows, _ = await service.list_transformations(
                c.session, ctx=c.ctx, params=PageParams(size=200)
            )
            ids = [t.id for t in rows]
            last = await runs.latest_by_target(c.session, org_id=c.ctx.org.id, target_ids=ids)
        if not rows:
            typer.echo(f"{org} has no transformations.")
        for t in rows:
            r = last.get(t.id)
            state = f"{r.status} {r.created_at:%Y-%m-%d %H:%M}" if r else "never run"
            mat = _materialization(t.spec, t.kind)
            schema = t.spec.get("schema", "staging")
            typer.echo(f"{t.id}  {t.name:<30} {mat:<12} {schema:<8} {state}")

    go()


@app.command("show")
def show(name: str = typer.Argument(..., help="Transformation name or id"), org: str = ORG):
    """A transformation's settings, what it reads, its last run and its SQL."""

    @run
    async def go():
        from tenantry.orchestration import service as runs
        from tenantry.transforms import service

        async with org_command(org) as c:
            t = await find(c.session, c.ctx, name)
            last = await runs.latest_by_target(c.session, org_id=c.ctx.org.id, target_ids=[t.id])
            v = service.view(t, last_run=last.get(t.id))
        typer.echo(f"{v['name']}  ({v['kind']}, {_materialization(v['spec'], v['kind'])})")
        if v["description"]:
            typer.echo(v["description"])
        typer.echo(f"id:      {v['id']}")
        reads = v["depends_on"]["sources"] + [f"ref {r}" for r in v["depends_on"]["refs"]]
        typer.echo(f"reads:   {', '.join(reads) or '—'}")
        lr = v["last_run"]
        typer.echo(f"last run: {lr['status']} {lr['id']}" if lr else "last run: never")
        typer.echo("spec:    " + json.dumps(v["spec"], indent=2).replace("\n", "\n         "))
        typer.echo("--- sql")
        typer.echo(v["sql"])

    go()


def _split(value: str | None) -> list[str] | None:
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


def _read_spec(spec_file: Path | None) -> dict[str, Any]:
    if spec_file is None:
        return {}
    try:
        spec = json.loads(spec_file.read_text())
    except (OSError, ValueError) as exc:
        fail(f"--spec {spec_file}: not readable JSON ({exc})")
    if not isinstance(spec, dict):
        fail(f'--spec {spec_file}: the spec is a JSON object, e.g. {{"columns": [...]}}')
    return spec


def _spec(base: dict[str, Any], given: dict[str, Any], options: dict[str, Any]) -> dict:
    spec = dict(base) | given
    snapshot = dict(spec.get("snapshot") or {})
    for key in ("strategy", "updated_at", "check_cols"):
        value = options.pop(key)
        if value is not None:
            snapshot[key] = value
    if snapshot:
        spec["snapshot"] = snapshot
    return spec | {k: v for k, v in options.items() if v is not None}


@app.command("push")
def push(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="The model's SQL file"),
    org: str = ORG,
    name: str | None = typer.Option(None, help="Default: the file name without .sql"),
    kind: str = typer.Option("model", help="model or snapshot (when creating)"),
    description: str | None = typer.Option(None),
    materialization: str | None = typer.Option(None, help="view, table, incremental, ephemeral"),
    schema: str | None = typer.Option(None, help="staging or marts"),
    unique_key: str | None = typer.Option(None, help="Comma-separated columns"),
    incremental_strategy: str | None = typer.Option(None, help="append, merge, delete+insert"),
    tags: str | None = typer.Option(None, help="Comma-separated"),
    strategy: str | None = typer.Option(None, help="Snapshot strategy: timestamp or check"),
    updated_at: str | None = typer.Option(None, help="Snapshot: the column that changes"),
    check_cols: str | None = typer.Option(None, help="Snapshot: columns compared, or 'all'"),
    spec_file: Path | None = typer.Option(
        None, "--spec", exists=True, dir_okay=False, help="JSON spec (columns, tests, …)"
    ),
):
    """Create the transformation, or update the one with this name (SQL and given options)."""
    model_name = name or file.stem
    cols = "all" if check_cols == "all" else _split(check_cols)
    options = {
        "materialization": materialization,
        "schema": schema,
        "unique_key": _split(unique_key),
        "incremental_strategy": incremental_strategy,
        "tags": _split(tags),
        "strategy": strategy,
        "updated_at": updated_at,
        "check_cols": cols,
    }

    sql = file.read_text()
    given = _read_spec(spec_file)

    @run
    async def go():
        import sqlalchemy as sa
        from pydantic import ValidationError

        from tenantry.transforms import service
        from tenantry.transforms.models import Transformation
        from tenantry.transforms.schemas import TransformIn, TransformPatch

        async with org_command(org) as c:
            existing = await c.session.scalar(
                sa.select(Transformation).where(
                    Transformation.org_id == c.ctx.org.id,
                    Transformation.deleted_at.is_(None),
                    Transformation.name == model_name,
                )
            )
            spec = _spec(existing.spec if existing else {}, given, options)
            try:
                if existing is None:
                    data = TransformIn(
                        name=model_name,
                        kind=kind,
                        sql=sql,
                        description=description or "",
                        spec=spec,
                    )
                    t = await service.create(c.session, settings=c.settings, ctx=c.ctx, data=data)
                    verb = "Created"
                else:
                    patch = TransformPatch(sql=sql, description=description, spec=spec)
                    t = await service.update(
                        c.session,
                        settings=c.settings,
                        ctx=c.ctx,
                        transform_id=existing.id,
                        patch=patch,
                    )
                    verb = "Updated"
            except ValidationError as exc:
                e = exc.errors()[0]
                where = ".".join(str(p) for p in e["loc"])
                fail((f"{where}: " if where else "") + e["msg"].removeprefix("Value error, "))
            mat = _materialization(t.spec, t.kind)
            typer.echo(f"{verb} {t.name} ({t.kind}, {mat} in {t.spec.get('schema', 'staging')})")

    go()


@app.command("compile")
def compile_(name: str = typer.Argument(..., help="Transformation name or id"), org: str = ORG):
    """Print the SQL dbt runs for it (refs and sources resolved)."""

    @run
    async def go():
        from tenantry.transforms import preview

        async with org_command(org) as c:
            t = await find(c.session, c.ctx, name)
            out = await preview.compile_sql(c.session, settings=c.settings, ctx=c.ctx, transform=t)
        typer.echo(out["compiled_sql"])

    go()


@app.command("preview")
def preview_rows(
    name: str = typer.Argument(..., help="Transformation name or id"),
    org: str = ORG,
    limit: int = typer.Option(20, min=1, max=10_000, help="Rows to show"),
):
    """Print the first rows it would hold (read-only; nothing is built)."""

    @run
    async def go():
        from tenantry.transforms import preview

        async with org_command(org) as c:
            t = await find(c.session, c.ctx, name)
            out = await preview.preview(
                c.session, settings=c.settings, ctx=c.ctx, transform=t, limit=limit
            )
        header = [col["name"] for col in out["columns"]]
        cells = [["NULL" if v is None else str(v) for v in row] for row in out["rows"]]
        widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(header)]
        typer.echo("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
        for row in cells:
            typer.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))
        more = " (more exist)" if out["truncated"] else ""
        typer.echo(f"{out['row_count']} row{'s' if out['row_count'] != 1 else ''}{more}")

    go()


def _start(org: str, name: str | None, command: str, wait: bool) -> None:
    @run
    async def go():
        from tenantry.runkinds import register_all
        from tenantry.transforms import service

        register_all()  # a transformation's run is started through the run registry
        async with org_command(org) as c:
            t = await find(c.session, c.ctx, name) if name else None
            started = await service.start_run(c.session, ctx=c.ctx, command=command, transform=t)
            typer.echo(f"{started.id} queued ({started.target_name})", err=True)
            status = await execute_or_follow(c, started.id, wait=wait)
        if status:
            finish(status)

    go()


@app.command("run")
def run_transforms(
    name: str | None = typer.Argument(None, help="One transformation; all when left out"),
    org: str = ORG,
    wait: bool = WAIT,
):
    """Build (run, then test) one transformation, or the whole project (`dbt build`)."""
    _start(org, name, "build", wait)


@app.command("test")
def test_transforms(
    name: str | None = typer.Argument(None, help="One transformation; all when left out"),
    org: str = ORG,
    wait: bool = WAIT,
):
    """Run the tests of one transformation, or of all (`dbt test`)."""
    _start(org, name, "test", wait)


@app.command("freshness")
def freshness(org: str = ORG, wait: bool = WAIT):
    """Check the sources' freshness (`dbt source freshness`)."""
    _start(org, None, "freshness", wait)
