"""Throttling of logins, sign-ups, password recovery and resets over HTTP, from one client address or
many, with requests in parallel on the app's event loop."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from dishka import Provider, Scope, provide
from http_harness import *  # noqa: F403
from http_harness import PASSWORD, Api, make_api

from incidentcore.ports import LoginThrottle, Notifier
from incidentcore.services import NotificationDispatch
from incidentcore.testing import RecordingNotifier
from incidentcore.throttle import InMemoryLoginThrottle, Slowdown


class RecordingNotifierProvider(Provider):
    def __init__(self) -> None:
        super().__init__()
        self.notifier = RecordingNotifier()

    @provide(scope=Scope.APP)
    def recording(self) -> Notifier:
        return self.notifier


def in_parallel(api: Api, requests: list[tuple[str, dict[str, Any]]]) -> list[httpx.Response]:
    """POSTs all at once through the app (ASGI), on the event loop the app runs on."""
    return api.send_all([("testclient", "POST", path, arguments) for path, arguments in requests])


def test_parallel_wrong_logins_cannot_slip_past_the_limit(api: Api) -> None:
    user, _ = api.create_user()
    login = (
        "/v1/auth/login/access-token",
        {"data": {"username": user["email"], "password": "wrong password"}},
    )
    responses = in_parallel(api, [login] * 40)
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [401] * 5 + [429] * 35
    assert all(int(r.headers["retry-after"]) > 0 for r in responses if r.status_code == 429)


def test_password_recovery_sends_at_most_three_emails_per_address(
    http_backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    notifications = RecordingNotifierProvider()
    for api in make_api(http_backend, request, tmp_path, notifications):
        user, _ = api.create_user()
        answers = [api.client.post(f"/v1/auth/password-recovery/{user['email']}") for _ in range(5)]
        answers += in_parallel(api, [(f"/v1/auth/password-recovery/{user['email']}", {})] * 5)
        assert {answer.status_code for answer in answers} == {202}
        assert len({answer.text for answer in answers}) == 1  # throttled or not, the same answer
        api.use_case(NotificationDispatch, lambda dispatch: dispatch.run())
        assert [message.address for message in notifications.notifier.sent] == [user["email"]] * 3


# --- nobody can lock an account's owner out ------------------------------------------------------------

# The production slowdown, scaled down so the test is quick: none for 10 failures, then 0.05 s
# doubling to at most 0.2 s (production: 0.25 s doubling to 2 s; tests/contract/test_login_throttle_contract.py).
LONGEST_DELAY = 0.2


class QuickSlowdownProvider(Provider):
    @provide(scope=Scope.APP)
    def throttle(self) -> LoginThrottle:
        slowdown = Slowdown(free=10, window=timedelta(minutes=15), first=0.05, longest=LONGEST_DELAY)
        return InMemoryLoginThrottle(slowdowns={"account": slowdown})


def test_failures_from_many_addresses_never_lock_the_owner_out(
    http_backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    for api in make_api(http_backend, request, tmp_path, QuickSlowdownProvider()):
        user, _ = api.create_user()
        guess = {"data": {"username": user["email"], "password": "wrong password"}}
        guesses = [(f"198.51.100.{n}", "POST", "/v1/auth/login/access-token", guess) for n in range(20)]
        assert [r.status_code for r in api.send_all(guesses)] == [401] * 20
        assert [r.status_code for r in api.send_all(guesses[:5])] == [401] * 5  # still no lock

        started = time.monotonic()
        owner = api.send_from(
            "203.0.113.9", "POST", "/v1/auth/login/access-token",
            data={"username": user["email"], "password": PASSWORD},
        )
        took = time.monotonic() - started
        assert owner.status_code == 200
        assert LONGEST_DELAY <= took < LONGEST_DELAY + 2  # slowed, by a bounded delay


def test_one_address_is_still_refused_after_five_failures_for_an_account(api: Api) -> None:
    user, _ = api.create_user()
    login = "/v1/auth/login/access-token"
    wrong = {"data": {"username": user["email"], "password": "wrong password"}}
    answers = api.send_all([("198.51.100.1", "POST", login, wrong)] * 6)
    assert sorted(answer.status_code for answer in answers) == [401] * 5 + [429]
    right = {"username": user["email"], "password": PASSWORD}
    assert api.send_from("198.51.100.1", "POST", login, data=right).status_code == 429
    assert api.send_from("198.51.100.2", "POST", login, data=right).status_code == 200


# --- what an anonymous client may cost: sign-up, recovery and reset per address ------------------------


def ten_then_refused(api: Api, requests: list[tuple[str, str, str, dict[str, Any]]]) -> None:
    """The first ten from one address are answered; the eleventh is 429; another address is not."""
    answers = [api.send_from(*request[:3], **request[3]) for request in requests[:10]]
    assert all(answer.status_code != 429 for answer in answers), [a.status_code for a in answers]
    refused = api.send_from(*requests[10][:3], **requests[10][3])
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    assert refused.headers["content-type"].startswith("application/problem+json")
    elsewhere = api.send_from("203.0.113.9", *requests[10][1:3], **requests[10][3])
    assert elsewhere.status_code != 429


def test_sign_ups_are_limited_per_client_address(api: Api) -> None:
    ten_then_refused(api, [
        ("198.51.100.1", "POST", "/v1/auth/signup",
         {"json": {"email": f"user{n}@example.com", "password": PASSWORD, "full_name": "U"}})
        for n in range(11)
    ])


def test_password_recovery_is_limited_per_client_address(api: Api) -> None:
    ten_then_refused(api, [
        ("198.51.100.1", "POST", f"/v1/auth/password-recovery/user{n}@example.com", {}) for n in range(11)
    ])


def test_failed_password_resets_are_limited_per_client_address(api: Api) -> None:
    ten_then_refused(api, [
        ("198.51.100.1", "POST", "/v1/auth/reset-password/", {"json": {"token": f"guess-{n}", "new_password": "long enough"}})
        for n in range(11)
    ])


def test_parallel_resets_with_one_token_change_the_password_once(
    http_backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    notifications = RecordingNotifierProvider()
    for api in make_api(http_backend, request, tmp_path, notifications):
        user, _ = api.create_user()
        assert api.client.post(f"/v1/auth/password-recovery/{user['email']}").status_code == 202
        api.use_case(NotificationDispatch, lambda dispatch: dispatch.run())
        [message] = notifications.notifier.sent
        token = next(line.split(": ", 1)[1] for line in message.body.splitlines() if line.startswith("Reset token"))
        resets = [
            (f"198.51.100.{n}", "POST", "/v1/auth/reset-password/", {"json": {"token": token, "new_password": f"new password {n}"}})
            for n in range(6)
        ]
        answers = api.send_all(resets)
        assert sorted(answer.status_code for answer in answers) == [200] + [400] * 5
        [winner] = [n for n, answer in enumerate(answers) if answer.status_code == 200]
        assert api.login(user["email"], f"new password {winner}")
