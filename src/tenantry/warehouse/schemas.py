"""Request and response bodies of the warehouse API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class QueryIn(BaseModel):
    sql: str = Field(max_length=100_000, examples=["select * from raw.orders"])
    limit: int | None = Field(default=None, ge=1, description="Rows to return (default 1000)")


class ColumnOut(BaseModel):
    name: str
    type: str


class QueryOut(BaseModel):
    columns: list[ColumnOut]
    rows: list[list[Any]]
    row_count: int
    truncated: bool = Field(description="More rows matched than the limit")
    limit: int
    sql: str = Field(description="The statement that ran, with its row limit")
    tables: list[str]
    elapsed_ms: float


class TableOut(BaseModel):
    schema_: str = Field(alias="schema")
    name: str
    columns: list[ColumnOut]

    model_config = {"populate_by_name": True, "serialize_by_alias": True}


class WarehouseIn(BaseModel):
    connection_id: str | None = Field(
        description="A PostgreSQL or DuckDB destination connection of the organization's own; "
        "null: the platform's warehouse"
    )


class WarehouseOut(BaseModel):
    kind: str = Field(description="duckdb (embedded) or postgres (a schema set and role)")
    dialect: str
    schemas: dict[str, str] | None = Field(default=None, description="postgres: raw/staging/marts")
    connection_id: str | None = Field(
        default=None, description="Set when the warehouse is the organization's own database"
    )
    tables: list[TableOut]
