"""Partial updates, typed: each editable entity has a frozen dataclass of the fields one may change,
every field defaulting to `UNSET` (not given), so that None can mean "clear it". The dataclass is the
one statement of what is editable; the HTTP layer's request Structs map onto it field by field."""

from __future__ import annotations

from dataclasses import fields
from enum import Enum
from typing import Any, ClassVar, Final, Protocol


class Unset(Enum):
    """The type of `UNSET`: a field of a change that was not given."""

    UNSET = "unset"

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = Unset.UNSET


class Changes(Protocol):
    """Any change dataclass."""

    __dataclass_fields__: ClassVar[dict[str, Any]]


def given(changes: Changes) -> dict[str, Any]:
    """The fields of `changes` that were given, by name, in declaration order."""
    return {f.name: value for f in fields(changes) if (value := getattr(changes, f.name)) is not UNSET}
