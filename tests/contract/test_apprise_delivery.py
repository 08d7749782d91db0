"""The Apprise notifier against real local servers: webhook POSTs over HTTP, email over SMTP (the
Apprise URL each channel builds: test_notification_channels.py).

Also end to end through NotificationDispatch on the in-memory adapters: a refused connection is
recorded as `retrying`, then `failed` with a `notification_failed` timeline event.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest
from capture_server import CaptureServer, SmtpCapture, closed_port

from adapters.notify.apprise_notifier import AppriseConfig, AppriseNotifier
from adapters.notify.retry import ExponentialBackoff
from incidentcore.escalation import EscalationStep, Target, TargetType
from incidentcore.model import Channel, EscalationPolicy, NotificationStatus, TimelineKind
from incidentcore.ports import DeliveryFailed, OutgoingMessage, Page
from incidentcore.services import NewIncident
from incidentcore.testing import RecordingNotifier
from incidentcore.testing.world import InMemoryServices

pytestmark = pytest.mark.anyio
ALL = Page(limit=500)


@pytest.fixture
def capture() -> Iterator[CaptureServer]:
    with CaptureServer() as server:
        yield server


def message(channel: Channel, address: str | None) -> OutgoingMessage:
    return OutgoingMessage(
        channel, address, "[HIGH] Incident #7: db down", "Incident #7 is triggered\nTeam: ops"
    )


# --- the notifier alone ---------------------------------------------------------------------------------


async def test_webhook_is_a_json_post_keeping_path_and_query(capture: CaptureServer) -> None:
    await AppriseNotifier().send(message(Channel.WEBHOOK, f"{capture.url}/hooks/pager?team=ops&key=a%2Fb"))
    (request,) = capture.snapshot()
    assert (request.method, request.path) == ("POST", "/hooks/pager?team=ops&key=a%2Fb")
    assert request.headers["Content-Type"] == "application/json"
    body = request.json()
    assert (body["title"], body["message"]) == (
        "[HIGH] Incident #7: db down",
        "Incident #7 is triggered\nTeam: ops",
    )


async def test_webhook_basic_auth_credentials_are_kept(capture: CaptureServer) -> None:
    await AppriseNotifier().send(message(Channel.WEBHOOK, f"http://bot:s3cret@127.0.0.1:{capture.port}/x"))
    (request,) = capture.snapshot()
    assert request.headers["Authorization"] == "Basic Ym90OnMzY3JldA=="


async def test_an_http_error_status_is_a_transient_failure(capture: CaptureServer) -> None:
    capture.status = 503
    with pytest.raises(DeliveryFailed) as failed:
        await AppriseNotifier().send(message(Channel.WEBHOOK, f"{capture.url}/down"))
    assert not failed.value.permanent
    assert "503" in failed.value.reason


async def test_the_apprise_channel_takes_any_apprise_url(capture: CaptureServer) -> None:
    await AppriseNotifier().send(message(Channel.APPRISE, f"json://127.0.0.1:{capture.port}/raw"))
    assert [r.path for r in capture.snapshot()] == ["/raw"]


async def test_email_goes_through_the_smtp_settings() -> None:
    with SmtpCapture() as smtp:
        config = AppriseConfig(smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_from="pager@example.com")
        await AppriseNotifier(config).send(message(Channel.EMAIL, "alice@example.com"))
    (mail,) = smtp.mails
    assert (mail.sender, mail.recipients) == ("pager@example.com", ["alice@example.com"])
    assert "Subject: [HIGH] Incident #7: db down" in mail.data
    assert "Incident #7 is triggered" in mail.data


@pytest.mark.parametrize(
    ("channel", "address", "reason"),
    [
        (Channel.EMAIL, "alice@example.com", "SMTP is not configured"),
        (Channel.SMS, "+15550001", "Twilio is not configured"),
        (Channel.WEBHOOK, None, "no address"),
        (Channel.SLACK, "", "no address"),
        (Channel.APPRISE, None, "no address"),
        (Channel.SLACK, "json://example.com/not-slack", "not an Apprise Slack URL"),
        (Channel.APPRISE, "nosuchscheme://x", "not a usable Apprise URL"),
        (Channel.WEBHOOK, "gopher://example.com", "must be an http"),
    ],
)
async def test_an_unconfigured_channel_fails_permanently_with_a_clear_reason(
    channel: Channel, address: str | None, reason: str
) -> None:
    with pytest.raises(DeliveryFailed) as failed:
        await AppriseNotifier(AppriseConfig()).send(message(channel, address))
    assert failed.value.permanent
    assert reason in failed.value.reason


async def test_unconfigured_email_and_sms_can_go_to_a_fallback_while_webhooks_stay_real(
    capture: CaptureServer,
) -> None:
    fallback = RecordingNotifier()
    notifier = AppriseNotifier(AppriseConfig(), unconfigured=fallback)
    await notifier.send(message(Channel.EMAIL, "alice@example.com"))
    await notifier.send(message(Channel.SMS, "+15550001"))
    await notifier.send(message(Channel.WEBHOOK, f"{capture.url}/hook"))
    assert [m.channel for m in fallback.sent] == [Channel.EMAIL, Channel.SMS]
    assert [r.path for r in capture.snapshot()] == ["/hook"]


async def test_secrets_stay_out_of_failure_reasons_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    port = closed_port()
    config = AppriseConfig(
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_user="pager",
        smtp_password="smtp-hunter2",
        smtp_from="p@x.io",
    )
    notifier = AppriseNotifier(config)
    reasons = []
    for channel, address in [
        (Channel.EMAIL, "a@example.com"),
        (Channel.WEBHOOK, f"http://bot:webhook-hunter2@127.0.0.1:{port}/hook"),
        (Channel.APPRISE, f"json://bot:apprise-hunter2@127.0.0.1:{port}/tok-abcdefghijklmnop"),
    ]:
        with pytest.raises(DeliveryFailed) as failed:
            await notifier.send(message(channel, address))
        assert not failed.value.permanent
        reasons.append(failed.value.reason)
    everything = "\n".join([*reasons, caplog.text])
    for secret in ("hunter2", "tok-abcdefghijklmnop"):
        assert secret not in everything


async def test_an_exception_inside_apprise_becomes_a_transient_delivery_failure(
    monkeypatch: pytest.MonkeyPatch, capture: CaptureServer
) -> None:
    async def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("plugin bug near token-abcdefghijklmnop")

    monkeypatch.setattr("apprise.Apprise.async_notify", explode)
    with pytest.raises(DeliveryFailed) as failed:
        await AppriseNotifier().send(
            message(Channel.APPRISE, f"json://127.0.0.1:{capture.port}/token-abcdefghijklmnop")
        )
    assert not failed.value.permanent
    assert failed.value.reason == "apprise: RuntimeError: plugin bug near ***"


# --- through the dispatcher --------------------------------------------------------------------------------


async def paging_world(address: str) -> tuple[InMemoryServices, int]:
    """One user paged by webhook at `address` by a one-step policy; returns the world and an incident id."""
    world = InMemoryServices()
    world.notifier = AppriseNotifier(AppriseConfig())  # type: ignore[assignment]
    admin = await world.admin()
    await world.preferences.set_for(
        admin, admin.id, Channel.WEBHOOK, enabled=True, address=address, min_severity=None
    )
    step = EscalationStep(30, (Target(TargetType.USER, user_id=admin.id),))
    await world.policies.create(admin, EscalationPolicy("webhook", (step,)))
    incident = await world.incidents.open(admin, NewIncident("checkout is down"))
    return world, incident.id


async def test_a_page_reaches_the_webhook_and_is_recorded_sent(capture: CaptureServer) -> None:
    world, incident_id = await paging_world(f"{capture.url}/pager")
    await world.run_worker()
    (request,) = capture.snapshot()
    assert request.json()["title"] == f"[HIGH] Incident #{incident_id}: checkout is down"
    assert f"/v1/incidents/{incident_id}/acknowledge" in request.json()["message"]
    admin = await world.admin()
    (row,) = (await world.incidents.notifications(admin, incident_id, ALL)).items
    assert (row.status, row.attempts, row.last_error) == (NotificationStatus.SENT, 1, None)
    kinds = [e.kind for e in (await world.incidents.timeline(admin, incident_id, ALL)).items]
    assert TimelineKind.NOTIFIED in kinds


async def test_a_refused_connection_is_retried_then_fails_visibly() -> None:
    world, incident_id = await paging_world(f"http://127.0.0.1:{closed_port()}/pager")
    world.retry = ExponentialBackoff(timedelta(seconds=30), max_attempts=2, jitter="none")  # type: ignore[assignment]
    admin = await world.admin()

    await world.run_worker()
    (row,) = (await world.incidents.notifications(admin, incident_id, ALL)).items
    assert (row.status, row.attempts) == (NotificationStatus.RETRYING, 1)
    assert row.last_error is not None and "connection" in row.last_error.lower()

    world.clock.advance(seconds=30)
    await world.run_worker()
    (row,) = (await world.incidents.notifications(admin, incident_id, ALL)).items
    assert (row.status, row.attempts, row.next_attempt_at) == (NotificationStatus.FAILED, 2, None)
    timeline = (await world.incidents.timeline(admin, incident_id, ALL)).items
    (failed,) = [e for e in timeline if e.kind is TimelineKind.NOTIFICATION_FAILED]
    assert failed.data["channel"] == "webhook" and "connection" in failed.data["error"].lower()
    assert TimelineKind.NOTIFIED not in [e.kind for e in timeline]
