"""Render a stored prompt version: resolve it, coerce the inputs, include its pinned parts.

Versions never change, so a resolved version (its spec parsed, its parts loaded) is kept in a
small in-process LRU keyed by the version's row id: only the label lookup hits the database."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tenantry.core.config import Settings
from tenantry.prompts import parts as parts_service
from tenantry.prompts import service
from tenantry.prompts.inputs import coerce_inputs
from tenantry.prompts.sandbox import Rendered, render
from tenantry.prompts.spec import PromptSpec

_CACHE_SIZE = 512
_versions: OrderedDict[str, tuple[PromptSpec, dict[str, str]]] = OrderedDict()


@dataclass
class Found:
    prompt_id: str
    slug: str
    version: int
    label: str | None
    spec: PromptSpec
    parts: dict[str, str]
    inputs: dict[str, Any]
    rendered: Rendered


async def load_version(session: AsyncSession, *, org_id: str, version) -> tuple[PromptSpec, dict]:
    hit = _versions.get(version.id)
    if hit is not None:
        _versions.move_to_end(version.id)
        return hit
    spec = PromptSpec.model_validate(version.spec)
    contents = await parts_service.pinned_contents(session, org_id=org_id, pins=version.parts)
    _versions[version.id] = (spec, contents)
    while len(_versions) > _CACHE_SIZE:
        _versions.popitem(last=False)
    return spec, contents


async def render_off_loop(
    settings: Settings, spec: PromptSpec, inputs: dict[str, Any], parts: dict[str, str]
) -> Rendered:
    """Render in a worker thread, within the configured limits: a render may run up to its
    time limit, and no other request should wait for it."""
    return await asyncio.to_thread(
        render,
        spec,
        inputs,
        parts,
        max_chars=settings.prompt_render_max_chars,
        timeout_seconds=settings.prompt_render_timeout_seconds,
    )


async def render_stored(
    session: AsyncSession,
    settings: Settings,
    *,
    org_id: str,
    ref: str,
    label: str | None,
    version: int | None,
    inputs: dict[str, Any],
) -> Found:
    prompt, row, resolved_label, _ = await service.resolve(
        session, org_id=org_id, ref=ref, label=label, version=version
    )
    spec, contents = await load_version(session, org_id=org_id, version=row)
    coerced = coerce_inputs(spec.inputs, inputs or {})
    rendered = await render_off_loop(settings, spec, coerced, contents)
    return Found(
        prompt_id=prompt.id,
        slug=prompt.slug,
        version=row.number,
        label=resolved_label,
        spec=spec,
        parts=contents,
        inputs=coerced,
        rendered=rendered,
    )
