"""Heartbeat monitors: a job that should ping every so often, and the rules for when it has missed.

A heartbeat is due `interval + grace` after its last ping (or, before the first ping, after its
creation). Once due, the worker opens one incident for it (`Heartbeat.record_incident`) and opens no
other until a ping comes (`Heartbeat.ping`), which hands back that incident for resolving. Pure:
every instant is an argument.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from incidentcore.errors import FieldError, ValidationFailed
from incidentcore.validation import NAME_MAX, check_text


class HeartbeatStatus(StrEnum):
    """Waiting for its first ping, up (pinged in time), or down (missed, until the next ping)."""

    WAITING = "waiting"
    UP = "up"
    DOWN = "down"


@dataclass
class Heartbeat:
    """A monitor of `team_id`'s that expects a ping every `interval_minutes`, tolerating
    `grace_minutes` more. Its ping URL holds a secret; only the secret's hash is stored.

    `incident_id` is the incident the missed heartbeat opened, kept until the next ping (also when a
    person resolved that incident meanwhile: the job is still silent, and one miss pages once).
    `version` fences concurrent writers (the worker and a ping): an update of a stale copy is rejected.
    """

    name: str
    team_id: int
    interval_minutes: int
    grace_minutes: int
    token_hash: str
    created_at: datetime
    last_ping_at: datetime | None = None
    incident_id: int | None = None
    version: int = 0
    id: int = 0

    NAME_MAX = NAME_MAX
    MAX_INTERVAL_MINUTES = 31 * 24 * 60  # a monthly job
    MAX_GRACE_MINUTES = 7 * 24 * 60

    @property
    def due_at(self) -> datetime:
        """When the heartbeat counts as missed if no ping came: interval + grace after the last ping,
        or after its creation while it has never been pinged."""
        since = self.last_ping_at if self.last_ping_at is not None else self.created_at
        return since + timedelta(minutes=self.interval_minutes + self.grace_minutes)

    def missed(self, now: datetime) -> bool:
        """Whether an incident is to be opened at `now`: due, and none opened since the last ping."""
        return self.incident_id is None and now >= self.due_at

    def status(self, now: datetime) -> HeartbeatStatus:
        """Down from its due time (or while its incident is recorded) until the next ping."""
        if self.incident_id is not None or now >= self.due_at:
            return HeartbeatStatus.DOWN
        return HeartbeatStatus.WAITING if self.last_ping_at is None else HeartbeatStatus.UP

    def record_incident(self, incident_id: int) -> None:
        """The incident opened for this miss; no other is opened until the next ping."""
        self.incident_id = incident_id

    def ping(self, now: datetime) -> int | None:
        """Records a ping at `now`; returns the incident the miss opened (to resolve, if still open), or
        None. A ping older than the last one recorded changes nothing of the due time."""
        if self.last_ping_at is None or now > self.last_ping_at:
            self.last_ping_at = now
        opened, self.incident_id = self.incident_id, None
        return opened

    def validate(self) -> None:
        """Raises ValidationFailed naming every bad field."""
        errors: list[FieldError] = []
        try:
            check_text("name", self.name, self.NAME_MAX, required=True)
        except ValidationFailed as invalid:
            errors += invalid.errors
        if not 1 <= self.interval_minutes <= self.MAX_INTERVAL_MINUTES:
            errors.append(FieldError("interval_minutes", f"must be between 1 and {self.MAX_INTERVAL_MINUTES}"))
        if not 0 <= self.grace_minutes <= self.MAX_GRACE_MINUTES:
            errors.append(FieldError("grace_minutes", f"must be between 0 and {self.MAX_GRACE_MINUTES}"))
        if errors:
            raise ValidationFailed(errors)
