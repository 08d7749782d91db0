"""Rows to entities and back, from outside the core: the domain never learns a table exists.

The column types convert values (enums, JSON documents, UTC times; see `tables`), so an entity whose
attributes are named as its table's columns maps by name alone: `values` reads a column from the
attribute of its name (a stored property, such as `Notification.destination`, included), `from_row`
fills each dataclass field from the column of its name. Only an incident differs from its row: its
escalation state and policy snapshot are flattened into columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import fields
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Table

from adapters.sql.tables import incidents
from incidentcore.escalation import EscalationState
from incidentcore.model import Incident

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Values = dict[str, Any]
Columns = Mapping[Any, Any]  # a row's values by column name: SQLAlchemy's RowMapping, or a dict
E = TypeVar("E", bound="DataclassInstance")


def values(table: Table, entity: object, columns: Iterable[str] | None = None, **given: Any) -> Values:
    """The entity's values of `columns` (default: every column but the generated id), by attribute
    name; `given` supplies the columns no attribute is named after."""
    names = columns if columns is not None else [c.key for c in table.c if c.key != "id"]
    return {name: given[name] if name in given else getattr(entity, name) for name in names}


def from_row(entity_type: type[E], columns: Columns, **given: Any) -> E:
    """An entity from its row's columns, each field from the column of its name; `given` for the rest."""
    names = [f.name for f in fields(entity_type) if f.init]
    return entity_type(**{name: given[name] if name in given else columns[name] for name in names})


# Columns an incident is born with and never changes; a fenced update leaves them alone.
INCIDENT_IMMUTABLE_COLUMNS = frozenset(
    {"created_at", "created_by_id", "source", "integration_id", "dedup_key", "heartbeat_id"}
)


# Where an incident's escalation state is stored: its fields by column, and the columns' values while
# the incident has no state (not triggered yet).
_STATE_FIELDS = {
    "esc_phase": "phase",
    "esc_cycle": "cycle",
    "esc_next_step": "next_step",
    "esc_loop": "loop",
    "next_escalation_at": "next_at",
    "escalation_level": "last_fired_step",  # the last step fired
}
_NO_STATE = dict.fromkeys(_STATE_FIELDS) | {"esc_cycle": 0, "esc_next_step": 0, "esc_loop": 0}


def incident_values(incident: Incident) -> Values:
    """`status` is derived from the escalation phase; it is stored so lists can filter on it."""
    state = incident.escalation
    stored_state = (
        {column: getattr(state, name) for column, name in _STATE_FIELDS.items()} if state else _NO_STATE
    )
    policy = incident.policy
    return values(
        incidents, incident, escalation_policy_id=policy.policy_id, policy_snapshot=policy, **stored_state
    )


def incident_from_row(columns: Columns) -> Incident:
    state = None
    if columns["esc_phase"] is not None:
        state = EscalationState(**{name: columns[column] for column, name in _STATE_FIELDS.items()})
    return from_row(Incident, columns, policy=columns["policy_snapshot"], escalation=state)
