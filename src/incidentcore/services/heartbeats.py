"""Heartbeat monitors: managing them, their pings, and the worker's check for missed ones.

A ping URL holds a secret, shown once (at creation, or when it is rotated); only its hash is stored.
The worker claims missed heartbeats as it claims due escalations (SKIP LOCKED on Postgres, one writer
on SQLite), opens one incident for each through the path alerts open theirs by, and records it on
the heartbeat with a fenced write; the database refuses a second open incident for one heartbeat.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from incidentcore.changes import UNSET, Unset, given
from incidentcore.errors import FieldError, NotFound, ValidationFailed
from incidentcore.heartbeats import Heartbeat, HeartbeatStatus
from incidentcore.model import Incident, Severity, User
from incidentcore.permissions import Action, require
from incidentcore.ports import Clock, Page, Paged, SecretGenerator, UnitOfWork
from incidentcore.services.accounts import hash_secret
from incidentcore.services.incidents import NewIncident, open_incident
from incidentcore.services.paging import PagingConfig, record_outcome

HEARTBEAT_SOURCE = "heartbeat"
"""The `source` of the incidents missed heartbeats open."""


@dataclass(frozen=True)
class NewHeartbeat:
    """A heartbeat to create (`Heartbeats.create`)."""

    name: str
    team_id: int
    interval_minutes: int
    grace_minutes: int = 0


@dataclass(frozen=True)
class HeartbeatChanges:
    """What may be edited on a heartbeat; its pings and incident change only through pings and misses."""

    name: str | Unset = UNSET
    team_id: int | Unset = UNSET
    interval_minutes: int | Unset = UNSET
    grace_minutes: int | Unset = UNSET


@dataclass(frozen=True)
class HeartbeatState:
    """A heartbeat as read at `at`, with its status then; `secret` is its ping URL's secret when it
    was just created or rotated (shown once), otherwise None."""

    heartbeat: Heartbeat
    status: HeartbeatStatus
    at: datetime
    secret: str | None = None


def dedup_key(heartbeat: Heartbeat) -> str:
    """The dedup key of the incidents a heartbeat opens."""
    return f"{HEARTBEAT_SOURCE}:{heartbeat.id}"


async def open_missed_heartbeat_incident(
    uow: UnitOfWork, paging: PagingConfig, heartbeat: Heartbeat, now: datetime
) -> Incident:
    """Opens the incident for a missed heartbeat (for its team, escalating on the team's policy like
    any incident) and records it on the heartbeat, which the caller saves. The one place a missed
    heartbeat turns into an incident: whatever may hold one back belongs here."""
    since = heartbeat.last_ping_at
    expected = f"expected a ping every {heartbeat.interval_minutes} min, with {heartbeat.grace_minutes} min grace"
    description = (
        f"No ping since {since.isoformat()}: {expected}."
        if since is not None
        else f"Never pinged since it was created at {heartbeat.created_at.isoformat()}: {expected}."
    )
    new = NewIncident(
        title=f"Heartbeat {heartbeat.name} missed",
        description=description,
        severity=Severity.HIGH,
        team_id=heartbeat.team_id,
        source=HEARTBEAT_SOURCE,
        dedup_key=dedup_key(heartbeat),
        heartbeat_id=heartbeat.id,
    )
    record = {
        "source": HEARTBEAT_SOURCE,
        "dedup_key": new.dedup_key,
        "heartbeat_id": heartbeat.id,
        "last_ping_at": since.isoformat() if since is not None else None,
        "due_at": heartbeat.due_at.isoformat(),
    }
    incident = await open_incident(uow, paging, new, now, actor=None, alert=record)
    heartbeat.record_incident(incident.id)
    return incident


class HeartbeatCheck:
    """The worker's part: opens an incident for every heartbeat missed by now, a batch per transaction."""

    def __init__(self, uow: UnitOfWork, clock: Clock, paging: PagingConfig) -> None:
        self.uow = uow
        self.clock = clock
        self.paging = paging

    async def run(self, batch_size: int = 100) -> int:
        """Processes at most one batch; returns how many missed heartbeats it opened incidents for."""
        async with self.uow:
            now = self.clock.now()
            missed = await self.uow.heartbeats.claim_missed(now, batch_size)
            for heartbeat in missed:
                await open_missed_heartbeat_incident(self.uow, self.paging, heartbeat, now)
                await self.uow.heartbeats.update(heartbeat)  # fenced: a stale claim rolls it all back
            await self.uow.commit()
        return len(missed)


