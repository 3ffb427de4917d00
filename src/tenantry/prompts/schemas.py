"""Request bodies of the prompt registry's API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tenantry.core.errors import ValidationFailed
from tenantry.prompts.spec import PromptSpec, load_dict, load_yaml

MAX_VERSION = 2**31 - 1


class PromptIn(BaseModel):
    """A prompt's content as YAML text or as the spec object (one of the two)."""

    model_config = ConfigDict(extra="forbid")

    yaml: str | None = Field(default=None, description="The prompt as YAML")
    spec: dict[str, Any] | None = Field(default=None, description="The prompt as an object")
    message: str = Field(default="", max_length=500, description="What changed, for the history")
    labels: list[str] = Field(
        default_factory=list, description="Labels to point at the saved version (e.g. staging)"
    )

    def parsed(self, slug: str | None = None) -> PromptSpec:
        if (self.yaml is None) == (self.spec is None):
            raise ValidationFailed.field("yaml", "send the prompt as either `yaml` or `spec`")
        if self.yaml is not None:
            spec = load_yaml(self.yaml)
        else:
            data = dict(self.spec or {})
            if slug and "id" not in data:
                data["id"] = slug
            spec = load_dict(data)
        if slug and spec.id != slug:
            raise ValidationFailed.field(
                "id", f"is '{spec.id}' but the URL names '{slug}'; they must match"
            )
        return spec


class ValidateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    yaml: str


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    yaml: str
    inputs: dict[str, Any] = Field(default_factory=dict)


class RenderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    inputs: dict[str, Any] = Field(default_factory=dict)
    label: str | None = Field(default=None, description="Default: production")
    version: int | None = Field(default=None, ge=1, le=MAX_VERSION)


class ModelOverride(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    provider: str | None = None
    model: str | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, gt=0, le=10_000_000)
    top_p: float | None = Field(default=None, ge=0, le=1)
    stop: list[str] | None = None


class ExecuteIn(RenderIn):
    model: ModelOverride | None = None
    stream: bool = Field(default=False, description="Answer as server-sent events")
    store_inputs: bool | None = Field(
        default=None, description="false: do not keep the inputs in the execution log"
    )


class LabelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(
        default=None, ge=1, le=MAX_VERSION, description="The version the label points at"
    )


class PartIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, description="Only when creating")
    content: str | None = None
    description: str | None = Field(default=None, max_length=2000)
    message: str = Field(default="", max_length=500)


class SettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    monthly_token_limit: int | None = Field(default=None, ge=0, le=10**15)
    monthly_spend_limit_usd: float | None = Field(default=None, ge=0, le=1_000_000_000)
    protected_labels: list[str] | None = None
    store_inputs: bool | None = None
    retention_days: int | None = Field(default=None, ge=1, le=36500)
