"""An organization's data model: immutable versions of its files and enabled templates."""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tenantry.core.errors import NotFound, ValidationFailed
from tenantry.core.pagination import PageParams, paginate
from tenantry.semantic import catalog
from tenantry.semantic.models import ModelVersion
from tenantry.semantic.schema import DataModel, ModelInvalid, build_model
from tenantry.tenancy import audit
from tenantry.tenancy.context import OrgContext
from tenantry.tenancy.service import lock_org

FILE_NAME = re.compile(r"^(?!templates/)[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*\.ya?ml$")
MAX_FILES = 500
MAX_FILE_BYTES = 1_000_000


def check_files(files: dict[str, str]) -> None:
    if len(files) > MAX_FILES:
        raise ValidationFailed.field("files", f"{len(files)} files; the limit is {MAX_FILES}")
    for name, text in files.items():
        if not FILE_NAME.match(name):
            raise ValidationFailed.field(
                f"files.{name}",
                "a file name is letters, digits, - and _ (folders with /), ending in .yml; "
                "templates/ is reserved",
            )
        if not isinstance(text, str) or len(text.encode()) > MAX_FILE_BYTES:
            raise ValidationFailed.field(f"files.{name}", "must be YAML text under 1 MB")


def check_templates(templates: list[str], extra_dir: Path | None) -> list[str]:
    known = catalog.available(extra_dir)
    unknown = [t for t in templates if t not in known]
    if unknown:
        raise ValidationFailed.field(
            "templates",
            f"unknown template '{unknown[0]}'; available: {', '.join(known) or 'none'}",
        )
    return sorted(set(templates))


def compile_files(
    files: dict[str, str], templates: list[str], extra_dir: Path | None = None
) -> DataModel:
    """The model a version describes: its templates' files and its own, validated together."""
    return build_model({**catalog.expand(templates, extra_dir), **files})


def content_hash(files: dict[str, str], templates: list[str]) -> str:
    body = json.dumps({"files": files, "templates": sorted(templates)}, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()


def view(v: ModelVersion, *, with_files: bool = True) -> dict[str, Any]:
    out = {
        "version": v.number,
        "message": v.message,
        "author": v.author,
        "templates": v.templates,
        "content_hash": v.content_hash,
        "created_at": v.created_at,
        "file_names": sorted(v.files),
    }
    if with_files:
        out["files"] = v.files
    return out


async def current(session: AsyncSession, org_id: str) -> ModelVersion | None:
    return await session.scalar(
        sa.select(ModelVersion)
        .where(ModelVersion.org_id == org_id)
        .order_by(ModelVersion.number.desc())
        .limit(1)
    )


async def current_number(session: AsyncSession, org_id: str) -> int:
    number = await session.scalar(
        sa.select(sa.func.max(ModelVersion.number)).where(ModelVersion.org_id == org_id)
    )
    return number or 0


async def get_version(session: AsyncSession, *, org_id: str, number: int) -> ModelVersion:
    found = await session.scalar(
        sa.select(ModelVersion).where(ModelVersion.org_id == org_id, ModelVersion.number == number)
    )
    if found is None:
        raise NotFound(f"There is no model version {number}.")
    return found


async def list_versions(session: AsyncSession, *, ctx: OrgContext, params: PageParams):
    stmt = (
        sa.select(ModelVersion)
        .where(ModelVersion.org_id == ctx.org.id)
        .order_by(ModelVersion.number.desc())
    )
    return await paginate(session, stmt, params)


def validate(
    files: dict[str, str], templates: list[str], extra_dir: Path | None = None
) -> list[dict]:
    """Problems of an unsaved model (empty when it is valid); nothing is stored."""
    check_files(files)
    templates = check_templates(templates, extra_dir)
    try:
        compile_files(files, templates, extra_dir)
    except ModelInvalid as exc:
        return [p.as_dict() for p in exc.problems]
    return []


async def save(
    session: AsyncSession,
    *,
    ctx: OrgContext,
    files: dict[str, str],
    templates: list[str] | None = None,
    message: str = "",
    extra_dir: Path | None = None,
) -> tuple[ModelVersion, bool]:
    """A new version holding exactly ``files`` (and ``templates``; None keeps the current ones).
    Invalid → ``ModelInvalid`` and nothing changes; unchanged content → (current, False)."""
    check_files(files)
    await lock_org(session, ctx.org.id)  # one save at a time: version numbers stay dense
    latest = await current(session, ctx.org.id)
    if templates is None:
        templates = list(latest.templates) if latest else []
    templates = check_templates(templates, extra_dir)
    compile_files(files, templates, extra_dir)  # raises ModelInvalid, naming every problem
    digest = content_hash(files, templates)
    if latest is not None and latest.content_hash == digest:
        await session.rollback()  # releases the lock
        await session.refresh(latest)
        return latest, False
    version = ModelVersion(
        org_id=ctx.org.id,
        number=(latest.number if latest else 0) + 1,
        files=dict(sorted(files.items())),
        templates=templates,
        content_hash=digest,
        message=message.strip()[:500],
        author_id=ctx.caller.user.id if ctx.caller.user else None,
        author=ctx.caller.actor_label,
    )
    session.add(version)
    await session.flush()
    before = {"version": latest.number, "files": sorted(latest.files)} if latest else None
    after = {"version": version.number, "files": sorted(files), "templates": templates}
    audit.log(
        session,
        ctx,
        "semantic_model.save",
        "semantic_model",
        version.id,
        before=before,
        after=after,
    )
    await session.commit()
    await session.refresh(version)
    return version, True


async def put_file(
    session: AsyncSession, *, ctx: OrgContext, name: str, text: str, message: str = "", **kw
):
    latest = await current(session, ctx.org.id)
    files = dict(latest.files) if latest else {}
    files[name] = text
    return await save(session, ctx=ctx, files=files, message=message or f"Edit {name}", **kw)


async def delete_file(session: AsyncSession, *, ctx: OrgContext, name: str, **kw):
    latest = await current(session, ctx.org.id)
    if latest is None or name not in latest.files:
        raise NotFound(f"There is no model file '{name}'.")
    files = {k: v for k, v in latest.files.items() if k != name}
    return await save(session, ctx=ctx, files=files, message=f"Delete {name}", **kw)


def diff(old: ModelVersion | None, new: ModelVersion) -> dict[str, Any]:
    """Per-file unified diffs from ``old`` to ``new``, and template changes."""
    before = old.files if old else {}
    changed = []
    for name in sorted(set(before) | set(new.files)):
        a, b = before.get(name), new.files.get(name)
        if a == b:
            continue
        lines = difflib.unified_diff(
            (a or "").splitlines(keepends=True),
            (b or "").splitlines(keepends=True),
            fromfile=f"v{old.number}/{name}" if old and a is not None else "/dev/null",
            tofile=f"v{new.number}/{name}" if b is not None else "/dev/null",
        )
        status = "added" if a is None else "deleted" if b is None else "modified"
        changed.append({"file": name, "status": status, "diff": "".join(lines)})
    old_t = set(old.templates) if old else set()
    return {
        "from": old.number if old else 0,
        "to": new.number,
        "files": changed,
        "templates_enabled": sorted(set(new.templates) - old_t),
        "templates_disabled": sorted(old_t - set(new.templates)),
    }
