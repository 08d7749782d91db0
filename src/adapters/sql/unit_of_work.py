"""The unit of work: one AsyncSession, one transaction at a time, committed only on request."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from adapters.sql.analytics import SqlAnalyticsQueries
from adapters.sql.engine import WriteWhileReadingOnly, reading_engine
from adapters.sql.repositories import (
    SqlCalendarFeedRepository,
    SqlCommentRepository,
    SqlEscalationEventRepository,
    SqlHeartbeatRepository,
    SqlIncidentRepository,
    SqlIntegrationRepository,
    SqlMaintenanceWindowRepository,
    SqlNotificationRepository,
    SqlOverrideRepository,
    SqlPasswordResetTokenRepository,
    SqlPolicyRepository,
    SqlPreferenceRepository,
    SqlScheduleRepository,
    SqlSuppressedAlertRepository,
    SqlTeamRepository,
    SqlTimelineRepository,
    SqlUserRepository,
)
from incidentcore.ports import UnitOfWork


class SqlUnitOfWork(UnitOfWork):
    """Repositories sharing one session. The session (and its transaction) starts on first use;
    `commit()` ends the transaction and the next use begins another; leaving `async with` rolls back
    whatever was not committed and returns the connection to the pool.
    """

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory
        self._session: AsyncSession | None = None
        self._connection: AsyncConnection | None = None
        self._entered = False
        self._reads_only = False
        self.users = SqlUserRepository(self)
        self.teams = SqlTeamRepository(self)
        self.incidents = SqlIncidentRepository(self)
        self.comments = SqlCommentRepository(self)
        self.timeline = SqlTimelineRepository(self)
        self.escalation_events = SqlEscalationEventRepository(self)
        self.policies = SqlPolicyRepository(self)
        self.preferences = SqlPreferenceRepository(self)
        self.notifications = SqlNotificationRepository(self)
        self.integrations = SqlIntegrationRepository(self)
        self.reset_tokens = SqlPasswordResetTokenRepository(self)
        self.schedules = SqlScheduleRepository(self)
        self.overrides = SqlOverrideRepository(self)
        self.calendar_feeds = SqlCalendarFeedRepository(self)
        self.maintenance_windows = SqlMaintenanceWindowRepository(self)
        self.suppressed_alerts = SqlSuppressedAlertRepository(self)
        self.heartbeats = SqlHeartbeatRepository(self)
        self.analytics = SqlAnalyticsQueries(self)

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            if self._reads_only:
                bind = self._session_factory.kw["bind"]
                self._session = self._session_factory(bind=reading_engine(bind))
            else:
                self._session = self._session_factory()
        return self._session

    def reads_only(self) -> None:
        if self._session is not None:
            raise RuntimeError("reads_only() comes before the unit of work's first statement")
        self._reads_only = True

    @property
    def dialect_name(self) -> str:
        bind = self.session.bind
        if bind is None:
            raise RuntimeError("the session factory must be bound to an engine")
        return bind.dialect.name

    @property
    def runs_direct_statements(self) -> bool:
        """Postgres through psycopg: the hot fixed statements skip SQLAlchemy's execution (`direct`)."""
        bind = self.session.bind
        return bind is not None and bind.dialect.driver == "psycopg"

    async def connection(self) -> AsyncConnection:
        """The session's connection, its transaction begun; the same one until commit or rollback."""
        if self._connection is None:
            self._connection = await self.session.connection()
        return self._connection

    async def __aenter__(self) -> Self:
        if self._entered:
            raise RuntimeError("this unit of work is already in an `async with` block; they do not nest")
        self._entered = True
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._entered = False
        session, self._session, self._connection = self._session, None, None
        if session is not None:
            await session.close()  # rolls back anything not committed

    async def commit(self) -> None:
        if self._reads_only:
            raise WriteWhileReadingOnly("a unit of work that only reads has nothing to commit")
        if self._session is not None:
            self._connection = None  # the session lets its connection go with the transaction
            await self._session.commit()

    async def rollback(self) -> None:
        if self._session is not None:
            self._connection = None
            await self._session.rollback()
