"""Settings from the environment and .env, and the security adapters the HTTP app is built on."""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import anyio.lowlevel
import jwt
import pytest

from adapters.notify.apprise_notifier import SEND_TIMEOUT_SECONDS, AppriseConfig
from adapters.security import BcryptPasswordHasher, JwtTokenService, UrlSafeSecrets
from entrypoints.log_hygiene import ACCESS_LOGGER, RedactQuerySecrets, redact_query_secrets
from entrypoints.serve import default_workers
from entrypoints.settings import (
    EXAMPLE_SECRET_KEY,
    ConfigurationError,
    Environment,
    Settings,
    configure_logging,
)
from incidentcore.errors import AuthenticationFailed
from incidentcore.model import User
from incidentcore.testing import FakeClock
from incidentcore.throttle import InMemoryLoginThrottle

STRONG_KEY = "k" * 48


def test_development_needs_no_configuration() -> None:
    settings = Settings.from_mapping({})
    assert settings.environment is Environment.DEVELOPMENT
    assert settings.database_url == "sqlite:///./incidentcore.db"
    assert settings.secret_key_generated and len(settings.secret_key) >= 32
    assert settings.bcrypt_rounds == 12
    assert Settings.from_mapping({}).secret_key != settings.secret_key


@pytest.mark.parametrize("key", [None, "", "short", EXAMPLE_SECRET_KEY])
def test_production_refuses_a_weak_or_missing_secret_key(key: str | None) -> None:
    values = {"ENVIRONMENT": "production"}
    if key is not None:
        values["SECRET_KEY"] = key
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        Settings.from_mapping(values)


def test_production_with_a_strong_key() -> None:
    settings = Settings.from_mapping({"ENVIRONMENT": "production", "SECRET_KEY": STRONG_KEY})
    assert settings.is_production and settings.secret_key == STRONG_KEY and not settings.secret_key_generated


def test_every_bad_value_is_reported_at_once() -> None:
    with pytest.raises(ConfigurationError) as error:
        Settings.from_mapping({"BCRYPT_ROUNDS": "3", "WORKER_ENABLED": "maybe", "ENVIRONMENT": "staging", "SMTP_PORT": "x"})
    message = str(error.value)
    for name in ("BCRYPT_ROUNDS", "WORKER_ENABLED", "ENVIRONMENT", "SMTP_PORT"):
        assert name in message


def test_env_file_fills_in_below_the_environment(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# comment\nexport LOG_LEVEL=debug\nDATABASE_URL='postgresql://u:p@db/x'\nPUBLIC_URL=https://x.example.com/ # tail\n"
        f"SECRET_KEY={STRONG_KEY}\nWORKER_INTERVAL_SECONDS=2.5\n"
    )
    settings = Settings.from_environment({"LOG_LEVEL": "WARNING"}, env_file)
    assert settings.log_level == "WARNING"
    assert settings.database_url == "postgresql://u:p@db/x"
    assert settings.public_url == "https://x.example.com"
    assert settings.secret_key == STRONG_KEY
    assert settings.worker_interval_seconds == 2.5
    assert "p@db" in settings.database_url and STRONG_KEY not in repr(settings)


@pytest.mark.parametrize("rounds", ["4", "11"])
def test_production_refuses_a_cheap_bcrypt_cost(rounds: str) -> None:
    with pytest.raises(ConfigurationError, match="BCRYPT_ROUNDS must be at least 12 in production"):
        Settings.from_mapping({"ENVIRONMENT": "production", "SECRET_KEY": STRONG_KEY, "BCRYPT_ROUNDS": rounds})
    assert Settings.from_mapping({"ENVIRONMENT": "test", "BCRYPT_ROUNDS": rounds}).bcrypt_rounds == int(rounds)


def test_production_accepts_bcrypt_cost_12_or_more() -> None:
    for rounds in ("12", "14"):
        values = {"ENVIRONMENT": "production", "SECRET_KEY": STRONG_KEY, "BCRYPT_ROUNDS": rounds}
        assert Settings.from_mapping(values).bcrypt_rounds == int(rounds)


def test_sign_up_is_open_in_development_and_closed_in_production_unless_told() -> None:
    assert Settings.from_mapping({}).signup_enabled
    assert Settings.from_mapping({"ENVIRONMENT": "test"}).signup_enabled
    production = {"ENVIRONMENT": "production", "SECRET_KEY": STRONG_KEY}
    assert not Settings.from_mapping(production).signup_enabled
    assert Settings.from_mapping({**production, "SIGNUP_ENABLED": "true"}).signup_enabled
    assert not Settings.from_mapping({"SIGNUP_ENABLED": "false"}).signup_enabled


