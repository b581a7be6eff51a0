"""Page/limit parsing with the spec's clamping rules and the `{list, pagination}` answer shape."""

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from pymongo import ASCENDING, DESCENDING

T = TypeVar("T")


# The sort direction every list endpoint accepts (`sort`, `sortOrder`). No docstring: it would become
# the OpenAPI schema's description.
class SortOrder(StrEnum):
    asc = "asc"
    desc = "desc"

    @property
    def direction(self) -> int:
        """PyMongo's ASCENDING or DESCENDING, for a repository's `.sort()`."""
        return DESCENDING if self is SortOrder.desc else ASCENDING


class Pagination(BaseModel):
    currentPage: int
    totalPages: int
    totalItems: int
    itemsPerPage: int
    hasNextPage: bool
    hasPrevPage: bool


class Page(BaseModel, Generic[T]):
    list: list[T]
    pagination: Pagination


@dataclass(frozen=True, slots=True)
class PageParams:
    page: int
    limit: int

    @property
    def skip(self) -> int:
        return (self.page - 1) * self.limit

    def pagination(self, total: int) -> dict[str, Any]:
        pages = math.ceil(total / self.limit) if total else 0
        return {
            "currentPage": self.page,
            "totalPages": pages,
            "totalItems": total,
            "itemsPerPage": self.limit,
            "hasNextPage": self.page < pages,
            "hasPrevPage": self.page > 1,
        }

    def page_of(self, items: list[Any], total: int) -> dict[str, Any]:
        return {"list": items, "pagination": self.pagination(total)}


MAX_LIMIT = 100
# Far beyond any real page; keeps skip() within what MongoDB accepts.
MAX_PAGE = 1_000_000


async def clamped_page_params(
    page: Annotated[int, Query(description="Page number; values <= 0 are treated as 1.")] = 1,
    limit: Annotated[int, Query(description="Page size; <= 0 means 10, > 100 means 100.")] = 10,
) -> PageParams:
    """For You normalization: clamp instead of rejecting (page<=0 → 1, limit<=0 → 10, limit>100 → 100)."""
    page = min(max(page, 1), MAX_PAGE)
    limit = 10 if limit <= 0 else min(limit, MAX_LIMIT)
    return PageParams(page=page, limit=limit)


def strict_page_params(default_limit: int) -> Any:
    """Reference-page endpoints: `page >= 1`, `1 <= limit <= 100`, anything else is a 400."""

    async def dependency(
        page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = default_limit,
    ) -> PageParams:
        return PageParams(page=page, limit=limit)

    return dependency


ClampedPage = Annotated[PageParams, Depends(clamped_page_params)]
