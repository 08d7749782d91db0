"""What every resource's wire shares: the request body base, partial updates, problems, pages,
the common field types and the query and path parameters.

Request Structs are strict (unknown fields are rejected; the app checks types without coercion).
Partial updates use `UNSET` to tell an omitted field from an explicit null; `changes()` passes on
only the fields the client sent, as the core's change dataclass. Responses are built from domain
objects by `response()` (msgspec, attribute by attribute). Each resource's own Structs live beside
its controller in `controllers/`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Generic, TypeVar

import msgspec
from litestar.params import PathParameter, QueryParameter
from msgspec import UNSET, Meta, Struct

from incidentcore.ports import Page as DomainPage
from incidentcore.ports import Paged
from incidentcore.validation import EMAIL_MAX, NAME_MAX, PASSWORD_MAX, PASSWORD_MIN

T = TypeVar("T")


MAX_ID = 2**31 - 1  # ids fit a 32-bit INTEGER column on every engine


Id = Annotated[int, Meta(ge=1, le=MAX_ID)]


Email = Annotated[str, Meta(max_length=EMAIL_MAX, examples=["ada@example.com"])]


Password = Annotated[str, Meta(min_length=PASSWORD_MIN, max_length=PASSWORD_MAX)]


Name = Annotated[str, Meta(max_length=NAME_MAX)]


class RequestBody(Struct, forbid_unknown_fields=True):
    """Base of every JSON request body."""


C = TypeVar("C")


def sent(body: Struct) -> dict[str, Any]:
    """The fields a partial update actually sent (explicit nulls included)."""
    return {name: value for name in body.__struct_fields__ if (value := getattr(body, name)) is not UNSET}


def changes(body: Struct, into: Callable[..., C]) -> C:
    """The core's change dataclass holding the fields a partial update sent; the request Struct and
    the dataclass name the same fields."""
    return into(**sent(body))


class FieldProblem(Struct):
    field: str
    message: str


class Problem(Struct, omit_defaults=True):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] | None = None
    request_id: str | None = None


class Page(Struct, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


P = TypeVar("P", bound=Page[Any])


def page_of(page_type: type[P], paged: Paged[Any], items: list[Any] | None = None) -> P:
    """The wire page of a domain page; its items converted like `response` unless `items` are given."""
    page = {"items": paged.items if items is None else items, "total": paged.total}
    converted: P = msgspec.convert(
        {**page, "limit": paged.page.limit, "offset": paged.page.offset}, page_type, from_attributes=True
    )
    return converted


S = TypeVar("S", bound=Struct)


def response(entity: object, into: type[S]) -> S:
    """The response Struct of a domain object, attribute by attribute (properties included)."""
    return msgspec.convert(entity, into, from_attributes=True)


class Message(Struct):
    message: str


Limit = Annotated[int, QueryParameter(ge=1, le=DomainPage.MAX_LIMIT, description="Page size (default 50, at most 500)")]
Offset = Annotated[int, QueryParameter(ge=0, le=MAX_ID, description="How many items to skip")]
PathId = Annotated[int, PathParameter(ge=1, le=MAX_ID)]
FilterId = Annotated[int | None, QueryParameter(ge=1, le=MAX_ID)]


def page(limit: int, offset: int) -> DomainPage:
    return DomainPage(limit=limit, offset=offset)