def test_sign_up_domains_are_a_comma_separated_list() -> None:
    assert Settings.from_mapping({}).signup_allowed_domains == frozenset()
    settings = Settings.from_mapping({"SIGNUP_ALLOWED_DOMAINS": " Example.com, @example.org ,,"})
    assert settings.signup_allowed_domains == {"example.com", "example.org"}
    with pytest.raises(ConfigurationError, match="SIGNUP_ALLOWED_DOMAINS: 'localhost'"):
        Settings.from_mapping({"SIGNUP_ALLOWED_DOMAINS": "example.com,localhost"})
    with pytest.raises(ConfigurationError, match="SIGNUP_ALLOWED_DOMAINS"):
        Settings.from_mapping({"SIGNUP_ALLOWED_DOMAINS": "a@example.com"})


def test_the_notification_lease_outlasts_two_send_timeouts() -> None:
    defaults = Settings.from_mapping({})
    assert defaults.notification_send_timeout_seconds == SEND_TIMEOUT_SECONDS == AppriseConfig().timeout_seconds == 10
    assert AppriseConfig.from_settings(defaults).timeout_seconds == SEND_TIMEOUT_SECONDS
    assert defaults.notification_lease_seconds >= 2 * SEND_TIMEOUT_SECONDS
    assert Settings.from_mapping({"NOTIFICATION_LEASE_SECONDS": "20"}).notification_lease_seconds == 20
    for too_short in ("19.5", "10", "1"):
        with pytest.raises(ConfigurationError, match="NOTIFICATION_LEASE_SECONDS must be at least 20"):
            Settings.from_mapping({"NOTIFICATION_LEASE_SECONDS": too_short})
    longer = Settings.from_mapping({"NOTIFICATION_SEND_TIMEOUT_SECONDS": "45", "NOTIFICATION_LEASE_SECONDS": "90"})
    assert AppriseConfig.from_settings(longer).timeout_seconds == 45
    with pytest.raises(ConfigurationError, match=r"NOTIFICATION_LEASE_SECONDS must be at least 90 \(twice"):
        Settings.from_mapping({"NOTIFICATION_SEND_TIMEOUT_SECONDS": "45"})


def test_the_outbound_address_policy_defaults_by_environment() -> None:
    production = Settings.from_mapping({"ENVIRONMENT": "production", "SECRET_KEY": STRONG_KEY})
    assert production.notify_block_private_addresses
    assert not Settings.from_mapping({"ENVIRONMENT": "development"}).notify_block_private_addresses
    assert not Settings.from_mapping({"ENVIRONMENT": "test"}).notify_block_private_addresses
    assert "slack" in production.notify_apprise_schemes
    assert not {"json", "jsons", "form", "xml", "syslog"} & set(production.notify_apprise_schemes)
    assert production.notification_max_sends_per_host == 2
    opened = Settings.from_mapping(
        {
            "NOTIFY_BLOCK_PRIVATE_ADDRESSES": "true",
            "NOTIFY_ALLOWED_HOSTS": " alerts.internal , 10.1.0.0/16, fd00::1 ,",
            "NOTIFY_APPRISE_SCHEMES": "slack, JSON://",
            "NOTIFICATION_MAX_SENDS_PER_HOST": "5",
        }
    )
    assert opened.notify_block_private_addresses
    assert opened.notify_allowed_hosts == ("alerts.internal", "10.1.0.0/16", "fd00::1")
    assert opened.notify_apprise_schemes == ("slack", "json")
    assert opened.notification_max_sends_per_host == 5


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("NOTIFY_ALLOWED_HOSTS", "http://alerts.internal/", "is not a host name, an IP address or a network"),
        ("NOTIFY_ALLOWED_HOSTS", "ok.example, bad host", "'bad host' is not a host name"),
        ("NOTIFY_BLOCK_PRIVATE_ADDRESSES", "maybe", "must be true or false"),
        ("NOTIFICATION_MAX_SENDS_PER_HOST", "0", "between 1 and 100"),
        ("NOTIFICATION_SEND_TIMEOUT_SECONDS", "soon", "must be a number of seconds"),
    ],
)
def test_bad_outbound_settings_are_refused_by_name(name: str, value: str, problem: str) -> None:
    with pytest.raises(ConfigurationError, match=f"{name}.*{re.escape(problem)}"):
        Settings.from_mapping({name: value})


