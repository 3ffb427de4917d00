"""`tenantry prompts`: the prompt registry from a terminal — list, get, push/pull folders,
validate, render, run, diff, history and labels. Acts on the local metadata database as the
operator (``--org SLUG``), like `tenantry models`."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from tenantry.cli import prompts_files as files
from tenantry.cli.common import fail, org_command, run

app = typer.Typer(
    help="The prompt registry: versioned prompt templates, parts and labels.",
    no_args_is_help=True,
)
ORG = typer.Option(..., "--org", help="Organization slug")
LABEL = typer.Option(None, "--label", help="Read through this label (default: production)")
VERSION = typer.Option(None, "--version", min=1, help="Read this version number")
INPUT = typer.Option(None, "--input", "-i", help="An input as name=value (value: JSON or text)")
INPUTS_JSON = typer.Option(
    None, "--inputs-json", help="A JSON object of inputs, from a file or - for stdin"
)


def _one_of(label: str | None, version: int | None) -> None:
    if label and version:
        fail("give either --label or --version, not both")


@app.command("list")
def list_prompts(
    org: str = ORG,
    tag: str = typer.Option("", "--tag", help="Only prompts with this tag"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
):
    """The organization's prompts with their latest version and labels."""

    @run
    async def go():
        from tenantry.core.pagination import PageParams
        from tenantry.prompts import service

        async with org_command(org) as c:
            rows, page = [], 1
            while True:
                got, total = await service.list_prompts(
                    c.session, org_id=c.ctx.org.id, params=PageParams(page=page, size=200), tag=tag
                )
                rows += got
                if len(rows) >= total or not got:
                    break
                page += 1
            labels = await service.labels_for(c.session, rows)
            views = [service.prompt_view(p, labels[p.id]) for p in rows]
        if as_json:
            typer.echo(files.dumps(views))
            return
        if not views:
            typer.echo("(no prompts)")
        for v in views:
            named = ", ".join(f"{k}→v{n}" for k, n in sorted(v["labels"].items()) if k != "latest")
            tags = f"  [{', '.join(v['tags'])}]" if v["tags"] else ""
            typer.echo(
                f"{v['slug']:<28} v{v['latest_version']:<4} {named or '(no labels)'}{tags}"
                + (f"  {v['description']}" if v["description"] else "")
            )

    go()


@app.command("get")
def get(
    prompt: str = typer.Argument(..., help="The prompt's id (slug)"),
    org: str = ORG,
    label: str = LABEL,
    version: int = VERSION,
    as_json: bool = typer.Option(False, "--json", help="Print the whole version as JSON"),
):
    """Print a prompt version as YAML (or JSON with the pinned parts' text)."""
    _one_of(label, version)

    @run
    async def go():
        from tenantry.prompts import rendering, service

        async with org_command(org) as c:
            found, row, resolved, labels = await service.resolve(
                c.session, org_id=c.ctx.org.id, ref=prompt, label=label, version=version
            )
            view = service.version_view(found, row, labels=labels, label=resolved)
            _, contents = await rendering.load_version(c.session, org_id=c.ctx.org.id, version=row)
        if as_json:
            typer.echo(files.dumps(view | {"part_contents": contents}))
            return
        typer.echo(view["yaml"], nl=False)
        tags = ", ".join(view["version_labels"]) or "no labels"
        typer.secho(f"# {view['slug']} version {view['version']} ({tags})", err=True, dim=True)

    go()


@app.command("push")
def push(
    source: Path = typer.Argument(..., help="A prompt .yml file, or a folder of them (+ parts/)"),
    org: str = ORG,
    message: str = typer.Option("", "--message", "-m", help="What changed, for the history"),
    label: list[str] = typer.Option(None, "--label", help="Point this label at what was pushed"),
):
    """Save prompt files and parts: a new version only where something changed.

    Each .yml/.yaml file is one prompt; parts/ holds parts (*.j2, *.jinja, *.txt, named by file
    stem). A file with problems is refused whole with its line numbers (exit 1); the others
    are still pushed."""
    folder = files.read_source(source)
    if not folder.prompts and not folder.parts:
        fail(f"{source} holds no .yml/.yaml prompt files and no parts/")

    @run
    async def go():
        from tenantry.cli.prompts_push import push_folder

        async with org_command(org) as c:
            refused = await push_folder(
                c, folder, message=message or f"Pushed from {source.name}", labels=label or []
            )
        if refused:
            fail(f"{refused} file(s) refused; the others were pushed")

    go()


@app.command("pull")
def pull(
    folder: Path = typer.Argument(..., help="Where to write <id>.yml files and parts/"),
    org: str = ORG,
    label: str = typer.Option(
        "latest", "--label", help="Which version of each prompt (default: the latest)"
    ),
):
    """Write every prompt and part into a folder (pushing it back changes nothing).

    One <id>.yml per prompt and parts/NAME.j2 per part (an existing parts/NAME.txt or .jinja
    is overwritten in place)."""

    @run
    async def go():
        from tenantry.cli.prompts_push import pull_folder

        async with org_command(org) as c:
            await pull_folder(c, folder, label=label)

    go()


