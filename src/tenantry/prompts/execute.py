"""Execute a prompt: render it, reserve quota, call the provider, settle, record.

Everything that can be refused (unknown prompt, bad inputs, no provider, quota) is refused
before the call and before any streamed byte, so a client gets a plain JSON error. Once the
provider is called, the outcome — success or failure — is always recorded as an execution.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tenantry.core.config import Settings
from tenantry.core.db import Database
from tenantry.core.errors import TenantryError, ValidationFailed
from tenantry.llm import pricing
from tenantry.llm import service as llm
from tenantry.llm.errors import ProviderError
from tenantry.llm.types import ChatRequest, ChatResponse, Message, Tool, Usage
from tenantry.prompts import executions, quotas, rendering
from tenantry.prompts.spec import PromptSpec
from tenantry.tenancy.context import OrgContext

log = logging.getLogger("tenantry.prompts")

_KNOWN = {"provider", "model", "temperature", "max_tokens", "top_p", "stop"}


@dataclass
class ExecuteOptions:
    inputs: dict[str, Any] = field(default_factory=dict)
    label: str | None = None
    version: int | None = None
    model: dict[str, Any] = field(default_factory=dict)  # override: provider, model, temperature…
    store_inputs: bool | None = None


@dataclass
class Prepared:
    org_id: str
    caller: str
    prompt_id: str
    slug: str
    version: int
    label: str | None
    inputs: dict[str, Any] | None  # None: not to be stored
    request: ChatRequest
    provider: Any  # LLMProvider row
    price: pricing.Price | None
    reservation: quotas.Reservation | None = None
    settled: bool = False  # set (before any await) by the one _finish that records it


def _chat_request(spec: PromptSpec, rendered, model_cfg: dict[str, Any], settings) -> ChatRequest:
    if rendered.messages is not None:
        messages = [Message(role=m["role"], content=m["content"]) for m in rendered.messages]
    else:
        messages = [Message(role="user", content=rendered.text or "")]
    extra = {k: v for k, v in model_cfg.items() if k not in _KNOWN and v is not None}
    return ChatRequest(
        model=model_cfg["model"],
        messages=messages,
        tools=[Tool(t.name, t.description, t.parameters) for t in spec.tools],
        temperature=model_cfg.get("temperature"),
        max_tokens=model_cfg.get("max_tokens") or settings.prompt_default_max_tokens,
        top_p=model_cfg.get("top_p"),
        stop=model_cfg.get("stop"),
        extra=extra,
    )


async def prepare(
    session: AsyncSession,
    db: Database,
    settings: Settings,
    *,
    ctx: OrgContext,
    ref: str,
    options: ExecuteOptions,
) -> Prepared:
    found = await rendering.render_stored(
        session,
        settings,
        org_id=ctx.org.id,
        ref=ref,
        label=options.label,
        version=options.version,
        inputs=options.inputs,
    )
    spec: PromptSpec = found.spec
    override = {k: v for k, v in (options.model or {}).items() if v is not None}
    unknown = set(override) - _KNOWN
    if unknown:
        raise ValidationFailed.field(
            f"model.{sorted(unknown)[0]}", f"can override only {', '.join(sorted(_KNOWN))}"
        )
    model_cfg = spec.model.model_dump(exclude_none=True) | override
    provider = await llm.resolve_provider(
        session, org_id=ctx.org.id, name=model_cfg.get("provider")
    )
    model_cfg["model"] = model_cfg.get("model") or provider.default_model
    if not model_cfg["model"]:
        raise ValidationFailed.field(
            "model.model",
            f"name a model: the prompt sets none and provider '{provider.name}' has no default",
        )
    request = _chat_request(spec, found.rendered, model_cfg, settings)
    price = await llm.price_for(session, org_id=ctx.org.id, model=request.model)
    limits = await quotas.settings_row(session, ctx.org.id)
    store = options.store_inputs if options.store_inputs is not None else limits.store_inputs
    prepared = Prepared(
        org_id=ctx.org.id,
        caller=ctx.caller.actor_label,
        prompt_id=found.prompt_id,
        slug=found.slug,
        version=found.version,
        label=found.label,
        inputs=found.inputs if store is not False else None,
        request=request,
        provider=provider,
        price=price,
    )
    texts = [m.content or "" for m in request.messages]
    texts += [json.dumps(t.parameters) + t.name + t.description for t in request.tools]
    tokens = quotas.estimate_tokens(texts) + (request.max_tokens or 0)
    reserved_usage = Usage(quotas.estimate_tokens(texts), request.max_tokens or 0)
    micros = pricing.cost_micros(reserved_usage, price) or 0
    if price is None and limits.monthly_spend_limit_micros is not None:
        # A spend limit cannot hold a call whose cost is unknown: refuse rather than guess.
        raise ValidationFailed.field(
            "model.model",
            f"there is no price for '{request.model}', and this organization has a spend limit; "
            "an admin can set its price under LLM providers → Prices",
        )
    await session.commit()  # end the read transaction before holding quota
    # A call cannot outlive its attempts; a hold older than that belongs to a dead process.
    timeout = float((provider.options or {}).get("timeout_seconds") or settings.llm_timeout_seconds)
    stale_after = timeout * (settings.llm_max_retries + 1) * 2 + 300
    prepared.reservation = await quotas.reserve(
        db, org_id=ctx.org.id, tokens=tokens, micros=micros, stale_after=stale_after
    )
    return prepared


def _tool_calls(response: ChatResponse | None) -> list[dict[str, Any]]:
    if response is None:
        return []
    return [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in response.tool_calls]


async def _finish(
    db: Database,
    settings: Settings,
    p: Prepared,
    *,
    response: ChatResponse | None,
    error: TenantryError | None,
    started: float,
    streamed: bool,
    partial_text: str = "",
) -> dict[str, Any]:
    p.settled = True
    usage = response.usage if response is not None else Usage()
    cost = pricing.cost_micros(usage, p.price) if response is not None else None
    if p.reservation is not None:
        await quotas.settle(db, p.reservation, tokens_used=usage.total_tokens, micros_used=cost)
    async with db.session() as session:
        execution = await executions.record(
            session,
            org_id=p.org_id,
            prompt_id=p.prompt_id,
            prompt_slug=p.slug,
            version=p.version,
            label=p.label,
            inputs=p.inputs,
            output=response.text if response is not None else partial_text,
            tool_calls=_tool_calls(response),
            finish_reason=response.finish_reason if response is not None else "",
            provider=p.provider.name,
            model=(response.model if response is not None and response.model else p.request.model),
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost_micros=cost,
            latency_ms=round((time.monotonic() - started) * 1000),
            status="succeeded" if error is None else "failed",
            error=(error.detail if error is not None else "")[:2000],
            streamed=streamed,
            caller=p.caller,
        )
        view = executions.execution_view(execution)
        try:
            await executions.purge_old(
                session, org_id=p.org_id, default_days=settings.prompt_execution_retention_days
            )
        except Exception:  # trimming is housekeeping: never fail a call over it
            log.exception("could not trim old executions")
    return view


def _unexpected(p: Prepared, exc: BaseException) -> ProviderError:
    """A failure no adapter anticipated (a malformed reply, a bug): a clear 502, logged."""
    log.error("execution via %s failed unexpectedly", p.provider.name, exc_info=exc)
    return ProviderError(
        f"The call to provider '{p.provider.name}' failed unexpectedly "
        f"({type(exc).__name__}); the reply could not be used.",
        provider=p.provider.name,
    )


async def release(db: Database, settings: Settings, p: Prepared, reason: str) -> None:
    """Record and settle an execution that never finished (the client left before it began
    or while it ran). Does nothing if it already settled."""
    if p.settled:
        return
    await asyncio.shield(
        _finish(
            db,
            settings,
            p,
            response=None,
            error=TenantryError(reason),
            started=time.monotonic(),
            streamed=True,
        )
    )


async def run(db: Database, settings: Settings, p: Prepared) -> dict[str, Any]:
    """Call and wait. A provider failure is recorded, then raised with the execution's id."""
    started = time.monotonic()
    client = None
    error: TenantryError | None = None
    try:
        client = await llm.client_for(p.provider, settings)
        response = await client.chat(p.request)
    except TenantryError as exc:
        error = exc
    except Exception as exc:
        error = _unexpected(p, exc)
    except BaseException:  # cancelled: the hold is given back and the attempt recorded
        await release(db, settings, p, "The request was cancelled before the answer came.")
        raise
    finally:
        if client is not None:
            await client.aclose()
    if error is not None:
        view = await _finish(
            db, settings, p, response=None, error=error, started=started, streamed=False
        )
        error.extra["execution_id"] = view["id"]
        raise error
    return await _finish(
        db, settings, p, response=response, error=None, started=started, streamed=False
    )


