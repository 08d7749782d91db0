"""The web UI's session store on the service's database (a Litestar `Store`): every API process sees
the same sessions, and deleting one (a logout) ends it everywhere at once."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from litestar.stores.base import Store
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.tables import web_sessions


def _key_hash(key: str) -> str:
    # A leaked table must not hand out live sessions: only the id's hash is kept, as with reset tokens.
    return hashlib.sha256(key.encode()).hexdigest()


def _seconds(value: int | timedelta | None) -> float | None:
    return value.total_seconds() if isinstance(value, timedelta) else value


class SqlSessionStore(Store):
    """Keys are session ids, values the session's data; expired entries read as missing and are
    deleted whenever a new entry is written."""

    def __init__(self, engine: AsyncEngine, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.engine = engine
        self.now = now

    async def set(self, key: str, value: str | bytes, expires_in: int | timedelta | None = None) -> None:
        data = value.encode() if isinstance(value, str) else value
        now = self.now()
        seconds = _seconds(expires_in)
        expires_at = now + timedelta(seconds=seconds) if seconds is not None else None
        async with self.engine.begin() as connection:
            await connection.execute(
                delete(web_sessions).where(
                    (web_sessions.c.key_hash == _key_hash(key)) | (web_sessions.c.expires_at <= now)
                )
            )
            await connection.execute(
                insert(web_sessions).values(key_hash=_key_hash(key), data=data, expires_at=expires_at)
            )

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        now = self.now()
        async with self.engine.begin() as connection:
            row = (
                await connection.execute(
                    select(web_sessions.c.data, web_sessions.c.expires_at).where(
                        web_sessions.c.key_hash == _key_hash(key)
                    )
                )
            ).first()
            if row is None or (row.expires_at is not None and row.expires_at <= now):
                return None
            seconds = _seconds(renew_for)
            if seconds is not None and row.expires_at is not None:
                await connection.execute(
                    web_sessions.update()
                    .where(web_sessions.c.key_hash == _key_hash(key))
                    .values(expires_at=now + timedelta(seconds=seconds))
                )
            return bytes(row.data)

    async def delete(self, key: str) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(delete(web_sessions).where(web_sessions.c.key_hash == _key_hash(key)))

    async def delete_all(self) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(delete(web_sessions))

    async def exists(self, key: str) -> bool:
        return await self.get(key) is not None

    async def expires_in(self, key: str) -> int | None:
        now = self.now()
        async with self.engine.begin() as connection:
            expires_at = await connection.scalar(
                select(web_sessions.c.expires_at).where(
                    web_sessions.c.key_hash == _key_hash(key),
                    (web_sessions.c.expires_at.is_(None)) | (web_sessions.c.expires_at > now),
                )
            )
        return None if expires_at is None else int((expires_at - now).total_seconds())
