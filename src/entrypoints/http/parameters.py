"""Query and path parameters shared by the controllers."""

from __future__ import annotations

from typing import Annotated

from litestar.params import PathParameter, QueryParameter

from entrypoints.http.schemas import MAX_ID
from incidentcore.ports import Page

Limit = Annotated[int, QueryParameter(ge=1, le=Page.MAX_LIMIT, description="Page size (default 50, at most 500)")]
Offset = Annotated[int, QueryParameter(ge=0, le=MAX_ID, description="How many items to skip")]
PathId = Annotated[int, PathParameter(ge=1, le=MAX_ID)]
FilterId = Annotated[int | None, QueryParameter(ge=1, le=MAX_ID)]


def page(limit: int, offset: int) -> Page:
    return Page(limit=limit, offset=offset)
