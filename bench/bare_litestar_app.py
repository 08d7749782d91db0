"""The ceiling for bench_http.py: one Litestar JSON endpoint, served the way `incidentcore serve` serves.

    python bench/bare_litestar_app.py --port 8001

It answers `GET /bare` with a small JSON object, with no database and no authentication: what the
HTTP stack alone costs. Given `--database-url` (Postgres), it also answers `GET /bare-row` with one
row read by its primary key through psycopg alone (a prepared statement in autocommit on a fixed set
of connections, no SQLAlchemy, no transaction, no authentication): the least an endpoint that reads
the database can cost, and so the ceiling of an API read. `GET /bare-two-rows` reads two rows by key, one
after the other on one connection: the least an authenticated read costs, since a token's revocation
is checked against its user's row on every request, before the row asked for. The uvicorn options are those of entrypoints/serve.py's `run_serve`; keep
them in step, or the ratio to this endpoint stops meaning anything.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
import uvicorn
from litestar import Litestar, get


@get("/bare", sync_to_thread=False)
def bare() -> dict[str, object]:
    return {"id": 1, "status": "triggered", "title": "bare endpoint"}


DATABASE_URL_ENV = "BARE_DATABASE_URL"  # the option, passed to the app through uvicorn's import
CONNECTIONS = 10  # as DATABASE_POOL_SIZE's default
_connections: asyncio.Queue[psycopg.AsyncConnection[tuple[object, ...]]] = asyncio.Queue()


ROW_BY_KEY = "SELECT id, status, title FROM bare_rows WHERE id = %s"


async def read_rows(reads: int) -> tuple[object, ...]:
    """`reads` rows by key, one after the other on one connection; the last one."""
    connection = await _connections.get()
    try:
        for _ in range(reads):
            row = await (await connection.execute(ROW_BY_KEY, (1,), prepare=True)).fetchone()
    finally:
        _connections.put_nowait(connection)
    assert row is not None
    return row


@get("/bare-row")
async def bare_row() -> dict[str, object]:
    row = await read_rows(1)
    return {"id": row[0], "status": row[1], "title": row[2]}


@get("/bare-two-rows")
async def bare_two_rows() -> dict[str, object]:
    row = await read_rows(2)
    return {"id": row[0], "status": row[1], "title": row[2]}


@asynccontextmanager
async def database(_app: Litestar) -> AsyncIterator[None]:
    url = os.environ.get(DATABASE_URL_ENV)
    opened = [await psycopg.AsyncConnection.connect(url, autocommit=True) for _ in range(CONNECTIONS)] if url else []
    if opened:
        await opened[0].execute(
            "CREATE TABLE IF NOT EXISTS bare_rows (id integer PRIMARY KEY, status text, title text)"
        )
        await opened[0].execute(
            "INSERT INTO bare_rows VALUES (1, 'triggered', 'bare endpoint') ON CONFLICT DO NOTHING"
        )
    for connection in opened:
        _connections.put_nowait(connection)
    try:
        yield
    finally:
        for connection in opened:
            await connection.close()


app = Litestar([bare, bare_row, bare_two_rows], lifespan=[database])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--database-url", help="a Postgres database for GET /bare-row")
    args = parser.parse_args()
    if args.database_url:
        os.environ[DATABASE_URL_ENV] = args.database_url
    uvicorn.run(
        "bare_litestar_app:app",  # an import string, as `serve` passes: needed for --workers > 1
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="info",  # the access log is on, as under `serve` with the default LOG_LEVEL
        server_header=False,
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
    )


if __name__ == "__main__":
    main()
