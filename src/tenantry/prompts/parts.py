"""Parts: reusable snippets with their own immutable versions. A prompt version pins the part
versions it was saved with, so it renders the same forever."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tenantry.core.errors import Conflict, NotFound, ValidationFailed
from tenantry.core.pagination import PageParams, paginate
from tenantry.prompts.models import PartVersion, PromptPart, PromptVersion
from tenantry.tenancy import audit
from tenantry.tenancy.context import OrgContext
from tenantry.tenancy.service import lock_org

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")
MAX_PART_CHARS = 100_000


def part_view(p: PromptPart, v: PartVersion | None = None) -> dict[str, Any]:
    out = {
        "id": p.id,
        "name": p.name,
        "description": p.description,
        "latest_version": p.latest_version,
        "created_at": p.created_at,
        "updated_at": p.updated_at,
    }
    if v is not None:
        out |= {
            "version": v.number,
            "content": v.content,
            "message": v.message,
            "author": v.author,
            "version_created_at": v.created_at,
        }
    return out


async def find_part(session: AsyncSession, *, org_id: str, ref: str) -> PromptPart:
    found = await session.scalar(
        sa.select(PromptPart).where(
            PromptPart.org_id == org_id, sa.or_(PromptPart.name == ref, PromptPart.id == ref)
        )
    )
    if found is None:
        raise NotFound(f"There is no part '{ref}' in this organization.")
    return found


async def exists(session: AsyncSession, *, org_id: str, name: str) -> bool:
    found = await session.scalar(
        sa.select(PromptPart.id).where(PromptPart.org_id == org_id, PromptPart.name == name)
    )
    return found is not None


async def get_part_version(
    session: AsyncSession, *, part: PromptPart, number: int | None = None
) -> PartVersion:
    number = number or part.latest_version
    found = await session.scalar(
        sa.select(PartVersion).where(
            PartVersion.org_id == part.org_id,
            PartVersion.part_id == part.id,
            PartVersion.number == number,
        )
    )
    if found is None:
        raise NotFound(f"Part '{part.name}' has no version {number}.")
    return found


async def list_parts(session: AsyncSession, *, org_id: str, params: PageParams):
    stmt = sa.select(PromptPart).where(PromptPart.org_id == org_id).order_by(PromptPart.name)
    return await paginate(session, stmt, params)


async def list_part_versions(session: AsyncSession, *, part: PromptPart, params: PageParams):
    stmt = (
        sa.select(PartVersion)
        .where(PartVersion.org_id == part.org_id, PartVersion.part_id == part.id)
        .order_by(PartVersion.number.desc())
    )
    return await paginate(session, stmt, params)


async def latest(session: AsyncSession, *, org_id: str) -> dict[str, tuple[int, str]]:
    """Every part's newest version and content: what a prompt saved now would include."""
    rows = await session.execute(
        sa.select(PromptPart.name, PromptPart.latest_version, PartVersion.content)
        .join(
            PartVersion,
            sa.and_(
                PartVersion.part_id == PromptPart.id,
                PartVersion.number == PromptPart.latest_version,
            ),
        )
        .where(PromptPart.org_id == org_id)
    )
    return {name: (number, content) for name, number, content in rows.all()}


async def latest_contents(session: AsyncSession, *, org_id: str) -> dict[str, str]:
    return {name: content for name, (_, content) in (await latest(session, org_id=org_id)).items()}


def pins(spec, latest_parts: dict[str, tuple[int, str]]) -> dict[str, int]:
    """The part versions a spec saved now pins: every part it includes, transitively."""
    from tenantry.prompts.sandbox import parts_used

    used = parts_used(spec, lambda name: latest_parts.get(name, (0, None))[1])
    return {name: latest_parts[name][0] for name in sorted(used)}


async def pinned_contents(
    session: AsyncSession, *, org_id: str, pins: dict[str, int]
) -> dict[str, str]:
    """The exact part texts a prompt version was saved with."""
    if not pins:
        return {}
    rows = await session.execute(
        sa.select(PromptPart.name, PartVersion.number, PartVersion.content)
        .join(PartVersion, PartVersion.part_id == PromptPart.id)
        .where(PromptPart.org_id == org_id, PromptPart.name.in_(list(pins)))
    )
    return {name: content for name, number, content in rows.all() if pins.get(name) == number}


