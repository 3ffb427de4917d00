"""A transformation's spec: how dbt materializes it, where, and what it promises (tests)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tenantry.pipelines.schemas import identifier
from tenantry.tenancy.schemas import PageOut

Materialization = Literal["view", "table", "incremental", "ephemeral"]
Strategy = Literal["append", "merge", "delete+insert"]
TestKind = Literal["not_null", "unique", "accepted_values", "relationships"]
Period = Literal["minute", "hour", "day"]
TARGET_SCHEMAS = ("staging", "marts")


class ColumnTest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: TestKind
    values: list[str | int | float | bool] | None = Field(
        default=None, description="accepted_values: the values a column may hold"
    )
    to: str | None = Field(default=None, description="relationships: the model it refers to")
    field: str | None = Field(default=None, description="relationships: the column there")
    severity: Literal["error", "warn"] = "error"

    @model_validator(mode="after")
    def _arguments_fit(self) -> ColumnTest:
        if self.type == "accepted_values" and not self.values:
            raise ValueError("accepted_values needs 'values': the list of accepted values")
        if self.type == "relationships" and not (self.to and self.field):
            raise ValueError("relationships needs 'to' (a model name) and 'field' (its column)")
        if self.type != "accepted_values" and self.values is not None:
            raise ValueError(f"'values' belongs to accepted_values, not {self.type}")
        return self


class Column(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128)
    description: str = Field(default="", max_length=2000)
    tests: list[ColumnTest] = Field(default_factory=list)


class Snapshot(BaseModel):
    model_config = ConfigDict(extra="forbid")

    strategy: Literal["timestamp", "check"] = "timestamp"
    updated_at: str | None = Field(default=None, description="timestamp: the column that changes")
    check_cols: list[str] | Literal["all"] | None = Field(
        default=None, description="check: the columns compared, or 'all'"
    )

    @model_validator(mode="after")
    def _strategy_fits(self) -> Snapshot:
        if self.strategy == "timestamp" and not self.updated_at:
            raise ValueError("the timestamp strategy needs 'updated_at': the column that changes")
        if self.strategy == "check" and not self.check_cols:
            raise ValueError("the check strategy needs 'check_cols': a list of columns or 'all'")
        return self


class TransformSpec(BaseModel):
    materialization: Materialization = "view"
    schema_: Literal["staging", "marts"] = Field(default="staging", alias="schema")
    unique_key: list[str] = Field(default_factory=list, description="incremental and snapshots")
    incremental_strategy: Strategy | None = None
    tags: list[str] = Field(default_factory=list)
    columns: list[Column] = Field(default_factory=list)
    snapshot: Snapshot | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: list[str]) -> list[str]:
        return [identifier(t, "tag") for t in dict.fromkeys(t.strip() for t in tags)]

    @field_validator("unique_key")
    @classmethod
    def _keys(cls, keys: list[str]) -> list[str]:
        return [k.strip() for k in keys if k.strip()]

    @field_validator("columns")
    @classmethod
    def _columns_unique(cls, columns: list[Column]) -> list[Column]:
        seen: set[str] = set()
        for c in columns:
            if c.name in seen:
                raise ValueError(f"column '{c.name}' is listed twice")
            seen.add(c.name)
        return columns

    @model_validator(mode="after")
    def _incremental(self) -> TransformSpec:
        if self.materialization != "incremental" and self.incremental_strategy:
            raise ValueError("incremental_strategy applies only to incremental models")
        if self.incremental_strategy in ("merge", "delete+insert") and not self.unique_key:
            raise ValueError(
                f"unique_key: the {self.incremental_strategy} strategy needs a unique key"
            )
        return self

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


Kind = Literal["model", "snapshot"]


class TransformIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="The dbt model name other models ref()")
    kind: Kind = "model"
    sql: str = Field(min_length=1, max_length=200_000)
    description: str = Field(default="", max_length=2000)
    spec: TransformSpec = Field(default_factory=TransformSpec)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return identifier(v, "model name")

    @model_validator(mode="after")
    def _snapshot(self) -> TransformIn:
        check_kind(self.kind, self.spec)
        return self


def check_kind(kind: str, spec: TransformSpec) -> None:
    if kind == "snapshot":
        if spec.snapshot is None:
            raise ValueError("spec.snapshot: a snapshot needs its strategy (timestamp or check)")
        if not spec.unique_key:
            raise ValueError("spec.unique_key: a snapshot needs the key that identifies a row")
    elif spec.snapshot is not None:
        raise ValueError("spec.snapshot: applies only to transformations of kind snapshot")


class TransformPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    sql: str | None = Field(default=None, min_length=1, max_length=200_000)
    description: str | None = Field(default=None, max_length=2000)
    spec: TransformSpec | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        return identifier(v, "model name") if v is not None else v


class TransformOut(BaseModel):
    id: str
    name: str
    kind: str
    sql: str
    description: str
    spec: dict[str, Any]
    depends_on: dict[str, list[str]] = Field(
        default_factory=dict, description="refs and sources found in the SQL"
    )
    last_run: dict[str, Any] | None = None
    created_at: datetime
    updated_at: datetime


class TransformPage(PageOut):
    items: list[TransformOut]


class Freshness(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int = Field(ge=1, le=10_000)
    period: Period


class SourceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = Field(default="", max_length=2000)
    loaded_at_field: str | None = Field(
        default=None, max_length=300, description="Defaults to the time dlt loaded each row"
    )
    warn_after: Freshness | None = None
    error_after: Freshness | None = None


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    command: Literal["build", "run", "test", "snapshot", "freshness"] = "build"
    select: str | None = Field(
        default=None, max_length=1000, description="dbt node selection; all when empty"
    )


class PreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sql: str | None = Field(default=None, description="Unsaved SQL to preview instead")
    limit: int = Field(default=100, ge=1, le=10_000)