# --- the access log -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "redacted"),
    [
        ("/v1/alerts/elastic?key=s3cret", "/v1/alerts/elastic?key=[redacted]"),
        ("/v1/alerts/elastic?a=1&key=s3cret&b=2", "/v1/alerts/elastic?a=1&key=[redacted]&b=2"),
        ("/v1/alerts/elastic?k%65y=s3cret", "/v1/alerts/elastic?k%65y=[redacted]"),
        ("/v1/alerts/elastic?KEY=s3cret;x=1", "/v1/alerts/elastic?KEY=[redacted];x=1"),
        ('GET /v1/alerts/elastic?key=s3cret HTTP/1.1"', 'GET /v1/alerts/elastic?key=[redacted] HTTP/1.1"'),
        ("/v1/incidents/?monkey=1&keys=2&key", "/v1/incidents/?monkey=1&keys=2&key"),
        ("/v1/incidents/", "/v1/incidents/"),
        ("/v1/users/me?access_token=eyJ.x.y&a=1", "/v1/users/me?access_token=[redacted]&a=1"),
    ],
)
def test_secret_query_parameters_are_redacted(line: str, redacted: str) -> None:
    assert redact_query_secrets(line) == redacted


def test_the_access_log_never_shows_an_integration_key(caplog: pytest.LogCaptureFixture) -> None:
    configure_logging("INFO")
    configure_logging("INFO")  # idempotent: one filter
    access = logging.getLogger(ACCESS_LOGGER)
    assert sum(isinstance(f, RedactQuerySecrets) for f in access.filters) == 1
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        # What uvicorn logs for each request (uvicorn.protocols.http.*_impl).
        access.info('%s - "%s %s HTTP/%s" %d', "10.0.0.1:5000", "POST", "/v1/alerts/elastic?key=s3cret", "1.1", 202)
    assert "s3cret" not in caplog.text
    assert '"POST /v1/alerts/elastic?key=[redacted] HTTP/1.1" 202' in caplog.text


# --- passwords ------------------------------------------------------------------------------------


@pytest.fixture
def hasher() -> BcryptPasswordHasher:
    return BcryptPasswordHasher(rounds=4)


@pytest.mark.anyio
async def test_hash_and_verify(hasher: BcryptPasswordHasher) -> None:
    stored = await hasher.hash("correct horse")
    assert stored.startswith("$2b$04$")
    assert await hasher.verify("correct horse", stored)
    assert not await hasher.verify("wrong horse", stored)
    assert not await hasher.verify("correct horse", "not a bcrypt hash")


@pytest.mark.anyio
async def test_long_passwords_are_not_truncated(hasher: BcryptPasswordHasher) -> None:
    long_password = "x" * 100
    stored = await hasher.hash(long_password)
    assert await hasher.verify(long_password, stored)
    assert not await hasher.verify("x" * 72, stored)  # bcrypt alone would accept this
    assert not await hasher.verify("x" * 99 + "y", stored)


@pytest.mark.anyio
async def test_verify_without_a_hash_does_the_work_and_fails(hasher: BcryptPasswordHasher) -> None:
    assert not await hasher.verify("anything", None)

    async def seconds(verification: Awaitable[bool]) -> float:
        started = time.perf_counter()
        assert not await verification
        return time.perf_counter() - started

    # An unknown email costs what a wrong password costs, one bcrypt check, from the first login on:
    # the dummy hash is made with the hasher, not on first use (that would be two bcrypt operations).
    # Cost 8 (~15 ms a check) keeps noise small; the fastest of a few runs, with loose bounds.
    unknown, wrong = [], []
    for _ in range(3):
        fresh = BcryptPasswordHasher(rounds=8)
        stored = await fresh.hash("correct horse")
        unknown.append(await seconds(fresh.verify("anything", None)))  # this hasher's first verify
        wrong.append(await seconds(fresh.verify("anything", stored)))
    assert 0.6 < min(unknown) / min(wrong) < 1.5


def test_cost_is_configurable_and_bounded() -> None:
    assert BcryptPasswordHasher().rounds == 12
    with pytest.raises(ValueError, match="rounds"):
        BcryptPasswordHasher(rounds=3)


@pytest.mark.anyio
async def test_hashing_runs_off_the_event_loop(hasher: BcryptPasswordHasher) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await anyio.lowlevel.checkpoint()

    slow = BcryptPasswordHasher(rounds=10)
    async with anyio.create_task_group() as group:
        group.start_soon(ticker)
        await slow.hash("password")
        group.cancel_scope.cancel()
    assert ticks > 1


# --- tokens ---------------------------------------------------------------------------------------


def user(credentials_version: int = 0) -> User:
    return User("a@example.com", "A", "h", id=7, credentials_version=credentials_version)


def test_tokens_carry_the_user_and_credentials_version() -> None:
    clock = FakeClock(datetime.now(UTC))
    service = JwtTokenService(STRONG_KEY, timedelta(minutes=30), clock)
    token = service.issue(user(credentials_version=3))
    assert token.expires_in == 1800
    claims = service.decode(token.token)
    assert (claims.user_id, claims.credentials_version) == (7, 3)
    header = jwt.get_unverified_header(token.token)
    assert header["alg"] == "HS256"