async def save_part(
    session: AsyncSession,
    *,
    ctx: OrgContext,
    name: str,
    content: str,
    description: str | None = None,
    message: str = "",
) -> tuple[PromptPart, PartVersion, bool]:
    """A new part version when the content changed; the description is not versioned."""
    from tenantry.prompts.validate import validate_part

    if not NAME_RE.match(name or ""):
        raise ValidationFailed.field(
            "name", "use lowercase letters, digits, '.', '-' and '_' (up to 100), e.g. house_style"
        )
    if not isinstance(content, str) or len(content) > MAX_PART_CHARS:
        raise ValidationFailed.field("content", f"must be text up to {MAX_PART_CHARS} characters")
    if len(message) > 500:
        raise ValidationFailed.field("message", "is longer than 500 characters")
    others = await latest_contents(session, org_id=ctx.org.id)
    others.pop(name, None)
    problems = [p for p in validate_part(name, content, others) if p["severity"] == "error"]
    if problems:
        raise ValidationFailed(
            "; ".join(f"content: {p['message']}" for p in problems),
            errors=[
                {"field": "content", "message": p["message"], "line": p.get("line")}
                for p in problems
            ],
        )
    await lock_org(session, ctx.org.id)
    digest = hashlib.sha256(content.encode()).hexdigest()
    part = await session.scalar(
        sa.select(PromptPart).where(PromptPart.org_id == ctx.org.id, PromptPart.name == name)
    )
    if part is None:
        part = PromptPart(org_id=ctx.org.id, name=name, latest_version=0)
        session.add(part)
        await session.flush()
    elif (await get_part_version(session, part=part)).content_hash == digest:
        if description is not None and description != part.description:
            part.description = description[:2000]
            await session.commit()
        else:
            await session.rollback()
        await session.refresh(part)
        return part, await get_part_version(session, part=part), False
    if description is not None:
        part.description = description[:2000]
    number = part.latest_version + 1
    version = PartVersion(
        org_id=ctx.org.id,
        part_id=part.id,
        number=number,
        content=content,
        content_hash=digest,
        message=message.strip(),
        author_id=ctx.user.id if ctx.user else None,
        author=ctx.caller.actor_label,
    )
    session.add(version)
    part.latest_version = number
    await session.flush()
    audit.log(
        session,
        ctx,
        "prompt_part.version.create",
        "prompt_part",
        part.id,
        after={"name": name, "version": number, "message": version.message},
    )
    await session.commit()
    await session.refresh(part)
    await session.refresh(version)
    return part, version, True


async def delete_part(session: AsyncSession, *, ctx: OrgContext, ref: str) -> None:
    """Refused while any prompt version pins it: old versions must keep rendering."""
    part = await find_part(session, org_id=ctx.org.id, ref=ref)
    rows = await session.execute(
        sa.select(PromptVersion.prompt_id, PromptVersion.number, PromptVersion.parts).where(
            PromptVersion.org_id == ctx.org.id
        )
    )
    users = [(pid, n) for pid, n, pins in rows.all() if part.name in (pins or {})]
    if users:
        from tenantry.prompts.models import Prompt

        slugs = dict(
            (
                await session.execute(
                    sa.select(Prompt.id, Prompt.slug).where(
                        Prompt.id.in_({pid for pid, _ in users})
                    )
                )
            ).all()
        )
        named = ", ".join(f"{slugs.get(pid, pid)} v{n}" for pid, n in users[:5])
        raise Conflict(
            f"Part '{part.name}' is pinned by {len(users)} prompt version(s) ({named}); "
            "they must keep rendering as saved, so it cannot be deleted."
        )
    audit.log(
        session, ctx, "prompt_part.delete", "prompt_part", part.id, before={"name": part.name}
    )
    await session.delete(part)
    await session.commit()
