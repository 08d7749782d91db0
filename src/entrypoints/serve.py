"""`incidentcore serve` and `incidentcore create-admin`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from entrypoints.settings import ConfigurationError, LogFormat, Settings, configure_logging, read_env_file

if TYPE_CHECKING:
    from entrypoints.cli import Subcommands
    from incidentcore.model import User

logger = logging.getLogger("incidentcore.serve")

APP_FACTORY = "entrypoints.http.app:app_from_environment"
FORWARDED_ALLOW_IPS = "FORWARDED_ALLOW_IPS"


def add_serve_command(commands: Subcommands) -> None:
    serve = commands.add_parser(
        "serve",
        help="apply migrations and serve the HTTP API",
        description="Applies the database migrations, then serves the API (and, unless WORKER_ENABLED=false, "
        "the escalation worker) with uvicorn. Embedded SQLite ./incidentcore.db unless DATABASE_URL says otherwise.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    serve.add_argument(
        "--workers",
        type=int,
        default=None,
        help="server processes (default: one per CPU on Postgres; SQLite is served by one, its single writer)",
    )
    serve.set_defaults(run=run_serve)


def add_create_admin_command(commands: Subcommands) -> None:
    create_admin = commands.add_parser(
        "create-admin",
        help="create an admin, or promote an existing user",
        description="Creates an admin in the configured database, or promotes (re-activates and re-passwords) "
        "the user with that email.",
    )
    create_admin.add_argument("--email", required=True)
    create_admin.add_argument("--password", required=True, help="at least 8 characters")
    create_admin.add_argument("--full-name", default="Administrator")
    create_admin.set_defaults(run=run_create_admin)


def load_settings() -> Settings | None:
    try:
        settings = Settings.from_environment()
    except ConfigurationError as error:
        print(f"incidentcore: configuration error:\n{error}", file=sys.stderr)
        return None
    configure_logging(settings.log_level, settings.log_format)
    return settings


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from adapters.sql.engine import redacted
    from adapters.sql.migrate import upgrade

    if args.workers is not None and args.workers < 1:
        print("incidentcore: --workers must be at least 1", file=sys.stderr)
        return 2
    settings = load_settings()
    if settings is None:
        return 2
    workers = args.workers or default_workers(settings.database_url)
    if settings.secret_key_generated:
        # Every worker process reads the environment: they must all sign with one key.
        os.environ["SECRET_KEY"] = settings.secret_key
    upgrade(settings.database_url)
    logger.info("database %s is migrated", redacted(settings.database_url))
    shown_host = "localhost" if args.host in ("0.0.0.0", "::", "127.0.0.1") else args.host  # noqa: S104
    banner = f"incidentcore serving on http://{shown_host}:{args.port} - API docs: http://{shown_host}:{args.port}/docs"
    if settings.log_format is LogFormat.JSON:
        logger.info(banner)  # nothing but JSON lines for the log shipper
    else:
        print(banner)
        sys.stdout.flush()
    with metrics_shared_by(workers):
        uvicorn.run(
            APP_FACTORY,
            factory=True,
            host=args.host,
            port=args.port,
            workers=workers,
            log_level=settings.log_level.lower(),
            # uvicorn's lines go through our logging set-up (text or JSON), and the app logs each
            # request itself (entrypoints.http.observation), with its route, duration and id.
            log_config=None,
            access_log=False,
            # SIGTERM: stop accepting, give requests in flight this long, then the worker as long.
            timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_seconds),
            server_header=False,  # no "Server: uvicorn" banner for scanners
            # Behind a reverse proxy, the client address (throttling counts per client) comes from its
            # X-Forwarded-For, believed only from the addresses in FORWARDED_ALLOW_IPS.
            proxy_headers=True,
            forwarded_allow_ips=forwarded_allow_ips(),
        )
    return 0


@contextlib.contextmanager
def metrics_shared_by(workers: int) -> Iterator[None]:
    """Several server processes write their metrics to files in a fresh directory, which any of them
    sums on a scrape (prometheus_client's multiprocess mode, set up by PROMETHEUS_MULTIPROC_DIR before
    they start); removed when serve ends. One process keeps them in memory (with process metrics)."""
    from adapters.metrics import MULTIPROCESS_DIRECTORY_ENV

    if workers == 1:
        os.environ.pop(MULTIPROCESS_DIRECTORY_ENV, None)
        yield
        return
    directory = tempfile.mkdtemp(prefix="incidentcore-metrics-")
    os.environ[MULTIPROCESS_DIRECTORY_ENV] = directory
    try:
        yield
    finally:
        os.environ.pop(MULTIPROCESS_DIRECTORY_ENV, None)
        shutil.rmtree(directory, ignore_errors=True)


def default_workers(database_url: str) -> int:
    """One process per CPU on Postgres; one on SQLite, where one writer at a time is the rule anyway."""
    from sqlalchemy.engine import make_url

    return (os.cpu_count() or 1) if make_url(database_url).get_backend_name() == "postgresql" else 1


def forwarded_allow_ips() -> str:
    """FORWARDED_ALLOW_IPS from the environment or .env; default 127.0.0.1, a proxy on this machine."""
    from_env_file = read_env_file(Path(".env")).get(FORWARDED_ALLOW_IPS)
    return os.environ.get(FORWARDED_ALLOW_IPS) or from_env_file or "127.0.0.1"


def run_create_admin(args: argparse.Namespace) -> int:
    from adapters.sql.migrate import upgrade
    from incidentcore.errors import ValidationFailed

    settings = load_settings()
    if settings is None:
        return 2
    upgrade(settings.database_url)  # a fresh machine runs create-admin before the first serve
    try:
        user = asyncio.run(create_admin(settings, args.email, args.password, args.full_name))
    except ValidationFailed as error:
        print(f"incidentcore: {error}", file=sys.stderr)
        return 2
    print(f"admin {user.email} (id {user.id}) is ready")
    return 0


async def create_admin(settings: Settings, email: str, password: str, full_name: str) -> User:
    from entrypoints.di import build_container
    from incidentcore.services import Accounts

    container = build_container(settings)
    try:
        async with container() as scope:
            accounts = await scope.get(Accounts)
            return await accounts.ensure_admin(email, password, full_name)
    finally:
        await container.close()