@app.command("validate")
def validate(
    paths: list[Path] = typer.Argument(..., help="Prompt files (or folders of them)"),
    org: str = typer.Option(None, "--org", help="Also know this organization's current parts"),
):
    """Check prompt files without saving (exit 1 on errors).

    YAML syntax, fields, inputs used against inputs declared, and the parts included (from
    parts/ beside each file, and --org's current parts)."""
    targets: list[Path] = []
    for p in paths:
        targets += list(files.read_source(p).prompts) if p.is_dir() else [p]
    remote: dict[str, str] = {}
    if org:

        @run
        async def known():
            from tenantry.prompts import parts

            async with org_command(org) as c:
                return await parts.latest_contents(c.session, org_id=c.ctx.org.id)

        remote = known()
    from tenantry.prompts.validate import validate_yaml

    errors = 0
    for path in targets:
        try:
            text = path.read_text()
        except OSError as exc:
            typer.secho(f"{path}: cannot read ({exc.strerror})", fg="red", err=True)
            errors += 1
            continue
        problems = validate_yaml(text, remote | files.local_parts_for(path))
        files.print_problems(str(path), problems, text)
        bad = sum(1 for p in problems if p.get("severity", "error") == "error")
        errors += bad
        if not bad:
            typer.echo(f"{path}: valid")
    if errors:
        fail(f"{errors} error(s)")


@app.command("render")
def render(
    prompt: str = typer.Argument(..., help="The prompt's id (slug)"),
    org: str = ORG,
    inputs: list[str] = INPUT,
    inputs_json: str = INPUTS_JSON,
    label: str = LABEL,
    version: int = VERSION,
    as_json: bool = typer.Option(False, "--json", help="Print the render as JSON"),
):
    """Render a stored version with inputs; nothing is sent to a model.

    Inputs are checked against their declared types (and coerced) as by the API."""
    _one_of(label, version)
    given = files.parse_inputs(inputs, inputs_json)

    @run
    async def go():
        from tenantry.prompts import rendering

        async with org_command(org) as c:
            found = await rendering.render_stored(
                c.session,
                c.settings,
                org_id=c.ctx.org.id,
                ref=prompt,
                label=label,
                version=version,
                inputs=given,
            )
        rendered = found.rendered.to_dict()
        if as_json:
            out = {"prompt": found.slug, "version": found.version, "label": found.label}
            typer.echo(files.dumps(out | {"inputs": found.inputs, "rendered": rendered}))
            return
        files.print_rendered(rendered)

    go()


@app.command("run")
def run_prompt(
    prompt: str = typer.Argument(..., help="The prompt's id (slug)"),
    org: str = ORG,
    inputs: list[str] = INPUT,
    inputs_json: str = INPUTS_JSON,
    label: str = LABEL,
    version: int = VERSION,
    model: str = typer.Option(None, "--model", help="Use this model instead of the prompt's"),
    provider: str = typer.Option(None, "--provider", help="Use this provider entry"),
    stream: bool = typer.Option(True, "--stream/--no-stream", help="Print text as it arrives"),
    store_inputs: bool = typer.Option(
        True, "--store-inputs/--no-store-inputs", help="Keep the inputs in the execution log"
    ),
):
    """Execute a prompt: the answer on stdout, tokens, cost and latency on stderr.

    Quota refusals and provider failures exit 1 with the reason (failures are still recorded
    as executions)."""
    _one_of(label, version)
    given = files.parse_inputs(inputs, inputs_json)

    @run
    async def go():
        from tenantry.prompts import execute

        options = execute.ExecuteOptions(
            inputs=given,
            label=label,
            version=version,
            model={k: v for k, v in {"model": model, "provider": provider}.items() if v},
            store_inputs=None if store_inputs else False,
        )
        async with org_command(org) as c:
            prepared = await execute.prepare(
                c.session, c.db, c.settings, ctx=c.ctx, ref=prompt, options=options
            )
            if not stream:
                view = await execute.run(c.db, c.settings, prepared)
                typer.echo(view["output"] or "")
            else:
                view = None
                wrote = ""
                async for ev in execute.stream(c.db, c.settings, prepared):
                    if ev["event"] == "text":
                        wrote = ev["data"]["text"]
                        sys.stdout.write(wrote)
                        sys.stdout.flush()
                    elif ev["event"] == "done":
                        view = ev["data"]
                    elif ev["event"] == "error":
                        if wrote:
                            sys.stdout.write("\n")
                        data = ev["data"]
                        fail(f"{data['detail']} (execution {data.get('execution_id')})")
                if wrote and not wrote.endswith("\n"):
                    sys.stdout.write("\n")
        for call in view.get("tool_calls") or []:
            typer.echo(f"tool call: {call['name']}({files.dumps(call['arguments'])})")
        typer.secho(_summary(view), err=True, dim=True)

    go()