class Heartbeats:
    """Anyone reads heartbeats; admins, and team leads and above of a heartbeat's team, manage it.
    Pinging needs no person: the ping URL's secret is the credential."""

    def __init__(self, uow: UnitOfWork, clock: Clock, secrets: SecretGenerator, paging: PagingConfig) -> None:
        self.uow = uow
        self.clock = clock
        self.secrets = secrets
        self.paging = paging

    async def create(self, actor: User, new: NewHeartbeat) -> HeartbeatState:
        """The new heartbeat with its ping URL's secret (shown this once). It is not missed before
        interval + grace after now, even if never pinged."""
        now = self.clock.now()
        secret = self.secrets.new_secret()
        heartbeat = Heartbeat(
            new.name.strip(), new.team_id, new.interval_minutes, new.grace_minutes, hash_secret(secret), now
        )
        require(actor, Action.HEARTBEAT_MANAGE, heartbeat)
        heartbeat.validate()
        async with self.uow:
            await self._check_team(heartbeat)
            heartbeat = await self.uow.heartbeats.add(heartbeat)
            await self.uow.commit()
        return HeartbeatState(heartbeat, heartbeat.status(now), now, secret)

    async def list(self, actor: User, team_id: int | None, page: Page) -> Paged[HeartbeatState]:
        require(actor, Action.HEARTBEAT_READ)
        async with self.uow:
            paged = await self.uow.heartbeats.list(team_id, page)
        now = self.clock.now()
        return Paged([self._state(h, now) for h in paged.items], paged.total, paged.page)

    async def get(self, actor: User, heartbeat_id: int) -> HeartbeatState:
        require(actor, Action.HEARTBEAT_READ)
        async with self.uow:
            heartbeat = await self._load(heartbeat_id)
        return self._state(heartbeat, self.clock.now())

    async def update(
        self, actor: User, heartbeat_id: int, changes: HeartbeatChanges, *, rotate_secret: bool = False
    ) -> HeartbeatState:
        """Moving it to another team needs the right there too. `rotate_secret`: a new ping URL, shown
        in the answer; the old one stops working at once."""
        async with self.uow:
            current = await self._load(heartbeat_id, for_update=True)
            require(actor, Action.HEARTBEAT_MANAGE, current)
            heartbeat = replace(current, **given(changes))
            if isinstance(changes.name, str):
                heartbeat.name = changes.name.strip()
            require(actor, Action.HEARTBEAT_MANAGE, heartbeat)
            heartbeat.validate()
            await self._check_team(heartbeat)
            secret = None
            if rotate_secret:
                secret = self.secrets.new_secret()
                heartbeat.token_hash = hash_secret(secret)
            await self.uow.heartbeats.update(heartbeat)
            await self.uow.commit()
        now = self.clock.now()
        return HeartbeatState(heartbeat, heartbeat.status(now), now, secret)

    async def delete(self, actor: User, heartbeat_id: int) -> None:
        """Its ping URL stops working; an incident it opened stays as it is."""
        async with self.uow:
            heartbeat = await self._load(heartbeat_id)
            require(actor, Action.HEARTBEAT_MANAGE, heartbeat)
            await self.uow.heartbeats.delete(heartbeat_id)
            await self.uow.commit()

    async def ping(self, secret: str) -> HeartbeatState:
        """A ping of the heartbeat whose URL holds `secret` (no other credential): resolves the incident
        its miss opened, if that is still open (the system resolves it). One read and one write when
        nothing is open."""
        async with self.uow:
            heartbeat = (
                await self.uow.heartbeats.get_by_token_hash(hash_secret(secret), for_update=True) if secret else None
            )
            if heartbeat is None:
                raise NotFound("no such heartbeat: it was deleted, its ping URL rotated, or the URL is wrong")
            now = self.clock.now()
            opened = heartbeat.ping(now)
            if opened is not None:
                incident = await self.uow.incidents.get(opened, for_update=True)
                if incident is not None and incident.is_open:
                    outcome = incident.resolve(None, now, reason=f"heartbeat {heartbeat.name} pinged")
                    await self.uow.incidents.update(incident)
                    await record_outcome(self.uow, self.paging, incident, outcome, now, None)
            await self.uow.heartbeats.update(heartbeat)
            await self.uow.commit()
        return self._state(heartbeat, now)

    @staticmethod
    def _state(heartbeat: Heartbeat, now: datetime) -> HeartbeatState:
        return HeartbeatState(heartbeat, heartbeat.status(now), now)

    async def _load(self, heartbeat_id: int, *, for_update: bool = False) -> Heartbeat:
        heartbeat = await self.uow.heartbeats.get(heartbeat_id, for_update=for_update)
        if heartbeat is None:
            raise NotFound(f"heartbeat {heartbeat_id} does not exist")
        return heartbeat

    async def _check_team(self, heartbeat: Heartbeat) -> None:
        if await self.uow.teams.get(heartbeat.team_id) is None:
            raise ValidationFailed(FieldError("team_id", f"team {heartbeat.team_id} does not exist"))

