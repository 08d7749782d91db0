"""Maintenance windows: while one covers an integration, its new alerts open no incident and page
nobody; each is kept as a `SuppressedAlert` of the window instead.

A window covers an integration it lists, and every integration of its team, over the half-open
interval [start, end). It silences new alerts, not running incidents: an incident already open keeps
escalating and still takes its tool's repeats, acknowledgements and resolutions.

What a window covered is history: a window that has ended no longer changes (but for its
description), a window that has started keeps its start, and ending it early means moving its end
to now (an end already past is read as now, so the record says when it really stopped).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from incidentcore.changes import UNSET, Unset, given
from incidentcore.errors import FieldError, InvalidTransition, ValidationFailed
from incidentcore.model import Integration, Severity
from incidentcore.schedules import EARLIEST, LATEST
from incidentcore.validation import NOTE_MAX, check_text

__all__ = ["MaintenanceWindow", "MaintenanceWindowChanges", "SuppressedAlert", "covering"]


@dataclass
class MaintenanceWindow:
    """From `start` to `end` (instants, half-open), alerts of the integrations in `integration_ids`
    and of every integration of `team_id` are suppressed (see `covers`)."""

    description: str
    start: datetime
    end: datetime
    team_id: int | None = None
    integration_ids: tuple[int, ...] = ()  # sorted, without repeats (see `validate`)
    created_by_id: int | None = None
    created_at: datetime | None = None
    id: int = 0

    MAX_INTEGRATIONS = 100

    def covers(self, team_id: int | None, integration_id: int | None, at: datetime) -> bool:
        """Whether alerts of `integration_id` (of team `team_id`) are suppressed at `at`: the window is
        on at `at` and lists the integration or is its team's. With `integration_id` None, whether it
        covers the team as a whole (a team-wide window does; one that lists integrations does not)."""
        if not self.is_active(at):
            return False
        listed = integration_id is not None and integration_id in self.integration_ids
        return listed or (self.team_id is not None and self.team_id == team_id)

    def is_active(self, at: datetime) -> bool:
        """Whether `at` is in [start, end)."""
        return self.start <= at < self.end

    def teams_silenced(self, integrations: Iterable[Integration]) -> frozenset[int]:
        """The teams whose alerts the window silences: its own, and those of `integrations` (the
        integrations it lists). Whoever manages the window needs the right in each."""
        teams = {integration.team_id for integration in integrations}
        if self.team_id is not None:
            teams.add(self.team_id)
        return frozenset(teams)

    def validate(self, now: datetime) -> None:
        """Raises `ValidationFailed` naming every bad field: a blank or overlong description, an instant
        without an offset or out of range, an end not after the start or not after `now`, a window that
        covers nothing, too many integrations. Puts `integration_ids` in order without repeats and the
        instants in UTC."""
        errors = _window_errors(self)
        if not errors and self.end <= now:
            errors.append(
                FieldError("end", "must be in the future: a window that has ended cannot be created")
            )
        if errors:
            raise ValidationFailed(errors)
        self._normalise()

    def changed(self, changes: MaintenanceWindowChanges, now: datetime) -> MaintenanceWindow:
        """The window with `changes` applied at `now`, checked: what it covered before `now` stays.

        - Ended (its end at or before `now`): only the description may change; anything else is
          InvalidTransition.
        - Started (its start before `now`): its start may not move (InvalidTransition); an end at or
          before `now` ends it now (`end` becomes `now`): that is how a window is ended early.
        - Not started yet: checked as a new window (`validate`).
        """
        edits = given(changes)
        if "integration_ids" in edits:
            edits["integration_ids"] = tuple(edits["integration_ids"])
        updated = replace(self, **edits)
        if self.start >= now:  # not started: as good as new
            updated.validate(now)
            return updated
        moved = [
            name for name in ("start", "end", "team_id", "integration_ids") if _differs(self, updated, name)
        ]
        if self.end <= now:
            if moved:
                raise InvalidTransition(
                    f"the window ended at {self.end.isoformat()}: only its description may change "
                    f"(not {', '.join(moved)})"
                )
            check_text("description", updated.description, NOTE_MAX, required=True, multiline=True)
            return updated
        if "start" in moved:
            raise InvalidTransition(
                f"the window started at {self.start.isoformat()}: its start cannot change "
                "(to end it early, set its end)"
            )
        if updated.end.utcoffset() is not None and updated.end < now:
            updated.end = now  # ended early: it ran until now, whatever earlier instant was sent
        errors = _window_errors(updated)
        if errors:
            raise ValidationFailed(errors)
        updated._normalise()
        return updated

    def _normalise(self) -> None:
        self.start = self.start.astimezone(UTC)
        self.end = self.end.astimezone(UTC)
        self.integration_ids = tuple(sorted(set(self.integration_ids)))


@dataclass(frozen=True)
class MaintenanceWindowChanges:
    """What may be edited on a maintenance window (see `MaintenanceWindow.changed` for when)."""

    description: str | Unset = UNSET
    start: datetime | Unset = UNSET
    end: datetime | Unset = UNSET
    team_id: int | Unset | None = UNSET
    integration_ids: tuple[int, ...] | Unset = UNSET


@dataclass
class SuppressedAlert:
    """An alert a maintenance window kept from opening an incident, kept for the record: what the tool
    said (`data`, bounded like an incident's alert events), and when it came."""

    window_id: int
    integration_id: int | None  # None once the integration is deleted
    dedup_key: str
    source: str
    title: str
    severity: Severity
    received_at: datetime
    data: dict[str, Any] = field(default_factory=dict)
    id: int = 0


def covering(
    windows: Iterable[MaintenanceWindow], team_id: int | None, integration_id: int | None, at: datetime
) -> MaintenanceWindow | None:
    """The window (the lowest id among those) that covers `integration_id` of `team_id` at `at`, or None."""
    found = [window for window in windows if window.covers(team_id, integration_id, at)]
    return min(found, key=lambda window: window.id, default=None)


def _differs(before: MaintenanceWindow, after: MaintenanceWindow, name: str) -> bool:
    old, new = getattr(before, name), getattr(after, name)
    if name == "integration_ids":
        return set(old) != set(new)
    return bool(old != new)


def _window_errors(window: MaintenanceWindow) -> list[FieldError]:
    errors: list[FieldError] = []
    try:
        check_text("description", window.description, NOTE_MAX, required=True, multiline=True)
    except ValidationFailed as invalid:
        errors += invalid.errors
    for name in ("start", "end"):
        value: datetime = getattr(window, name)
        if value.tzinfo is None or value.utcoffset() is None:
            errors.append(FieldError(name, "must be an instant with a UTC offset, e.g. 2026-12-15T22:00:00Z"))
        elif not EARLIEST <= value < LATEST:
            errors.append(FieldError(name, f"must be in the years {EARLIEST.year} to {LATEST.year - 1}"))
    if not errors and window.end <= window.start:
        errors.append(FieldError("end", "must be after start"))
    if window.team_id is None and not window.integration_ids:
        errors.append(FieldError("integration_ids", "a window needs a team_id or at least one integration"))
    if len(set(window.integration_ids)) > window.MAX_INTEGRATIONS:
        errors.append(FieldError("integration_ids", f"at most {window.MAX_INTEGRATIONS} integrations"))
    return errors