def _summary(view: dict) -> str:
    cost = "cost unknown" if view["cost_usd"] is None else f"${view['cost_usd']:.6f}"
    where = f"v{view['version']}" + (f" ({view['label']})" if view.get("label") else "")
    return (
        f"{view['prompt']} {where} · {view['provider']}/{view['model']} · "
        f"{view['total_tokens']} tokens ({view['input_tokens']} in, {view['output_tokens']} out)"
        f" · {cost} · {view['latency_ms']} ms · execution {view['id']}"
    )


@app.command("diff")
def diff(
    prompt: str = typer.Argument(..., help="The prompt's id (slug)"),
    from_ref: str = typer.Argument(..., metavar="FROM", help="A version number or a label"),
    to_ref: str = typer.Argument(..., metavar="TO", help="A version number or a label"),
    org: str = ORG,
):
    """What changed between two versions (a unified diff of their YAML).

    Also lists parts whose pinned version differs."""

    @run
    async def go():
        import difflib

        from tenantry.prompts import service
        from tenantry.prompts.spec import PromptSpec, dump_yaml

        async with org_command(org) as c:
            found = await service.find_prompt(c.session, org_id=c.ctx.org.id, ref=prompt)
            labels = await service.labels_of(c.session, found)

            def number(ref: str) -> int:
                if ref.lstrip("v").isdigit():
                    return int(ref.lstrip("v"))
                if ref not in labels:
                    fail(f"'{ref}' is neither a version number nor a label of {found.slug}")
                return labels[ref]

            a_n, b_n = number(from_ref), number(to_ref)
            a = await service.get_version(c.session, prompt=found, number=a_n)
            b = await service.get_version(c.session, prompt=found, number=b_n)
        a_yaml = dump_yaml(PromptSpec.model_validate(a.spec)).splitlines(keepends=True)
        b_yaml = dump_yaml(PromptSpec.model_validate(b.spec)).splitlines(keepends=True)
        lines = list(
            difflib.unified_diff(a_yaml, b_yaml, f"{found.slug} v{a_n}", f"{found.slug} v{b_n}")
        )
        for line in lines:
            colour = {"+": "green", "-": "red", "@": "cyan"}.get(line[:1])
            typer.secho(line.rstrip("\n"), fg=None if line[:3] in ("+++", "---") else colour)
        pins = sorted(set(a.parts or {}) | set(b.parts or {}))
        changed = [n for n in pins if (a.parts or {}).get(n) != (b.parts or {}).get(n)]
        for name in changed:
            was, now = (a.parts or {}).get(name), (b.parts or {}).get(name)
            show = lambda n: f"v{n}" if n else "not included"  # noqa: E731
            typer.echo(f"part {name}: {show(was)} → {show(now)}")
        if not lines and not changed:
            typer.echo(f"{found.slug}: v{a_n} and v{b_n} have the same content")

    go()


@app.command("history")
def history(prompt: str = typer.Argument(..., help="The prompt's id (slug)"), org: str = ORG):
    """Versions, newest first, with the labels pointing at each."""

    @run
    async def go():
        from tenantry.core.pagination import PageParams
        from tenantry.prompts import service

        async with org_command(org) as c:
            found = await service.find_prompt(c.session, org_id=c.ctx.org.id, ref=prompt)
            labels = await service.labels_of(c.session, found)
            rows, _ = await service.list_versions(
                c.session, prompt=found, params=PageParams(size=200)
            )
            for v in rows:
                named = sorted(n for n, num in labels.items() if num == v.number)
                when = v.created_at.strftime("%Y-%m-%d %H:%M")
                tags = f"[{', '.join(named)}]" if named else ""
                typer.echo(f"v{v.number:<4} {when}  {v.author:<20} {tags:<28} {v.message}".rstrip())

    go()


@app.command("label")
def label(
    prompt: str = typer.Argument(..., help="The prompt's id (slug)"),
    name: str = typer.Argument(..., help="The label, e.g. production or staging"),
    version: int = typer.Argument(None, min=1, help="The version it should point at"),
    org: str = ORG,
    delete: bool = typer.Option(False, "--delete", help="Remove the label instead"),
):
    """Point a label at a version (ship, or roll back), or --delete it."""
    if delete == (version is not None):
        fail("give a VERSION to move the label to, or --delete (not both)")

    @run
    async def go():
        from tenantry.prompts import service

        async with org_command(org) as c:
            if delete:
                await service.delete_label(c.session, ctx=c.ctx, ref=prompt, name=name)
                typer.echo(f"{prompt}: label {name} removed")
                return
            await service.move_label(c.session, ctx=c.ctx, ref=prompt, name=name, version=version)
            typer.echo(f"{prompt}: {name} → v{version}")

    go()
