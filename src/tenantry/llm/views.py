"""JSON API: an organization's LLM providers (keys write-only) and model prices."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, ConfigDict, Field

from tenantry.core.secrets import Secret
from tenantry.llm import service
from tenantry.llm.types import PROVIDER_KINDS
from tenantry.tenancy.context import OrgContext
from tenantry.tenancy.deps import db_session, requires, settings_of
from tenantry.tenancy.permissions import Permission as P

router = APIRouter(prefix="/api/v1/orgs/{org}/llm", tags=["LLM providers"])


class ProviderIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str | None = Field(default=None, description="e.g. openai, anthropic, local")
    kind: str | None = Field(default=None, description=f"One of {', '.join(PROVIDER_KINDS)}")
    base_url: str | None = Field(
        default=None,
        description="OpenAI-compatible servers (Azure, Ollama, vLLM, LM Studio): their URL, "
        "e.g. http://localhost:11434/v1. Empty: the provider's public API.",
    )
    api_key: Secret | None = Field(default=None, description="Write-only; omit to keep")
    headers: dict[str, str] | None = Field(
        default=None, description="Extra request headers (write-only, like the key)"
    )
    default_model: str | None = None
    is_default: bool | None = Field(default=None, description="The organization's default")
    timeout_seconds: float | None = Field(default=None, gt=0, le=600)
    api_version: str | None = Field(
        default=None, description="Azure OpenAI api-version, or Anthropic's version header"
    )

    def data(self) -> dict:
        out = self.model_dump(exclude_unset=True)
        if self.api_key is not None:
            out["api_key"] = self.api_key.get_secret_value()
        return out


class PriceIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    model: str
    input_per_mtok: float = Field(ge=0, le=1_000_000, description="USD per 1M input tokens")
    output_per_mtok: float = Field(ge=0, le=1_000_000, description="USD per 1M output tokens")


@router.get("/providers")
async def list_providers(ctx: OrgContext = requires(P.PROMPTS_READ), session=Depends(db_session)):
    """Configured providers; keys are never returned (shown as ******** when set)."""
    rows = await service.list_providers(session, org_id=ctx.org.id)
    return {"items": [service.provider_view(p) for p in rows], "kinds": list(PROVIDER_KINDS)}


@router.post("/providers", status_code=201)
async def create_provider(
    body: ProviderIn,
    ctx: OrgContext = requires(P.LLM_MANAGE),
    settings=Depends(settings_of),
    session=Depends(db_session),
):
    p = await service.create_provider(session, ctx=ctx, data=body.data(), settings=settings)
    return jsonable_encoder(service.provider_view(p))


@router.get("/providers/{provider_id}")
async def get_provider(
    provider_id: str, ctx: OrgContext = requires(P.PROMPTS_READ), session=Depends(db_session)
):
    p = await service.get_provider(session, org_id=ctx.org.id, provider_id=provider_id)
    return service.provider_view(p)


@router.patch("/providers/{provider_id}")
async def update_provider(
    provider_id: str,
    body: ProviderIn,
    ctx: OrgContext = requires(P.LLM_MANAGE),
    settings=Depends(settings_of),
    session=Depends(db_session),
):
    """Change what is sent; an omitted key keeps the stored one."""
    p = await service.update_provider(
        session, ctx=ctx, provider_id=provider_id, data=body.data(), settings=settings
    )
    return jsonable_encoder(service.provider_view(p))


@router.delete("/providers/{provider_id}", status_code=204)
async def delete_provider(
    provider_id: str, ctx: OrgContext = requires(P.LLM_MANAGE), session=Depends(db_session)
):
    await service.delete_provider(session, ctx=ctx, provider_id=provider_id)


@router.post("/providers/{provider_id}/test")
async def test_provider(
    provider_id: str,
    ctx: OrgContext = requires(P.LLM_MANAGE),
    settings=Depends(settings_of),
    session=Depends(db_session),
):
    """Reach the provider with the stored URL and key (lists its models); nothing is billed."""
    return await service.test_provider(session, ctx=ctx, provider_id=provider_id, settings=settings)


@router.get("/prices")
async def list_prices(ctx: OrgContext = requires(P.PROMPTS_READ), session=Depends(db_session)):
    """Prices used for costs: the organization's own first, then the shipped list (USD/1M)."""
    return {"items": await service.list_prices(session, org_id=ctx.org.id)}


@router.put("/prices")
async def set_price(
    body: PriceIn, ctx: OrgContext = requires(P.LLM_MANAGE), session=Depends(db_session)
):
    """Set this organization's price for a model (overrides the shipped one)."""
    row = await service.set_price(
        session,
        ctx=ctx,
        model=body.model,
        input_per_mtok=body.input_per_mtok,
        output_per_mtok=body.output_per_mtok,
    )
    return {
        "id": row.id,
        "model": row.model,
        "input_per_mtok": row.input_per_mtok,
        "output_per_mtok": row.output_per_mtok,
        "source": "organization",
    }


@router.delete("/prices/{price_id}", status_code=204)
async def delete_price(
    price_id: str, ctx: OrgContext = requires(P.LLM_MANAGE), session=Depends(db_session)
):
    await service.delete_price(session, ctx=ctx, price_id=price_id)
