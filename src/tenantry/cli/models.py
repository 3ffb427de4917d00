"""`tenantry models push|pull|validate|history|templates` and `tenantry query`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from tenantry.cli.common import fail, org_command, run

app = typer.Typer(
    help="Organizations' semantic models (Cube-compatible YAML).", no_args_is_help=True
)
ORG = typer.Option(..., "--org", help="Organization slug")


def read_folder(folder: Path) -> dict[str, str]:
    if not folder.is_dir():
        fail(f"{folder} is not a folder")
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix in (".yml", ".yaml") and path.is_file():
            name = path.relative_to(folder).as_posix()
            if name.startswith("templates/"):
                continue  # pulled copies of enabled templates: not the organization's own
            files[name] = path.read_text()
    return files


def _print_problems(problems: list[dict]) -> None:
    for p in problems:
        where = p["file"] + (f":{p['line']}" if p.get("line") else "")
        what = (p.get("cube") or "") + (f".{p['member']}" if p.get("member") else "")
        typer.secho(f"{where}: {what + ': ' if what else ''}{p['message']}", fg="red", err=True)


@app.command("push")
def push(
    folder: Path = typer.Argument(..., help="A folder of .yml model files"),
    org: str = ORG,
    message: str = typer.Option("", "--message", "-m"),
    template: list[str] = typer.Option(
        None, "--template", help="Enable a template (repeat); omitted: keep the enabled ones"
    ),
    prune: bool = typer.Option(
        True, "--prune/--no-prune", help="Files missing from the folder are deleted"
    ),
):
    """Make the organization's model exactly the folder's files: one new version, or none if
    nothing changed. A model with errors is refused with every error, and nothing changes."""
    files = read_folder(folder)

    @run
    async def go():
        from tenantry.semantic import service
        from tenantry.semantic.schema import ModelInvalid

        async with org_command(org) as c:
            merged = files
            if not prune:
                current = await service.current(c.session, c.ctx.org.id)
                merged = {**(current.files if current else {}), **files}
            try:
                version, created = await service.save(
                    c.session,
                    ctx=c.ctx,
                    files=merged,
                    templates=list(template) if template else None,
                    message=message or f"Push {len(files)} file(s) from {folder.name}",
                    extra_dir=c.settings.semantic_templates_dir,
                )
            except ModelInvalid as exc:
                _print_problems([p.as_dict() for p in exc.problems])
                fail(f"{len(exc.problems)} problem(s); nothing was saved")
            verb = "saved as version" if created else "unchanged: still version"
            typer.echo(f"{org}: {len(merged)} file(s) {verb} {version.number}")

    go()


@app.command("pull")
def pull(
    folder: Path = typer.Argument(..., help="Where to write the .yml files"),
    org: str = ORG,
    version: int = typer.Option(None, "--version", help="A past version (default: current)"),
):
    """Write the organization's model files (and its enabled templates, read-only copies
    under templates/) into a folder."""

    @run
    async def go():
        from tenantry.semantic import catalog, service

        async with org_command(org) as c:
            if version:
                found = await service.get_version(c.session, org_id=c.ctx.org.id, number=version)
            else:
                found = await service.current(c.session, c.ctx.org.id)
            if found is None:
                fail(f"{org} has no semantic model yet; `tenantry models push DIR --org {org}`")
            files = {
                **found.files,
                **catalog.expand(found.templates, c.settings.semantic_templates_dir),
            }
            for name, text in files.items():
                path = folder / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
            typer.echo(f"{org}: version {found.number}, {len(files)} file(s) written to {folder}")

    go()


@app.command("validate")
def validate(
    folder: Path = typer.Argument(..., help="A folder of .yml model files"),
    template: list[str] = typer.Option(None, "--template", help="Templates to validate with"),
):
    """Check a folder of model files without saving (exit 1 when there are problems)."""
    from tenantry.cli.common import settings
    from tenantry.core.errors import TenantryError
    from tenantry.semantic import service

    files = read_folder(folder)
    try:
        problems = service.validate(files, list(template or []), settings().semantic_templates_dir)
    except TenantryError as exc:
        fail(exc.detail)
    if problems:
        _print_problems(problems)
        fail(f"{len(problems)} problem(s)")
    typer.echo(f"{len(files)} file(s): valid")


@app.command("history")
def history(org: str = ORG):
    """Model versions, newest first."""

    @run
    async def go():
        from tenantry.core.pagination import PageParams
        from tenantry.semantic import service

        async with org_command(org) as c:
            rows, _ = await service.list_versions(c.session, ctx=c.ctx, params=PageParams(size=200))
            for v in rows:
                when = v.created_at.strftime("%Y-%m-%d %H:%M")
                typer.echo(f"v{v.number}  {when}  {v.author:<24} {v.message}")

    go()


@app.command("templates")
def templates():
    """Model templates an organization can enable (`push --template NAME`)."""
    from tenantry.cli.common import settings
    from tenantry.semantic import catalog

    for t in catalog.available(settings().semantic_templates_dir).values():
        typer.echo(f"{t.name:<24} {t.title}: {', '.join(sorted(t.files))}")


def query_command(
    query: str = typer.Argument(..., help="A Cube query as JSON"),
    org: str = typer.Option(..., "--org", help="Organization slug"),
    context: str = typer.Option(
        "{}", "--context", help="Security context claims as JSON (access policies read them)"
    ),
    as_json: bool = typer.Option(False, "--json", help="Print Cube's whole response"),
    sql_only: bool = typer.Option(False, "--sql", help="Print the SQL instead of running it"),
):
    """Run a semantic query for an organization, as its security context allows."""
    try:
        parsed, claims = json.loads(query), json.loads(context)
    except json.JSONDecodeError as exc:
        fail(f"not valid JSON: {exc.msg}")

    @run
    async def go():
        import asyncio

        import tenantry.models  # noqa: F401 - every mapper: the warehouse row refers to others
        from tenantry.semantic import engine
        from tenantry.semantic.auth import security_context
        from tenantry.semantic.runtime import SemanticRuntime

        async with org_command(org) as c:
            rt = SemanticRuntime(c.settings)
            tenant = engine.Tenant(c.ctx.org.id, org, security_context(claims), "cli")
            if sql_only:
                _, compiled, _, _ = await engine.compile_all(
                    rt, c.session, c.ctx.org, tenant, parsed
                )
                for one in compiled:
                    typer.echo(one.sql)
                return
            while True:  # "Continue wait": ask again, the same execution answers
                query_type, results = await engine.execute(
                    rt, c.session, c.ctx.org, tenant, parsed, mode="must-revalidate"
                )
                if results is not None:
                    break
                await asyncio.sleep(0.2)
            await rt.aclose()
            if as_json:
                typer.echo(json.dumps({"queryType": query_type, "results": results}, indent=2))
                return
            for result in results:
                _table(result["data"])

    go()


def _table(rows: list[dict]) -> None:
    if not rows:
        typer.echo("(no rows)")
        return
    keys = list(rows[0])
    widths = {k: max(len(k), *(len(str(r.get(k))) for r in rows)) for k in keys}
    typer.echo("  ".join(k.ljust(widths[k]) for k in keys))
    for r in rows:
        typer.echo("  ".join(str(r.get(k)).ljust(widths[k]) for k in keys))
    typer.echo(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
