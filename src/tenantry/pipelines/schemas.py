"""A pipeline's spec: what to read, how to write it, what to do when the source changes shape."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tenantry.tenancy.schemas import PageOut

IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# Source table names may be mixed case and schema-qualified in the source's own terms.
SOURCE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$ .-]{0,127}$")

Mode = Literal["table", "database", "files", "rest"]
Operator = Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in"]
Scalar = str | int | float | bool | None

# Which modes each source kind offers, in the order the UI lists them.
MODES_BY_KIND: dict[str, tuple[str, ...]] = {
    "postgres": ("table", "database"),
    "mysql": ("table", "database"),
    "sqlite": ("table", "database"),
    "duckdb": ("table", "database"),
    "files": ("files",),
    "rest_api": ("rest",),
}


def identifier(value: str, what: str = "name") -> str:
    value = value.strip()
    if not IDENTIFIER.match(value):
        raise ValueError(
            f"'{value}' is not a valid {what}: use lower-case letters, digits and _, "
            "starting with a letter or _ (at most 63)"
        )
    return value


class Incremental(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cursor_column: str = Field(min_length=1, max_length=128, title="Cursor column")
    initial_value: Scalar = Field(
        default=None, description="Rows with a cursor below this are never loaded"
    )


class RowFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    column: str = Field(min_length=1, max_length=128)
    operator: Operator
    value: Scalar | list[Scalar]

    @model_validator(mode="after")
    def _value_fits_operator(self) -> RowFilter:
        listy = self.operator in ("in", "not_in")
        if listy and not isinstance(self.value, list):
            raise ValueError(f"'{self.operator}' takes a list of values")
        if listy and not self.value:
            raise ValueError(f"'{self.operator}' needs at least one value")
        if not listy and isinstance(self.value, list):
            raise ValueError(f"'{self.operator}' takes one value, not a list")
        return self


class RetryPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(default=3, ge=1, le=10, title="Max attempts")
    backoff_seconds: float = Field(
        default=30, ge=0, le=3600, description="Wait before the 2nd attempt; doubles each time"
    )


class PipelineSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Mode
    table: str | None = Field(default=None, max_length=128, description="table mode: the table")
    tables: list[str] = Field(
        default_factory=list, description="database mode: the tables to load (empty: all)"
    )
    incremental: Incremental | None = None
    filters: list[RowFilter] = Field(default_factory=list, max_length=20)
    write_disposition: Literal["append", "replace", "merge"] = "append"
    primary_key: list[str] = Field(default_factory=list, max_length=10)
    schema_contract: Literal["evolve", "freeze", "discard_row", "discard_value"] = "evolve"
    batch_size: int = Field(default=50_000, ge=100, le=1_000_000)
    dataset: str = Field(default="raw", description="Where tables land in the destination")
    table_name: str | None = Field(default=None, description="Name of the loaded table")
    table_prefix: str = Field(default="", max_length=30, description="Prefix of loaded tables")
    retry: RetryPolicy = Field(default_factory=RetryPolicy)

    @field_validator("table")
    @classmethod
    def _table(cls, value: str | None) -> str | None:
        if value is not None and not SOURCE_NAME.match(value.strip()):
            raise ValueError(f"'{value}' is not a table name")
        return value.strip() if value else None

    @field_validator("tables")
    @classmethod
    def _tables(cls, value: list[str]) -> list[str]:
        for name in value:
            if not SOURCE_NAME.match(name):
                raise ValueError(f"'{name}' is not a table name")
        return value

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, value: str) -> str:
        return identifier(value, "dataset name")

    @field_validator("table_name")
    @classmethod
    def _table_name(cls, value: str | None) -> str | None:
        return identifier(value, "table name") if value else None

    @field_validator("table_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if value and not re.fullmatch(r"[a-z_][a-z0-9_]*", value):
            raise ValueError("use lower-case letters, digits and _, starting with a letter or _")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> PipelineSpec:
        if self.mode == "table" and not self.table:
            raise ValueError("table: choose the source table for table mode")
        if self.mode != "table":
            for field in ("incremental", "filters", "table"):
                if getattr(self, field):
                    raise ValueError(f"{field}: only applies in table mode")
        if self.mode != "database" and self.tables:
            raise ValueError("tables: only applies in database mode")
        if self.mode == "database" and self.table_name:
            raise ValueError("table_name: database mode keeps each table's own name")
        if self.write_disposition == "merge" and not self.primary_key and self.mode != "database":
            raise ValueError(
                "primary_key: merge needs a primary key to match rows; name its column(s) "
                "or choose append or replace"
            )
        return self


class PipelineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=1000)
    source_id: str = Field(min_length=1, max_length=32, title="Source connection")
    destination_id: str | None = Field(
        default=None, max_length=32, description="Empty: the organization's warehouse"
    )
    spec: PipelineSpec


class PipelinePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=1000)
    destination_id: str | None = Field(default=None, max_length=32)
    spec: dict[str, Any] | None = None  # merged over the saved spec, then validated whole


class PipelineOut(BaseModel):
    id: str
    name: str
    description: str
    source_id: str
    destination_id: str | None = Field(description="null: the organization's warehouse")
    spec: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    last_run: dict[str, Any] | None


class PipelinesPage(PageOut):
    items: list[PipelineOut]
