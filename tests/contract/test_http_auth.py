"""Sign-up, login, tokens, profile credentials and password recovery over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jwt
import pytest
from dishka import Provider, Scope, provide
from http_harness import *  # noqa: F403
from http_harness import ADMIN_EMAIL, PASSWORD, Api, make_api

from adapters.security import BcryptPasswordHasher
from incidentcore.ports import Notifier, PasswordHasher
from incidentcore.services import NotificationDispatch
from incidentcore.testing import RecordingNotifier

SECRET = "test-secret-key-that-is-long-enough-for-hs256-0123456789"


def signup(
    api: Api, email: str = "new@example.com", password: str = PASSWORD, full_name: str = "New Person"
) -> httpx.Response:
    return api.client.post("/v1/auth/signup", json={"email": email, "password": password, "full_name": full_name})


def login_response(api: Api, email: str, password: str) -> httpx.Response:
    return api.client.post("/v1/auth/login/access-token", data={"username": email, "password": password})


def test_signup_creates_a_plain_user(api: Api) -> None:
    response = signup(api)
    assert response.status_code == 201
    user = response.json()
    assert user["email"] == "new@example.com"
    assert (user["role"], user["team_id"], user["is_active"]) == ("user", None, True)
    assert user["created_at"].endswith(("Z", "+00:00"))
    assert "password" not in response.text and "hash" not in response.text


def test_signup_of_a_taken_email_is_a_conflict(api: Api) -> None:
    assert signup(api).status_code == 201
    assert signup(api, email="NEW@example.com").status_code == 409


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "a@example.com", "password": "short", "full_name": "A"}, "password"),
        ({"email": "not-an-email", "password": PASSWORD, "full_name": "A"}, "email"),
        ({"email": "a@example.com", "password": PASSWORD, "full_name": " "}, "full_name"),
        ({"email": "a@example.com", "password": PASSWORD}, "full_name"),
        ({"email": "a@example.com", "password": PASSWORD, "full_name": "A", "role": "admin"}, "role"),
    ],
)
def test_signup_rejects_bad_input_naming_the_field(api: Api, body: dict[str, str], field: str) -> None:
    response = api.client.post("/v1/auth/signup", json=body)
    assert response.status_code == 400
    assert field in [error["field"] for error in response.json()["errors"]]


def test_login_returns_a_bearer_token(api: Api) -> None:
    signup(api)
    response = login_response(api, "new@example.com", PASSWORD)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] > 0
    claims = jwt.decode(body["access_token"], SECRET, algorithms=["HS256"])
    assert {"exp", "iat", "sub"} <= claims.keys()


def test_login_answers_the_same_for_unknown_email_and_wrong_password(api: Api) -> None:
    signup(api)
    unknown = login_response(api, "nobody@example.com", PASSWORD)
    wrong = login_response(api, "new@example.com", "wrong password")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()
    assert unknown.headers["www-authenticate"] == wrong.headers["www-authenticate"] == "Bearer"


def test_login_form_needs_username_and_password(api: Api) -> None:
    response = api.client.post("/v1/auth/login/access-token", data={"username": "a@example.com"})
    assert response.status_code == 400


def test_repeated_failed_logins_are_throttled_per_account_and_client_address(api: Api) -> None:
    signup(api)
    for _ in range(5):
        assert login_response(api, "new@example.com", "wrong password").status_code == 401
    blocked = login_response(api, "new@example.com", PASSWORD)
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0
    assert blocked.headers["content-type"].startswith("application/problem+json")
    login = {"username": "new@example.com", "password": PASSWORD}
    assert api.send_from("192.0.2.7", "POST", "/v1/auth/login/access-token", data=login).status_code == 200


def test_test_token_returns_the_current_user(api: Api) -> None:
    response = api.client.post("/v1/auth/login/test-token", headers=api.admin_headers)
    assert response.status_code == 200
    assert response.json()["email"] == ADMIN_EMAIL


def forged(claims: dict[str, object], key: str = SECRET, algorithm: str = "HS256") -> dict[str, str]:
    return {"Authorization": f"Bearer {jwt.encode(claims, key, algorithm=algorithm)}"}


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_bad_tokens_are_401_with_www_authenticate(api: Api) -> None:
    now = datetime.now(UTC)
    valid = {"sub": str(api.admin_id), "iat": now, "exp": now + timedelta(minutes=5), "cv": 0}
    assert api.client.get("/v1/users/me", headers=forged(valid)).status_code == 200
    admin = str(api.admin_id)
    cases = {
        # Validly signed, but claims `issue` never writes: each must be 401, never 500 or a match.
        "sub 2**70": forged({**valid, "sub": str(2**70)}),
        "sub 2**63": forged({**valid, "sub": str(2**63)}),
        "sub 2**40": forged({**valid, "sub": str(2**40)}),
        "sub 2**31": forged({**valid, "sub": str(2**31)}),
        "sub 0": forged({**valid, "sub": "0"}),
        "sub -1": forged({**valid, "sub": "-1"}),
        "sub +id": forged({**valid, "sub": "+" + admin}),
        "sub 0id": forged({**valid, "sub": "0" + admin}),
        "sub spaced": forged({**valid, "sub": f" {admin} "}),
        "sub underscored": forged({**valid, "sub": "1_0"}),
        "sub other digits": forged({**valid, "sub": "\u0661"}),  # ARABIC-INDIC DIGIT ONE: int() takes it
        "sub 5000 digits": forged({**valid, "sub": "1" * 5000}),
        "sub number": forged({**valid, "sub": api.admin_id}),
        "cv 0.5": forged({**valid, "cv": 0.5}),
        "cv 0.0": forged({**valid, "cv": 0.0}),
        "cv false": forged({**valid, "cv": False}),
        "cv text": forged({**valid, "cv": "0"}),
        "cv -1": forged({**valid, "cv": -1}),
        "cv 2**70": forged({**valid, "cv": 2**70}),
        "cv null": forged({**valid, "cv": None}),
        "missing": {},
        "not a jwt": {"Authorization": "Bearer not-a-token"},
        "wrong scheme": {"Authorization": api.admin_headers["Authorization"].replace("Bearer", "Basic")},
        "expired": forged({**valid, "iat": now - timedelta(hours=2), "exp": now - timedelta(hours=1)}),
        "wrong key": forged(valid, key="another-secret-key-that-is-long-enough-0123456789"),
        "wrong algorithm": forged(valid, algorithm="HS512"),
        "no exp": forged({k: v for k, v in valid.items() if k != "exp"}),
        "unknown user": forged({**valid, "sub": "999999"}),
        "none algorithm": {"Authorization": "Bearer " + jwt.encode(valid, None, algorithm="none")},
    }
    for name, headers in cases.items():
        response = api.client.get("/v1/users/me", headers=headers)
        assert response.status_code == 401, name
        assert response.headers["www-authenticate"] == "Bearer", name
        assert response.headers["content-type"].startswith("application/problem+json"), name


def test_tokens_die_when_the_password_changes(api: Api) -> None:
    user, headers = api.create_user()
    body = {"password": "a brand new password", "current_password": PASSWORD}
    response = api.client.put("/v1/users/me", json=body, headers=headers)
    assert response.status_code == 200
    assert api.client.get("/v1/users/me", headers=headers).status_code == 401
    assert api.login(user["email"], "a brand new password")


def test_tokens_die_when_the_user_is_deactivated(api: Api) -> None:
    user, headers = api.create_user()
    response = api.client.put(f"/v1/users/{user['id']}", json={"is_active": False}, headers=api.admin_headers)
    assert response.status_code == 200
    assert api.client.get("/v1/users/me", headers=headers).status_code == 401
    assert login_response(api, user["email"], PASSWORD).status_code == 401


def test_password_recovery_answers_the_same_for_known_and_unknown_emails(api: Api) -> None:
    signup(api)
    known = api.client.post("/v1/auth/password-recovery/new@example.com")
    unknown = api.client.post("/v1/auth/password-recovery/nobody@example.com")
    malformed = api.client.post("/v1/auth/password-recovery/not-an-email")
    assert known.status_code == unknown.status_code == malformed.status_code == 202
    assert known.json() == unknown.json() == malformed.json()
    assert "message" in known.json()


class RecordingNotifierProvider(Provider):
    def __init__(self) -> None:
        super().__init__()
        self.notifier = RecordingNotifier()

    @provide(scope=Scope.APP)
    def recording(self) -> Notifier:
        return self.notifier


def mailed_reset_token(api: Api, notifications: RecordingNotifierProvider, email: str) -> str:
    """Asks for a reset token for `email` and reads it from the email sent."""
    assert api.client.post(f"/v1/auth/password-recovery/{email}").status_code == 202
    api.use_case(NotificationDispatch, lambda dispatch: dispatch.run())
    message = notifications.notifier.sent[-1]
    assert message.address == email
    return next(line.split(": ", 1)[1] for line in message.body.splitlines() if line.startswith("Reset token"))


def test_password_reset_with_the_token_sent_through_the_notifier(
    http_backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    notifications = RecordingNotifierProvider()
    for api in make_api(http_backend, request, tmp_path, notifications):
        user, headers = api.create_user()
        token = mailed_reset_token(api, notifications, user["email"])

        assert api.client.post("/v1/auth/reset-password/", json={"token": "wrong", "new_password": "new password 1"}).status_code == 400
        response = api.client.post("/v1/auth/reset-password/", json={"token": token, "new_password": "new password 1"})
        assert response.status_code == 200
        assert "message" in response.json()
        assert api.client.get("/v1/users/me", headers=headers).status_code == 401  # old tokens died
        assert api.login(user["email"], "new password 1")
        again = api.client.post("/v1/auth/reset-password/", json={"token": token, "new_password": "new password 2"})
        assert again.status_code == 400  # single use
        assert again.json()["errors"][0]["field"] == "token"


def test_reset_password_requires_a_long_enough_password(api: Api) -> None:
    response = api.client.post("/v1/auth/reset-password/", json={"token": "t", "new_password": "short"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "new_password"


def test_reset_password_also_answers_without_the_trailing_slash(api: Api) -> None:
    response = api.client.post("/v1/auth/reset-password", json={"token": "nope", "new_password": "long enough"})
    assert response.status_code == 400


# --- who may sign up ----------------------------------------------------------------------------------


def user_count(api: Api) -> int:
    total: int = api.client.get("/v1/users/", headers=api.admin_headers).json()["total"]
    return total


def test_a_closed_sign_up_is_403_and_makes_no_user(
    http_backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    for api in make_api(http_backend, request, tmp_path, settings_overrides={"SIGNUP_ENABLED": "false"}):
        response = signup(api)
        assert response.status_code == 403
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "sign-up is closed" in response.json()["detail"]
        assert user_count(api) == 1  # the admin
        assert login_response(api, "new@example.com", PASSWORD).status_code == 401
        created = api.client.post(  # admins still create users
            "/v1/users/", json={"email": "new@example.com", "password": PASSWORD, "full_name": "New"},
            headers=api.admin_headers,
        )
        assert created.status_code == 201


def test_sign_up_may_be_open_to_listed_domains_only(
    http_backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    overrides = {"SIGNUP_ALLOWED_DOMAINS": "example.com, Example.ORG"}
    for api in make_api(http_backend, request, tmp_path, settings_overrides=overrides):
        assert signup(api, email="Ada@EXAMPLE.org").status_code == 201
        assert signup(api, email="bob@example.com").status_code == 201
        for email in ("eve@evil.com", "eve@sub.example.com", "eve@example.com.evil.com"):
            response = signup(api, email=email)
            assert response.status_code == 403, email
            assert response.headers["content-type"].startswith("application/problem+json")
        assert user_count(api) == 3


def test_create_admin_works_in_production_where_sign_up_is_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from litestar.testing import TestClient

    from entrypoints.cli import main
    from entrypoints.http import create_app
    from entrypoints.settings import Settings

    environment = {
        "ENVIRONMENT": "production",
        "SECRET_KEY": SECRET + "-production",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'incidentcore.db'}",
        "WORKER_ENABLED": "false",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SIGNUP_ENABLED", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env from the checkout
    assert main(["create-admin", "--email", "root@example.com", "--password", "admin password"]) == 0
    settings = Settings.from_environment()
    assert not settings.signup_enabled
    with TestClient(create_app(settings)) as client:
        login = {"username": "root@example.com", "password": "admin password"}
        assert client.post("/v1/auth/login/access-token", data=login).status_code == 200
        body = {"email": "new@example.com", "password": PASSWORD, "full_name": "New"}
        assert client.post("/v1/auth/signup", json=body).status_code == 403


# --- a stolen token must not become the account for good --------------------------------------------


@pytest.mark.parametrize(
    "change", [{"password": "a brand new password"}, {"email": "moved@example.com"}], ids=["password", "email"]
)
def test_changing_email_or_password_needs_the_current_password(api: Api, change: dict[str, str]) -> None:
    user, headers = api.create_user()
    for current, message in (({}, "is required"), ({"current_password": "a wrong guess"}, "is not the current")):
        response = api.client.put("/v1/users/me", json={**change, **current}, headers=headers)
        assert response.status_code == 400
        [error] = response.json()["errors"]
        assert error["field"] == "current_password" and message in error["message"]
    assert api.client.get("/v1/users/me", headers=headers).json() == user  # nothing changed
    response = api.client.put("/v1/users/me", json={**change, "current_password": PASSWORD}, headers=headers)
    assert response.status_code == 200
    assert api.client.get("/v1/users/me", headers=headers).status_code == 401  # earlier tokens died
    email = change.get("email", user["email"])
    assert api.login(email, change.get("password", PASSWORD))


def test_a_new_name_needs_no_password(api: Api) -> None:
    user, headers = api.create_user()
    body = {"full_name": "Renamed", "email": user["email"].upper()}  # the same email, differently spelled
    response = api.client.put("/v1/users/me", json=body, headers=headers)
    assert response.status_code == 200
    assert response.json() == {**user, "full_name": "Renamed"}
    assert api.client.get("/v1/users/me", headers=headers).status_code == 200


def test_wrong_current_passwords_count_toward_the_login_throttle(api: Api) -> None:
    user, headers = api.create_user()
    guess = {"password": "a brand new password", "current_password": "a wrong guess"}
    for _ in range(5):
        assert api.client.put("/v1/users/me", json=guess, headers=headers).status_code == 400
    refused = api.client.put("/v1/users/me", json={**guess, "current_password": PASSWORD}, headers=headers)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    assert login_response(api, user["email"], PASSWORD).status_code == 429  # same address
    assert api.send_from("192.0.2.7", "POST", "/v1/auth/login/access-token",
                         data={"username": user["email"], "password": PASSWORD}).status_code == 200


# --- reset tokens end with every credential change ------------------------------------------------------


@pytest.mark.parametrize("change", ["another reset", "password change", "email change", "deactivation"])
def test_every_credential_change_ends_outstanding_reset_tokens(
    http_backend: str, request: pytest.FixtureRequest, tmp_path: Path, change: str
) -> None:
    notifications = RecordingNotifierProvider()
    for api in make_api(http_backend, request, tmp_path, notifications):
        user, headers = api.create_user()
        older = mailed_reset_token(api, notifications, user["email"])
        if change == "another reset":
            newer = mailed_reset_token(api, notifications, user["email"])
            reset = {"token": newer, "new_password": "the owner's new password"}
            assert api.client.post("/v1/auth/reset-password/", json=reset).status_code == 200
        elif change == "password change":
            body = {"password": "the owner's new password", "current_password": PASSWORD}
            assert api.client.put("/v1/users/me", json=body, headers=headers).status_code == 200
        elif change == "email change":
            body = {"email": "moved@example.com", "current_password": PASSWORD}
            assert api.client.put("/v1/users/me", json=body, headers=headers).status_code == 200
        else:
            path = f"/v1/users/{user['id']}"
            for active in (False, True):
                assert api.client.put(path, json={"is_active": active}, headers=api.admin_headers).status_code == 200

        stale = api.client.post("/v1/auth/reset-password/", json={"token": older, "new_password": "taken over!"})
        assert stale.status_code == 400
        assert stale.json()["errors"][0]["field"] == "token"
        email = "moved@example.com" if change == "email change" else user["email"]
        assert login_response(api, email, "taken over!").status_code == 401


# --- anonymous requests cost no hashing until they could succeed ----------------------------------------


class CountingHasher(PasswordHasher):
    def __init__(self) -> None:
        self.real = BcryptPasswordHasher(rounds=4)
        self.hashes = 0

    async def hash(self, password: str) -> str:
        self.hashes += 1
        return await self.real.hash(password)

    async def verify(self, password: str, password_hash: str | None) -> bool:
        return await self.real.verify(password, password_hash)


class CountingHasherProvider(Provider):
    def __init__(self) -> None:
        super().__init__()
        self.hasher = CountingHasher()

    @provide(scope=Scope.APP)
    def counting(self) -> PasswordHasher:
        return self.hasher


def test_a_made_up_reset_token_or_a_taken_email_costs_no_hashing(
    http_backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    counting = CountingHasherProvider()
    for api in make_api(http_backend, request, tmp_path, counting):
        assert signup(api).status_code == 201
        hashes = counting.hasher.hashes
        assert signup(api, email="NEW@example.com").status_code == 409
        made_up = {"token": "x" * 43, "new_password": "a new password"}
        assert api.client.post("/v1/auth/reset-password/", json=made_up).status_code == 400
        assert counting.hasher.hashes == hashes
