"""Configuration from the environment, with a `.env` file filling in what the environment leaves unset.

Development needs no configuration at all. Production refuses to start without a strong SECRET_KEY.
Without SECRET_KEY, development generates a random key per start (tokens die on restart); `serve
--workers N` generates it once and hands it to every worker process through the environment.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from adapters.notify.addresses import DEFAULT_APPRISE_SCHEMES, AllowedHosts
from adapters.sql.engine import DEFAULT_DATABASE_URL, redacted

logger = logging.getLogger("incidentcore.settings")

EXAMPLE_SECRET_KEY = "change-me-to-a-long-random-string-of-at-least-32-characters"
SECRET_KEY_MIN_LENGTH = 32
PRODUCTION_MIN_BCRYPT_ROUNDS = 12
_DOMAIN = re.compile(r"[^\s@,]+\.[^\s@,]+")  # what the email check accepts after the @


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"
    TEST = "test"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"  # one object per line, for a log shipper


class ConfigurationError(ValueError):
    """The configuration cannot run: each problem is one line of the message."""


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    secret_key: str = ""
    access_token_expire_minutes: int = 60
    environment: Environment = Environment.DEVELOPMENT
    log_level: str = "INFO"
    bcrypt_rounds: int = 12
    public_url: str = "http://localhost:8000"
    worker_enabled: bool = True
    worker_interval_seconds: float = 5.0
    notification_lease_seconds: float = 60.0
    notification_max_attempts: int = 5
    notification_send_timeout_seconds: float = 10.0
    notification_max_sends_per_host: int = 2
    notify_block_private_addresses: bool = False
    notify_allowed_hosts: tuple[str, ...] = ()
    notify_apprise_schemes: tuple[str, ...] = DEFAULT_APPRISE_SCHEMES
    max_body_bytes: int = 1_048_576
    database_pool_size: int = 10
    manual_escalations_per_incident: int = 6
    manual_pages_per_user: int = 30
    manual_page_window_minutes: int = 10
    alert_timeline_max: int = 100
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_from: str | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = field(default=None, repr=False)
    twilio_phone_number: str | None = None
    signup_enabled: bool = True
    signup_allowed_domains: frozenset[str] = frozenset()
    secret_key_generated: bool = False
    # Operating it: /metrics, the worker's metrics port, the log format, how long a shutdown may take.
    metrics_enabled: bool = True
    metrics_token: str | None = field(default=None, repr=False)
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = 8001
    log_format: LogFormat = LogFormat.TEXT
    shutdown_grace_seconds: float = 20.0
    web_session_hours: int = 12

    def __repr__(self) -> str:
        database = redacted(self.database_url)  # a Postgres URL may carry a password
        return f"Settings(environment={self.environment.value!r}, database_url={database!r}, ...)"

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.PRODUCTION

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")
    ) -> Settings:
        """Reads the process environment (or `environ`), with `env_file` beneath it; checks the result."""
        values = dict(read_env_file(env_file)) if env_file is not None else {}
        values.update(os.environ if environ is None else environ)
        return cls.from_mapping(values)

    @classmethod
    def from_mapping(cls, values: Mapping[str, str]) -> Settings:
        problems: list[str] = []

        def text(name: str, default: str | None) -> str | None:
            value = values.get(name, "").strip()
            return value if value else default

        def number(name: str, default: int, low: int, high: int) -> int:
            raw = text(name, None)
            if raw is None:
                return default
            try:
                value = int(raw)
            except ValueError:
                problems.append(f"{name} must be a whole number, not {raw!r}")
                return default
            if not low <= value <= high:
                problems.append(f"{name} must be between {low} and {high}")
            return value

        def seconds(name: str, default: float) -> float:
            raw = text(name, None)
            try:
                value = float(raw) if raw is not None else default
            except ValueError:
                problems.append(f"{name} must be a number of seconds, not {raw!r}")
                return default
            if not 0.05 <= value <= 3600:
                problems.append(f"{name} must be between 0.05 and 3600 seconds")
            return value

        def names(name: str, default: tuple[str, ...]) -> tuple[str, ...]:
            items = [item.strip() for item in (text(name, None) or "").split(",")]
            return tuple(dict.fromkeys(item for item in items if item)) or default

        def flag(name: str, default: bool) -> bool:
            raw = text(name, None)
            if raw is None:
                return default
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            problems.append(f"{name} must be true or false, not {raw!r}")
            return default

        environment_name = (text("ENVIRONMENT", "development") or "development").lower()
        try:
            environment = Environment(environment_name)
        except ValueError:
            problems.append("ENVIRONMENT must be development, production or test")
            environment = Environment.DEVELOPMENT

        secret_key = text("SECRET_KEY", "") or ""
        generated = False
        if environment is Environment.PRODUCTION:
            if len(secret_key) < SECRET_KEY_MIN_LENGTH or secret_key == EXAMPLE_SECRET_KEY:
                problems.append(
                    f"SECRET_KEY must be set to a random string of at least {SECRET_KEY_MIN_LENGTH} characters "
                    "in production (for example: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
                )
        elif len(secret_key) < SECRET_KEY_MIN_LENGTH:
            if secret_key:
                problems.append(f"SECRET_KEY must be at least {SECRET_KEY_MIN_LENGTH} characters")
            secret_key = secrets.token_urlsafe(48)
            generated = True

        log_level = (text("LOG_LEVEL", "INFO") or "INFO").upper()
        if log_level not in ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"):
            problems.append("LOG_LEVEL must be one of CRITICAL, ERROR, WARNING, INFO, DEBUG")

        bcrypt_rounds = number("BCRYPT_ROUNDS", 12, 4, 31)
        if environment is Environment.PRODUCTION and bcrypt_rounds < PRODUCTION_MIN_BCRYPT_ROUNDS:
            problems.append(f"BCRYPT_ROUNDS must be at least {PRODUCTION_MIN_BCRYPT_ROUNDS} in production")

        signup_allowed_domains = frozenset(
            domain.strip().lower().removeprefix("@")
            for domain in (text("SIGNUP_ALLOWED_DOMAINS", "") or "").split(",")
            if domain.strip()
        )
        for domain in sorted(signup_allowed_domains):
            if not _DOMAIN.fullmatch(domain):
                problems.append(f"SIGNUP_ALLOWED_DOMAINS: {domain!r} is not a domain (e.g. example.com)")

        lease_seconds = seconds("NOTIFICATION_LEASE_SECONDS", 60.0)
        send_timeout = seconds("NOTIFICATION_SEND_TIMEOUT_SECONDS", 10.0)
        if lease_seconds < 2 * send_timeout:
            # A send still running when its lease runs out is claimed again by another worker: a
            # duplicate page. Twice the send timeout leaves room for the send and the commit.
            problems.append(
                f"NOTIFICATION_LEASE_SECONDS must be at least {2 * send_timeout:g} "
                f"(twice NOTIFICATION_SEND_TIMEOUT_SECONDS, {send_timeout:g} s)"
            )
        allowed_hosts = names("NOTIFY_ALLOWED_HOSTS", ())
        try:
            AllowedHosts.parse(allowed_hosts)
        except ValueError as error:
            problems.append(f"NOTIFY_ALLOWED_HOSTS: {error}")

        log_format_name = (text("LOG_FORMAT", "text") or "text").lower()
        try:
            log_format = LogFormat(log_format_name)
        except ValueError:
            problems.append("LOG_FORMAT must be text or json")
            log_format = LogFormat.TEXT

        settings = cls(
            database_url=text("DATABASE_URL", DEFAULT_DATABASE_URL) or DEFAULT_DATABASE_URL,
            secret_key=secret_key,
            access_token_expire_minutes=number("ACCESS_TOKEN_EXPIRE_MINUTES", 60, 1, 60 * 24 * 30),
            environment=environment,
            log_level=log_level,
            bcrypt_rounds=bcrypt_rounds,
            public_url=(text("PUBLIC_URL", "http://localhost:8000") or "").rstrip("/"),
            worker_enabled=flag("WORKER_ENABLED", True),
            worker_interval_seconds=seconds("WORKER_INTERVAL_SECONDS", 5.0),
            notification_lease_seconds=lease_seconds,
            notification_max_attempts=number("NOTIFICATION_MAX_ATTEMPTS", 5, 1, 20),
            notification_send_timeout_seconds=send_timeout,
            notification_max_sends_per_host=number("NOTIFICATION_MAX_SENDS_PER_HOST", 2, 1, 100),
            # Production refuses private destinations unless told otherwise; development and tests
            # page local endpoints (a webhook on localhost) out of the box.
            notify_block_private_addresses=flag(
                "NOTIFY_BLOCK_PRIVATE_ADDRESSES", environment is Environment.PRODUCTION
            ),
            notify_allowed_hosts=allowed_hosts,
            notify_apprise_schemes=tuple(
                s.lower().removesuffix("://") for s in names("NOTIFY_APPRISE_SCHEMES", DEFAULT_APPRISE_SCHEMES)
            ),
            max_body_bytes=number("MAX_BODY_BYTES", 1_048_576, 1024, 100 * 1_048_576),
            database_pool_size=number("DATABASE_POOL_SIZE", 10, 1, 1000),
            manual_escalations_per_incident=number("MANUAL_ESCALATIONS_PER_INCIDENT", 6, 1, 1_000_000),
            manual_pages_per_user=number("MANUAL_PAGES_PER_USER", 30, 1, 1_000_000),
            manual_page_window_minutes=number("MANUAL_PAGE_WINDOW_MINUTES", 10, 1, 24 * 60),
            alert_timeline_max=number("ALERT_TIMELINE_MAX", 100, 1, 100_000),
            smtp_host=text("SMTP_HOST", None),
            smtp_port=number("SMTP_PORT", 587, 1, 65535),
            smtp_user=text("SMTP_USER", None),
            smtp_password=text("SMTP_PASSWORD", None),
            smtp_from=text("SMTP_FROM", None),
            twilio_account_sid=text("TWILIO_ACCOUNT_SID", None),
            twilio_auth_token=text("TWILIO_AUTH_TOKEN", None),
            twilio_phone_number=text("TWILIO_PHONE_NUMBER", None),
            # Production opens sign-up only when told to: anyone could otherwise join and act.
            signup_enabled=flag("SIGNUP_ENABLED", environment is not Environment.PRODUCTION),
            signup_allowed_domains=signup_allowed_domains,
            secret_key_generated=generated,
            metrics_enabled=flag("METRICS_ENABLED", True),
            metrics_token=text("METRICS_TOKEN", None),
            worker_metrics_host=text("WORKER_METRICS_HOST", "127.0.0.1") or "127.0.0.1",
            worker_metrics_port=number("WORKER_METRICS_PORT", 8001, 0, 65535),
            log_format=log_format,
            shutdown_grace_seconds=seconds("SHUTDOWN_GRACE_SECONDS", 20.0),
            web_session_hours=number("WEB_SESSION_HOURS", 12, 1, 24 * 30),
        )
        if problems:
            raise ConfigurationError("\n".join(problems))
        if generated:
            logger.warning(
                "SECRET_KEY is not set: using a random key for this process; tokens stop working on restart"
            )
        return settings


def read_env_file(path: Path) -> dict[str, str]:
    """`KEY=value` lines; `#` comments, blank lines and an `export ` prefix are allowed, quotes stripped."""
    if not path.is_file():
        return {}
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        if not sep:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key.strip()] = value
    return values


TEXT_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str, log_format: LogFormat = LogFormat.TEXT) -> None:
    """Every entrypoint calls this (each uvicorn worker through the app factory): the root level and
    format (text, or one JSON object per line), no integration key in the access log, no control
    character from user data in any line, and the request id on every line a request causes."""
    from entrypoints.log_hygiene import (
        install_access_log_redaction,
        install_log_argument_escaping,
        install_request_ids,
        json_formatter,
    )

    logging.basicConfig(level=level, format=TEXT_LOG_FORMAT)
    root = logging.getLogger()
    root.setLevel(level)
    for handler in root.handlers:
        if type(handler) is logging.StreamHandler:  # basicConfig's (another tool's handlers keep theirs)
            handler.setFormatter(json_formatter() if log_format is LogFormat.JSON else logging.Formatter(TEXT_LOG_FORMAT))
    install_access_log_redaction()
    install_log_argument_escaping()
    install_request_ids()
