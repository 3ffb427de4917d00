"""`tenantry prompts push|pull`: a folder of prompt files and parts, to and from an
organization's registry. A push saves only what changed; a pull writes what a push would
leave unchanged."""

from __future__ import annotations

from pathlib import Path

import typer

from tenantry.cli import prompts_files as files
from tenantry.core.errors import TenantryError, ValidationFailed


def _verb(created: bool, number: int) -> str:
    if not created:
        return f"unchanged (v{number})"
    return "created v1" if number == 1 else f"new version v{number}"


async def _push_parts(c, parts: dict[str, tuple[Path, str]], message: str) -> int:
    """Save the parts; one that includes another part of the same push waits for it."""
    from tenantry.prompts import parts as parts_service

    pending = dict(parts)
    failures: dict[str, ValidationFailed] = {}
    while pending:
        progress = False
        for name, (_path, text) in list(pending.items()):
            try:
                _, version, created = await parts_service.save_part(
                    c.session, ctx=c.ctx, name=name, content=text, message=message
                )
            except ValidationFailed as exc:
                failures[name] = exc
                continue
            failures.pop(name, None)
            del pending[name]
            progress = True
            typer.echo(f"part {name}: {_verb(created, version.number)}")
        if not progress:
            break
    for name, exc in failures.items():
        files.print_problems(str(parts[name][0]), files.errors_of(exc))
    return len(failures)


async def push_folder(c, folder: files.Folder, *, message: str, labels: list[str]) -> int:
    """Push parts, then prompts; returns how many files were refused."""
    from tenantry.prompts import parts as parts_service
    from tenantry.prompts import service
    from tenantry.prompts.spec import load_yaml
    from tenantry.prompts.validate import validate_yaml

    for name in labels:
        service.check_label_name(name)
    refused = await _push_parts(c, folder.parts, message)
    known = await parts_service.latest_contents(c.session, org_id=c.ctx.org.id)
    seen: dict[str, Path] = {}
    for path, text in folder.prompts.items():
        problems = validate_yaml(text, known)
        if any(p.get("severity", "error") == "error" for p in problems):
            files.print_problems(str(path), problems, text)
            typer.secho(f"{path}: refused, nothing saved", fg="red", err=True)
            refused += 1
            continue
        try:
            spec = load_yaml(text)
            if spec.id in seen:
                raise ValidationFailed.field(
                    "id", f"'{spec.id}' is also the id in {seen[spec.id]}; each prompt once"
                )
            seen[spec.id] = path
            prompt, version, created = await service.save(
                c.session, ctx=c.ctx, spec=spec, message=message
            )
            slug, number = prompt.slug, version.number
            for name in labels:
                await service.move_label(c.session, ctx=c.ctx, ref=slug, name=name, version=number)
        except ValidationFailed as exc:
            files.print_problems(str(path), files.errors_of(exc), text)
            typer.secho(f"{path}: refused, nothing saved", fg="red", err=True)
            refused += 1
            continue
        except TenantryError as exc:
            typer.secho(f"{path}: {exc.detail}", fg="red", err=True)
            refused += 1
            continue
        moved = f"; {', '.join(labels)} → v{number}" if labels else ""
        typer.echo(f"{slug}: {_verb(created, number)}{moved}")
    return refused


async def pull_folder(c, folder: Path, *, label: str) -> None:
    from tenantry.core.errors import NotFound
    from tenantry.core.pagination import PageParams
    from tenantry.prompts import parts as parts_service
    from tenantry.prompts import service

    org_id = c.ctx.org.id
    prompts, page = [], 1
    while True:
        rows, total = await service.list_prompts(
            c.session, org_id=org_id, params=PageParams(page=page, size=200)
        )
        prompts += rows
        if len(prompts) >= total or not rows:
            break
        page += 1
    existing = files.existing_prompt_files(folder)
    written = unchanged = 0
    for p in prompts:
        slug = p.slug
        try:
            found, row, resolved, labels = await service.resolve(
                c.session, org_id=org_id, ref=slug, label=label
            )
        except NotFound:
            typer.secho(f"{slug}: skipped, no version labelled '{label}'", fg="yellow", err=True)
            continue
        view = service.version_view(found, row, labels=labels, label=resolved)
        changed = files.write_if_changed(files.prompt_path(folder, slug, existing), view["yaml"])
        written, unchanged = written + changed, unchanged + (not changed)
        typer.echo(f"{slug}: v{row.number} {'written' if changed else 'unchanged'}")
    contents = await parts_service.latest_contents(c.session, org_id=org_id)
    for name, text in sorted(contents.items()):
        changed = files.write_if_changed(files.part_path(folder, name), text)
        typer.echo(f"part {name}: {'written' if changed else 'unchanged'}")
    typer.echo(
        f"{len(prompts)} prompt(s) and {len(contents)} part(s) in {folder} "
        f"({written} prompt file(s) written, {unchanged} unchanged)"
    )
