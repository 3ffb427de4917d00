"""Prompts: immutable versions by content hash, labels that point at them, reads by label or
number. Parts live in ``parts``; rendering in ``sandbox``; calls in ``execute``."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tenantry.core.errors import NotFound, PermissionDenied, ValidationFailed
from tenantry.core.pagination import PageParams, paginate
from tenantry.prompts import parts as parts_service
from tenantry.prompts.models import Prompt, PromptLabel, PromptSettings, PromptVersion
from tenantry.prompts.spec import PromptSpec, dump_yaml
from tenantry.tenancy import audit
from tenantry.tenancy.context import OrgContext
from tenantry.tenancy.models import AuditEvent
from tenantry.tenancy.permissions import Permission
from tenantry.tenancy.service import lock_org

LATEST = "latest"
DEFAULT_LABEL = "production"
LABEL_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,49}$")
DEFAULT_PROTECTED = ["production"]


def version_hash(spec: PromptSpec, pins: dict[str, int]) -> str:
    # The parts' versions are content too: re-saving after a part changed picks it up.
    body = json.dumps({"spec": spec.content_hash(), "parts": pins}, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()


async def find_prompt(session: AsyncSession, *, org_id: str, ref: str) -> Prompt:
    """A prompt by id or slug, in this organization only."""
    found = await session.scalar(
        sa.select(Prompt).where(
            Prompt.org_id == org_id, sa.or_(Prompt.slug == ref, Prompt.id == ref)
        )
    )
    if found is None:
        raise NotFound(f"There is no prompt '{ref}' in this organization.")
    return found


async def labels_of(session: AsyncSession, prompt: Prompt) -> dict[str, int]:
    rows = await session.scalars(
        sa.select(PromptLabel)
        .where(PromptLabel.org_id == prompt.org_id, PromptLabel.prompt_id == prompt.id)
        .order_by(PromptLabel.name)
    )
    out = {LATEST: prompt.latest_version}
    out.update({r.name: r.version for r in rows})
    return out


async def labels_for(session: AsyncSession, prompts: list[Prompt]) -> dict[str, dict[str, int]]:
    if not prompts:
        return {}
    out: dict[str, dict[str, int]] = {p.id: {LATEST: p.latest_version} for p in prompts}
    rows = await session.scalars(
        sa.select(PromptLabel).where(
            PromptLabel.org_id == prompts[0].org_id,
            PromptLabel.prompt_id.in_([p.id for p in prompts]),
        )
    )
    for r in rows:
        out[r.prompt_id][r.name] = r.version
    return out


def prompt_view(p: Prompt, labels: dict[str, int]) -> dict[str, Any]:
    return {
        "id": p.id,
        "slug": p.slug,
        "description": p.description,
        "tags": p.tags,
        "latest_version": p.latest_version,
        "labels": labels,
        "created_at": p.created_at,
        "updated_at": p.updated_at,
    }


def version_view(
    p: Prompt, v: PromptVersion, *, labels: dict[str, int], label: str | None = None
) -> dict[str, Any]:
    spec = PromptSpec.model_validate(v.spec)
    return {
        "id": p.id,
        "slug": p.slug,
        "version": v.number,
        "label": label,
        "labels": labels,
        "version_labels": sorted(n for n, num in labels.items() if num == v.number),
        "spec": spec.to_dict(),
        "yaml": dump_yaml(spec),
        "parts": v.parts,
        "content_hash": v.content_hash,
        "message": v.message,
        "author": v.author,
        "created_at": v.created_at,
    }


async def list_prompts(
    session: AsyncSession, *, org_id: str, params: PageParams, q: str = "", tag: str = ""
) -> tuple[list[Prompt], int]:
    stmt = sa.select(Prompt).where(Prompt.org_id == org_id).order_by(Prompt.slug)
    if q:
        like = f"%{q.lower()}%"
        stmt = stmt.where(
            sa.or_(
                sa.func.lower(Prompt.slug).like(like), sa.func.lower(Prompt.description).like(like)
            )
        )
    if tag:
        # Tags are a small JSON list; match the quoted value so "sales" does not hit "presales".
        stmt = stmt.where(sa.cast(Prompt.tags, sa.String).like(f'%"{tag}"%'))
    return await paginate(session, stmt, params)


async def get_version(session: AsyncSession, *, prompt: Prompt, number: int) -> PromptVersion:
    found = await session.scalar(
        sa.select(PromptVersion).where(
            PromptVersion.org_id == prompt.org_id,
            PromptVersion.prompt_id == prompt.id,
            PromptVersion.number == number,
        )
    )
    if found is None:
        raise NotFound(f"Prompt '{prompt.slug}' has no version {number}.")
    return found


async def resolve(
    session: AsyncSession,
    *,
    org_id: str,
    ref: str,
    label: str | None = None,
    version: int | None = None,
) -> tuple[Prompt, PromptVersion, str | None, dict[str, int]]:
    """The version a read means: an explicit number, else the label (default ``production``).
    Returns the prompt, the version, the label it was resolved through, and all labels."""
    prompt = await find_prompt(session, org_id=org_id, ref=ref)
    labels = await labels_of(session, prompt)
    if version is not None:
        if label:
            raise ValidationFailed.field("label", "give either a label or a version, not both")
        return prompt, await get_version(session, prompt=prompt, number=version), None, labels
    label = label or DEFAULT_LABEL
    if label not in labels:
        raise NotFound(
            f"Prompt '{prompt.slug}' has no version labelled '{label}' (labels: "
            f"{', '.join(sorted(labels))}). Ask for ?label=latest or a version number, "
            f"or move the '{label}' label to a version."
        )
    return prompt, await get_version(session, prompt=prompt, number=labels[label]), label, labels


async def save(
    session: AsyncSession,
    *,
    ctx: OrgContext,
    spec: PromptSpec,
    message: str = "",
    create_only: bool = False,
) -> tuple[Prompt, PromptVersion, bool]:
    """Save a prompt's content: a new version when anything changed, none otherwise.

    Refused whole (nothing written) when validation finds an error; the parts it includes are
    pinned at their current versions."""
    from tenantry.prompts.validate import validate

    if len(message) > 500:
        raise ValidationFailed.field("message", "is longer than 500 characters")
    latest_parts = await parts_service.latest(session, org_id=ctx.org.id)
    contents = {name: content for name, (_, content) in latest_parts.items()}
    problems = [p for p in validate(spec, contents) if p["severity"] == "error"]
    if problems:
        raise ValidationFailed(
            "; ".join(f"{p['where']}: {p['message']}" for p in problems),
            errors=[
                {"field": p["where"], "message": p["message"], "line": p.get("line")}
                for p in problems
            ],
        )
    await lock_org(session, ctx.org.id)  # version numbers are handed out one at a time
    pins = parts_service.pins(spec, latest_parts)
    digest = version_hash(spec, pins)
    prompt = await session.scalar(
        sa.select(Prompt).where(Prompt.org_id == ctx.org.id, Prompt.slug == spec.id)
    )
    if prompt is not None and create_only:
        raise_conflict(spec.id)
    if prompt is None:
        prompt = Prompt(org_id=ctx.org.id, slug=spec.id, latest_version=0, tags=[])
        session.add(prompt)
        await session.flush()
    else:
        current = await get_version(session, prompt=prompt, number=prompt.latest_version)
        if current.content_hash == digest:
            await session.rollback()
            await session.refresh(prompt)
            current = await get_version(session, prompt=prompt, number=prompt.latest_version)
            return prompt, current, False
    number = prompt.latest_version + 1
    version = PromptVersion(
        org_id=ctx.org.id,
        prompt_id=prompt.id,
        number=number,
        spec=spec.to_dict(),
        parts=pins,
        content_hash=digest,
        message=message.strip(),
        author_id=ctx.user.id if ctx.user else None,
        author=ctx.caller.actor_label,
    )
    session.add(version)
    prompt.latest_version = number
    prompt.description = spec.description[:2000]
    prompt.tags = list(spec.tags)
    await session.flush()
    audit.log(
        session,
        ctx,
        "prompt.version.create",
        "prompt",
        prompt.id,
        after={"slug": prompt.slug, "version": number, "message": version.message},
    )
    await session.commit()
    await session.refresh(prompt)
    await session.refresh(version)
    return prompt, version, True


def raise_conflict(slug: str):
    from tenantry.core.errors import Conflict

    raise Conflict(
        f"A prompt '{slug}' already exists; save a new version with PUT …/prompts/{slug}.",
        errors=[{"field": "id", "message": "is taken"}],
    )


async def delete_prompt(session: AsyncSession, *, ctx: OrgContext, ref: str) -> None:
    prompt = await find_prompt(session, org_id=ctx.org.id, ref=ref)
    audit.log(
        session,
        ctx,
        "prompt.delete",
        "prompt",
        prompt.id,
        before={"slug": prompt.slug, "latest_version": prompt.latest_version},
    )
    await session.delete(prompt)
    await session.commit()


async def list_versions(session: AsyncSession, *, prompt: Prompt, params: PageParams):
    stmt = (
        sa.select(PromptVersion)
        .where(PromptVersion.org_id == prompt.org_id, PromptVersion.prompt_id == prompt.id)
        .order_by(PromptVersion.number.desc())
    )
    return await paginate(session, stmt, params)


# --- labels ------------------------------------------------------------------------------------


async def protected_labels(session: AsyncSession, org_id: str) -> list[str]:
    row = await session.get(PromptSettings, org_id)
    return list(row.protected_labels) if row is not None else list(DEFAULT_PROTECTED)


async def _check_label_permission(session: AsyncSession, ctx: OrgContext, name: str) -> None:
    if name in await protected_labels(session, ctx.org.id) and not ctx.can(
        Permission.PROMPTS_ADMIN
    ):
        raise PermissionDenied(
            f"The '{name}' label is protected: moving it needs the '{Permission.PROMPTS_ADMIN}' "
            "permission (an admin). Ask an admin, or use an unprotected label such as staging."
        )


def check_label_name(name: str) -> str:
    if name == LATEST:
        raise ValidationFailed.field("label", "'latest' always points at the newest version")
    if not LABEL_RE.match(name or ""):
        raise ValidationFailed.field(
            "label", "use lowercase letters, digits, '.', '-' and '_' (up to 50)"
        )
    return name


async def check_labels(session: AsyncSession, ctx: OrgContext, names: list[str]) -> None:
    """Refuse labels a save could not apply — before the save, so nothing is half done."""
    for name in names:
        check_label_name(name)
        await _check_label_permission(session, ctx, name)


async def move_label(
    session: AsyncSession, *, ctx: OrgContext, ref: str, name: str, version: int
) -> dict[str, int]:
    """Point a label at a version (creating it if new). Rollback is this, with an older number."""
    check_label_name(name)
    await _check_label_permission(session, ctx, name)
    prompt = await find_prompt(session, org_id=ctx.org.id, ref=ref)
    await get_version(session, prompt=prompt, number=version)
    row = await session.scalar(
        sa.select(PromptLabel).where(
            PromptLabel.org_id == ctx.org.id,
            PromptLabel.prompt_id == prompt.id,
            PromptLabel.name == name,
        )
    )
    before = row.version if row is not None else None
    if row is None:
        row = PromptLabel(org_id=ctx.org.id, prompt_id=prompt.id, name=name, version=version)
        session.add(row)
    row.version = version
    row.updated_by = ctx.caller.actor_label
    if before != version:
        audit.log(
            session,
            ctx,
            "prompt.label.move",
            "prompt",
            prompt.id,
            before={"slug": prompt.slug, "label": name, "version": before},
            after={"slug": prompt.slug, "label": name, "version": version},
        )
    await session.commit()
    await session.refresh(prompt)
    return await labels_of(session, prompt)


async def delete_label(session: AsyncSession, *, ctx: OrgContext, ref: str, name: str) -> None:
    check_label_name(name)
    await _check_label_permission(session, ctx, name)
    prompt = await find_prompt(session, org_id=ctx.org.id, ref=ref)
    row = await session.scalar(
        sa.select(PromptLabel).where(
            PromptLabel.org_id == ctx.org.id,
            PromptLabel.prompt_id == prompt.id,
            PromptLabel.name == name,
        )
    )
    if row is None:
        raise NotFound(f"Prompt '{prompt.slug}' has no label '{name}'.")
    audit.log(
        session,
        ctx,
        "prompt.label.delete",
        "prompt",
        prompt.id,
        before={"slug": prompt.slug, "label": name, "version": row.version},
    )
    await session.delete(row)
    await session.commit()


async def label_history(
    session: AsyncSession, *, prompt: Prompt, params: PageParams
) -> tuple[list[dict[str, Any]], int]:
    """Every label move of a prompt, newest first, from the audit log."""
    stmt = (
        sa.select(AuditEvent)
        .where(
            AuditEvent.org_id == prompt.org_id,
            AuditEvent.object_type == "prompt",
            AuditEvent.object_id == prompt.id,
            AuditEvent.action.in_(["prompt.label.move", "prompt.label.delete"]),
        )
        .order_by(AuditEvent.created_at.desc())
    )
    events, total = await paginate(session, stmt, params)
    return [
        {
            "label": (e.after or e.before or {}).get("label"),
            "from_version": (e.before or {}).get("version"),
            "to_version": (e.after or {}).get("version"),
            "action": e.action,
            "actor": e.actor_label,
            "at": e.created_at,
        }
        for e in events
    ], total
