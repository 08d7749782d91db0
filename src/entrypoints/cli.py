"""The `incidentcore` command. One function per subcommand: `add_<name>_command` declares its
arguments and points `run` at the function that carries it out and returns the exit status.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeAlias

from entrypoints.serve import add_create_admin_command, add_serve_command, load_settings
from entrypoints.worker import add_worker_command

if TYPE_CHECKING:
    Subcommands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]


def add_migrate_command(commands: Subcommands) -> None:
    migrate = commands.add_parser(
        "migrate",
        help="apply the database migrations",
        description="Applies the database migrations up to REVISION (default: the latest).",
    )
    migrate.add_argument(
        "--database-url",
        help="the database to migrate (default: DATABASE_URL from the environment or .env, "
        "else sqlite:///./incidentcore.db)",
    )
    migrate.add_argument("--revision", default="head", help="target revision (default: head)")
    migrate.set_defaults(run=run_migrate)


def run_migrate(args: argparse.Namespace) -> int:
    # Imported here so that `incidentcore --help` stays fast and works without a database driver.
    from adapters.sql.engine import redacted
    from adapters.sql.migrate import upgrade

    url = args.database_url
    if not url:  # the database serve, worker and create-admin use: the environment, then .env
        settings = load_settings()
        if settings is None:
            return 2
        url = settings.database_url
    upgrade(url, args.revision)
    print(f"migrated {redacted(url)} to {args.revision}")
    return 0


COMMANDS: list[Callable[[Subcommands], None]] = [
    add_serve_command,
    add_migrate_command,
    add_worker_command,
    add_create_admin_command,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="incidentcore", description="Incident management and on-call paging."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add_command in COMMANDS:
        add_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    status: int = args.run(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
