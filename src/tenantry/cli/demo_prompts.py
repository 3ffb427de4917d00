"""The demo organizations' prompt registry: a `local` LLM provider (an OpenAI-compatible server
such as Ollama, at TENANTRY_DEMO_LLM_BASE_URL), parts, and prompts fitting each one's data, each
with a few versions and `production`/`staging` labels on different ones.

Each step names the version it creates, so a re-run (or a run after an interrupted one) only
adds what is missing: re-running the demo creates no new versions."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from tenantry.cli.demo_prompts_content import LABELS, MESSAGES, STEPS

DEFAULT_MODEL = "llama3.1"


def demo_llm_networks(s) -> list[str]:
    """The demo LLM host's addresses as /32 (or /128) networks."""
    host = urlsplit(s.demo_llm_base_url).hostname or ""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)} if host else set()
    except (socket.gaierror, UnicodeError):
        addresses = set()
    return sorted(str(ipaddress.ip_network(a.split("%")[0])) for a in addresses)


def allowing_demo_llm(s):
    """A copy of the settings whose allowed private networks include the demo LLM host."""
    have = [n.strip() for n in (s.allowed_private_networks or "").split(",") if n.strip()]
    extra = [n for n in demo_llm_networks(s) if n not in have]
    if not extra:
        return s
    return s.model_copy(update={"allowed_private_networks": ",".join(have + extra)})


async def setup_prompts(db, s, slugs: list[str] | None = None) -> None:
    import sqlalchemy as sa
    import typer

    from tenantry.tenancy.authcache import OrgSnap
    from tenantry.tenancy.context import Caller, OrgContext
    from tenantry.tenancy.models import Organization

    allowed = allowing_demo_llm(s)
    for slug, steps in STEPS.items():
        if slugs is not None and slug not in slugs:
            continue
        async with db.session() as session:
            org = await session.scalar(sa.select(Organization).where(Organization.slug == slug))
            if org is None:
                continue
            ctx = OrgContext(org=OrgSnap.of(org), caller=Caller.system("demo"), role="owner")
            provider = await _provider(session, ctx, allowed)
            created = await _steps(session, ctx, steps)
            await _labels(session, ctx, LABELS[slug])
            what = f"{created} new version(s)" if created else "unchanged"
            typer.echo(
                f"  {slug}: prompts {what}; LLM provider '{provider}' at {s.demo_llm_base_url}"
            )


async def _provider(session, ctx, settings) -> str:
    import typer

    from tenantry.core.errors import NotFound, TenantryError
    from tenantry.llm import service as llm

    try:
        await llm.get_provider(session, org_id=ctx.org.id, provider_id="local")
        return "local"
    except NotFound:
        pass
    try:
        await llm.create_provider(
            session,
            ctx=ctx,
            settings=settings,
            data={
                "name": "local",
                "kind": "openai",
                "base_url": settings.demo_llm_base_url,
                "default_model": DEFAULT_MODEL,
                "is_default": True,
            },
        )
    except TenantryError as exc:  # e.g. a host that does not resolve: the prompts still work
        await session.rollback()
        typer.secho(f"  no demo LLM provider: {exc.detail}", fg="yellow", err=True)
        return "(none)"
    return "local"


async def _steps(session, ctx, steps) -> int:
    import sqlalchemy as sa

    from tenantry.prompts import parts, service
    from tenantry.prompts.models import Prompt, PromptPart
    from tenantry.prompts.spec import load_yaml

    created = 0
    for step in steps:
        if step[0] == "part":
            _, name, number, content = step
            latest = await session.scalar(
                sa.select(PromptPart.latest_version).where(
                    PromptPart.org_id == ctx.org.id, PromptPart.name == name
                )
            )
            if (latest or 0) >= number:
                continue
            await parts.save_part(
                session, ctx=ctx, name=name, content=content, message=f"Demo: {name} v{number}"
            )
        else:
            _, versions, number = step
            spec = load_yaml(versions[number - 1])
            latest = await session.scalar(
                sa.select(Prompt.latest_version).where(
                    Prompt.org_id == ctx.org.id, Prompt.slug == spec.id
                )
            )
            if (latest or 0) >= number:
                continue
            await service.save(session, ctx=ctx, spec=spec, message=_message(spec.id, number))
        created += 1
    return created


def _message(slug: str, number: int) -> str:
    return MESSAGES.get((slug, number), "First version")


async def _labels(session, ctx, wanted: dict[str, dict[str, int]]) -> None:
    from tenantry.prompts import service

    for slug, labels in wanted.items():
        prompt = await service.find_prompt(session, org_id=ctx.org.id, ref=slug)
        have = await service.labels_of(session, prompt)
        for name, number in labels.items():
            if name not in have:
                await service.move_label(session, ctx=ctx, ref=slug, name=name, version=number)
