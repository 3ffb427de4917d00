"""Page + size pagination with a total, used by every list endpoint."""

from __future__ import annotations

import math
from typing import Generic, TypeVar

import sqlalchemy as sa
from fastapi import Query
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")
MAX_PAGE_SIZE = 200


class PageParams(BaseModel):
    page: int = 1
    size: int = 50

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size


def page_params(
    page: int = Query(1, ge=1, description="Page number, from 1"),
    size: int = Query(50, ge=1, le=MAX_PAGE_SIZE, description="Items per page"),
) -> PageParams:
    return PageParams(page=page, size=size)


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    page: int
    size: int
    pages: int


async def paginate(
    session: AsyncSession, stmt: sa.Select, params: PageParams, *, rows: bool = False
) -> tuple[list, int]:
    """Run ``stmt`` (already filtered and ordered) for one page; returns (items, total).

    Items are the first column's objects, or whole rows with ``rows=True``."""
    total = await session.scalar(
        sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())
    )
    page = stmt.limit(params.size).offset(params.offset)
    result = await session.execute(page) if rows else await session.scalars(page)
    return list(result.all()), int(total or 0)


def make_page(items: list, total: int, params: PageParams) -> dict:
    return {
        "items": items,
        "total": total,
        "page": params.page,
        "size": params.size,
        "pages": math.ceil(total / params.size) if total else 0,
    }