async def stream(db: Database, settings: Settings, p: Prepared) -> AsyncIterator[dict[str, Any]]:
    """Server-sent events: ``start``, ``text`` and ``tool_call`` deltas, then ``done`` with the
    recorded execution — or ``error`` (also recorded). However the stream ends — the client
    leaving at any point included — the quota hold is settled exactly once."""
    started = time.monotonic()
    client = None
    text: list[str] = []
    response: ChatResponse | None = None
    error: TenantryError | None = None
    try:
        yield {
            "event": "start",
            "data": {
                "prompt": p.slug,
                "version": p.version,
                "label": p.label,
                "provider": p.provider.name,
                "model": p.request.model,
            },
        }
        client = await llm.client_for(p.provider, settings)
        async for ev in client.stream(p.request):
            if ev.type == "text" and ev.text:
                text.append(ev.text)
                yield {"event": "text", "data": {"text": ev.text}}
            elif ev.type == "tool_call":
                yield {
                    "event": "tool_call",
                    "data": {
                        "index": ev.index,
                        "id": ev.id,
                        "name": ev.name,
                        "arguments": ev.arguments,
                    },
                }
            elif ev.type == "done":
                response = ev.response
    except TenantryError as exc:
        error = exc
    except (GeneratorExit, asyncio.CancelledError):
        # The client went away: give the hold back and record what was said so far.
        if client is not None:
            await client.aclose()
            client = None
        if not p.settled:
            gone = TenantryError("The client disconnected before the answer finished.")
            await asyncio.shield(
                _finish(
                    db,
                    settings,
                    p,
                    response=None,
                    error=gone,
                    started=started,
                    streamed=True,
                    partial_text="".join(text),
                )
            )
        raise
    except Exception as exc:
        error = _unexpected(p, exc)
    finally:
        if client is not None:
            await client.aclose()
    if p.settled:
        return
    if error is None and response is None:
        error = ProviderError(
            f"Provider '{p.provider.name}' ended its stream without a final message.",
            provider=p.provider.name,
        )
    view = await _finish(
        db,
        settings,
        p,
        response=response if error is None else None,
        error=error,
        started=started,
        streamed=True,
        partial_text="".join(text),
    )
    if error is not None:
        yield {"event": "error", "data": error.problem() | {"execution_id": view["id"]}}
    else:
        yield {"event": "done", "data": view}