def test_tokens_are_refused_when_expired_forged_or_missing_claims() -> None:
    now = datetime.now(UTC)
    service = JwtTokenService(STRONG_KEY, timedelta(minutes=30), FakeClock(now - timedelta(hours=1)))
    expired = service.issue(user()).token
    with pytest.raises(AuthenticationFailed, match="expired"):
        service.decode(expired)
    for claims in (
        {"sub": "7", "iat": now, "exp": now + timedelta(minutes=5)},  # no credentials version
        {"sub": "x", "iat": now, "exp": now + timedelta(minutes=5), "cv": 0},
        {"iat": now, "exp": now + timedelta(minutes=5), "cv": 0},
    ):
        with pytest.raises(AuthenticationFailed):
            service.decode(jwt.encode(claims, STRONG_KEY, algorithm="HS256"))


def test_a_token_verified_once_still_expires_on_time() -> None:
    # The second decode is answered from the verified tokens; expiry must still be checked on it.
    lifetime = timedelta(minutes=30)
    issued_at = datetime.now(UTC) - lifetime + timedelta(seconds=1.5)
    service = JwtTokenService(STRONG_KEY, lifetime, FakeClock(issued_at))
    token = service.issue(user()).token
    assert service.decode(token).user_id == 7
    assert service.decode(token).user_id == 7
    time.sleep(1.6)
    with pytest.raises(AuthenticationFailed, match="expired"):
        service.decode(token)
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    with pytest.raises(AuthenticationFailed, match="invalid"):
        service.decode(tampered)


@pytest.mark.parametrize(
    ("sub", "cv"),
    [
        (str(2**70), 0),
        (str(2**31), 0),
        ("0", 0),
        ("07", 0),
        ("7 ", 0),
        ("+7", 0),
        ("1_0", 0),
        ("\u0667", 0),  # ARABIC-INDIC DIGIT SEVEN: int() reads it as 7
        ("7", 0.5),
        ("7", 0.0),
        ("7", True),
        ("7", "0"),
        ("7", -1),
        ("7", 2**70),
    ],
)
def test_tokens_with_claims_it_never_issues_are_refused(sub: object, cv: object) -> None:
    now = datetime.now(UTC)
    service = JwtTokenService(STRONG_KEY, timedelta(minutes=30), FakeClock(now))
    claims = {"sub": sub, "iat": now, "exp": now + timedelta(minutes=5), "cv": cv}
    with pytest.raises(AuthenticationFailed, match="invalid"):
        service.decode(jwt.encode(claims, STRONG_KEY, algorithm="HS256"))


def test_the_largest_user_id_and_version_are_accepted() -> None:
    now = datetime.now(UTC)
    service = JwtTokenService(STRONG_KEY, timedelta(minutes=30), FakeClock(now))
    largest = 2**31 - 1
    claims = service.decode(service.issue(User("a@example.com", "A", "h", id=largest, credentials_version=largest)).token)
    assert (claims.user_id, claims.credentials_version) == (largest, largest)


def test_a_short_signing_key_is_refused() -> None:
    with pytest.raises(ValueError, match="32"):
        JwtTokenService("short", timedelta(minutes=5), FakeClock(datetime.now(UTC)))


def test_secrets_are_long_and_distinct() -> None:
    secrets = UrlSafeSecrets()
    first, second = secrets.new_secret(), secrets.new_secret()
    assert first != second and len(first) >= 43


# --- throttle -------------------------------------------------------------------------------------


def test_throttle_limits_each_kind_of_key_on_its_own() -> None:
    throttle = InMemoryLoginThrottle()  # the limits of both throttles: tests/contract/test_login_throttle_contract.py
    now = datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(30):  # a client may try 30 accounts in 15 minutes, then waits
        assert throttle.begin_attempt([f"account:{n}@example.com", "client:10.0.0.1"], now) is None
    assert throttle.begin_attempt(["account:new@example.com", "client:10.0.0.1"], now) == 15 * 60
    assert throttle.begin_attempt(["account:new@example.com", "client:10.0.0.2"], now) is None


def test_throttle_memory_is_bounded() -> None:
    throttle = InMemoryLoginThrottle(max_keys=10)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(100):
        throttle.begin_attempt([f"account:{i}@example.com"], now)
    assert len(throttle._attempts) == 10


def test_serve_runs_one_process_per_cpu_on_postgres_and_one_on_sqlite() -> None:
    assert default_workers("sqlite:///./incidentcore.db") == 1
    assert default_workers("postgresql://incidentcore@db.internal/incidentcore") == (os.cpu_count() or 1)


def test_the_database_pool_size_is_a_setting() -> None:
    assert Settings.from_mapping({}).database_pool_size == 10
    assert Settings.from_mapping({"DATABASE_POOL_SIZE": "40"}).database_pool_size == 40
    with pytest.raises(ConfigurationError, match="DATABASE_POOL_SIZE"):
        Settings.from_mapping({"DATABASE_POOL_SIZE": "0"})
