"""Login and password-recovery throttling over HTTP, with requests in parallel on the app's event loop."""

from __future__ import annotations

import asyncio

import httpx
from dishka import Provider, Scope, provide
from http_harness import *  # noqa: F403

from incidentcore.ports import Notifier
from incidentcore.services import NotificationDispatch
from incidentcore.testing import RecordingNotifier


class RecordingNotifierProvider(Provider):
    def __init__(self) -> None:
        super().__init__()
        self.notifier = RecordingNotifier()

    @provide(scope=Scope.APP)
    def recording(self) -> Notifier:
        return self.notifier


def in_parallel(api, requests: list[tuple[str, dict]]) -> list[httpx.Response]:
    """POSTs all at once through the app (ASGI), on the event loop the app runs on."""

    async def send_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=api.client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await asyncio.gather(*(client.post(path, **kwargs) for path, kwargs in requests))

    return api.run(send_all)


def test_parallel_wrong_logins_cannot_slip_past_the_limit(api):
    user, _ = api.create_user()
    login = (
        "/v1/auth/login/access-token",
        {"data": {"username": user["email"], "password": "wrong password"}},
    )
    responses = in_parallel(api, [login] * 40)
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [401] * 5 + [429] * 35
    assert all(int(r.headers["retry-after"]) > 0 for r in responses if r.status_code == 429)


def test_password_recovery_sends_at_most_three_emails_per_address(http_backend, request, tmp_path):
    notifications = RecordingNotifierProvider()
    for api in make_api(http_backend, request, tmp_path, notifications):  # noqa: F405
        user, _ = api.create_user()
        answers = [api.client.post(f"/v1/auth/password-recovery/{user['email']}") for _ in range(5)]
        answers += in_parallel(api, [(f"/v1/auth/password-recovery/{user['email']}", {})] * 5)
        assert {answer.status_code for answer in answers} == {202}
        assert len({answer.text for answer in answers}) == 1  # throttled or not, the same answer
        api.use_case(NotificationDispatch, lambda dispatch: dispatch.run())
        assert [message.address for message in notifications.notifier.sent] == [user["email"]] * 3
