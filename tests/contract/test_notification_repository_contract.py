"""NotificationRepository, the outbox: idempotent inserts, due claims with a lease, fenced results."""

from __future__ import annotations

from datetime import timedelta

import pytest
from entity_builders import LEASE, T0, UowFactory, page_for, stored_incident, stored_user

from incidentcore.model import Channel, Notification, NotificationStatus, Severity
from incidentcore.ports import DestinationLimit, Page

pytestmark = pytest.mark.anyio


async def incident_id(uow_factory: UowFactory) -> int:
    async with uow_factory() as uow:
        incident = await stored_incident(uow)
        await uow.commit()
    return incident.id


async def stored_pages(uow_factory: UowFactory, *pages: Notification) -> list[Notification]:
    async with uow_factory() as uow:
        inserted = await uow.notifications.add_new(pages)
        await uow.commit()
    return inserted


async def outbox(uow_factory: UowFactory, incident: int) -> dict[str, Notification]:
    async with uow_factory() as uow:
        return {
            n.idempotency_key: n for n in (await uow.notifications.list_for_incident(incident, Page())).items
        }


async def test_add_new_skips_keys_already_stored(uow_factory: UowFactory) -> None:
    incident = await incident_id(uow_factory)
    first = await stored_pages(
        uow_factory, page_for("a", incident_id=incident), page_for("b", incident_id=incident)
    )
    assert [n.idempotency_key for n in first] == ["a", "b"]
    assert all(n.id > 0 for n in first)

    again = [page_for(key, incident_id=incident, address="other") for key in ("b", "c", "c", "a", "d")]
    second = await stored_pages(uow_factory, *again)
    assert [n.idempotency_key for n in second] == ["c", "d"]
    assert second[0] is again[1]  # the first of the duplicates in one batch wins
    stored = await outbox(uow_factory, incident)
    assert sorted(stored) == ["a", "b", "c", "d"]
    assert stored["b"].address == "ann@example.com"  # never overwritten
    assert stored["c"] == again[1]
    assert await stored_pages(uow_factory) == []


async def test_a_new_page_is_pending_and_due_at_once(uow_factory: UowFactory) -> None:
    incident = await incident_id(uow_factory)
    (page,) = await stored_pages(uow_factory, page_for("a", incident_id=incident))
    stored = (await outbox(uow_factory, incident))["a"]
    assert stored == page
    assert stored.status is NotificationStatus.PENDING
    assert stored.next_attempt_at == T0
    assert stored.version == 0


async def test_list_for_incident_oldest_first(uow_factory: UowFactory) -> None:
    incident = await incident_id(uow_factory)
    other = await incident_id(uow_factory)
    later, earlier, _elsewhere = await stored_pages(
        uow_factory,
        page_for("later", incident_id=incident, at=T0 + timedelta(minutes=1)),
        page_for("earlier", incident_id=incident),
        page_for("elsewhere", incident_id=other),
    )
    async with uow_factory() as uow:
        listed = await uow.notifications.list_for_incident(incident, Page())
        first_only = await uow.notifications.list_for_incident(incident, Page(limit=1))
    assert listed.items == [earlier, later]
    assert first_only.items == [earlier]
    assert first_only.total == 2


async def test_claim_due_marks_sending_with_a_lease_and_bumps_the_version(uow_factory: UowFactory) -> None:
    incident = await incident_id(uow_factory)
    await stored_pages(uow_factory, page_for("a", incident_id=incident))
    now = T0 + timedelta(seconds=5)
    async with uow_factory() as uow:
        (claimed,) = await uow.notifications.claim_due(now, 10, LEASE)
        await uow.commit()
    assert claimed.status is NotificationStatus.SENDING
    assert claimed.attempts == 1
    assert claimed.next_attempt_at == now + LEASE  # the lease ends when it may be taken again
    assert claimed.version == 1
    assert (await outbox(uow_factory, incident))["a"] == claimed


async def test_claim_due_takes_only_what_is_due_earliest_first(uow_factory: UowFactory) -> None:
    incident = await incident_id(uow_factory)
    now = T0 + timedelta(minutes=10)
    await stored_pages(
        uow_factory,
        page_for("late", incident_id=incident, at=T0 + timedelta(minutes=2)),
        page_for("early", incident_id=incident),
        page_for("future", incident_id=incident, at=now + timedelta(seconds=1)),
        page_for(
            "retry-due",
            incident_id=incident,
            status=NotificationStatus.RETRYING,
            attempts=1,
            next_attempt_at=T0 + timedelta(minutes=1),
        ),
        page_for(
            "retry-later",
            incident_id=incident,
            status=NotificationStatus.RETRYING,
            attempts=1,
            next_attempt_at=now + timedelta(minutes=1),
        ),
        page_for("sent", incident_id=incident, status=NotificationStatus.SENT, attempts=1, sent_at=T0),
        page_for("failed", incident_id=incident, status=NotificationStatus.FAILED, attempts=3),
    )
    async with uow_factory() as uow:
        claimed = await uow.notifications.claim_due(now, 2, LEASE)
        rest = await uow.notifications.claim_due(now, 10, LEASE)
        nothing = await uow.notifications.claim_due(now, 0, LEASE)
        await uow.commit()
    assert [n.idempotency_key for n in claimed] == ["early", "retry-due"]
    assert [n.idempotency_key for n in rest] == ["late"]
    assert nothing == []


async def test_claim_due_takes_the_most_urgent_first_then_the_longest_due(uow_factory: UowFactory) -> None:
    incident = await incident_id(uow_factory)
    minutes = [timedelta(minutes=m) for m in range(5)]
    await stored_pages(
        uow_factory,
        page_for("low-oldest", incident_id=incident, urgency=Severity.LOW.urgency),
        page_for("high-new", incident_id=incident, at=T0 + minutes[3], urgency=Severity.HIGH.urgency),
        page_for("critical-new", incident_id=incident, at=T0 + minutes[4], urgency=Severity.CRITICAL.urgency),
        page_for("high-old", incident_id=incident, at=T0 + minutes[1], urgency=Severity.HIGH.urgency),
        page_for(
            "critical-retry",
            incident_id=incident,
            status=NotificationStatus.RETRYING,
            attempts=1,
            next_attempt_at=T0 + minutes[2],
            urgency=Severity.CRITICAL.urgency,
        ),
    )
    async with uow_factory() as uow:
        first = await uow.notifications.claim_due(T0 + minutes[4], 3, LEASE)
        rest = await uow.notifications.claim_due(T0 + minutes[4], 10, LEASE)
        await uow.commit()
    assert [n.idempotency_key for n in first] == ["critical-retry", "critical-new", "high-old"]
    assert [n.idempotency_key for n in rest] == ["high-new", "low-oldest"]
    assert all(n.urgency == Severity.CRITICAL.urgency for n in first[:2])


def webhook_page(key: str, incident: int, host: str, minute: int) -> Notification:
    return page_for(
        key,
        incident_id=incident,
        at=T0 + timedelta(minutes=minute),
        channel=Channel.WEBHOOK,
        address=f"https://{host}:8443/hook?key={key}",
    )


async def test_claim_due_passes_over_a_destination_at_its_limit(uow_factory: UowFactory) -> None:
    incident = await incident_id(uow_factory)
    hanging = [webhook_page(f"hang-{n}", incident, "Hanging.example", n) for n in range(12)]
    await stored_pages(
        uow_factory,
        *hanging,
        webhook_page("healthy", incident, "healthy.example", 20),
        page_for("email", incident_id=incident, at=T0 + timedelta(minutes=21)),
        page_for("email-2", incident_id=incident, at=T0 + timedelta(minutes=22)),
    )
    assert {n.destination for n in hanging} == {"hanging.example"}
    now = T0 + timedelta(hours=1)
    async with uow_factory() as uow:
        # The first ten due rows all go to one host: two are taken, the claim reaches past the rest.
        claimed = await uow.notifications.claim_due(now, 10, LEASE, DestinationLimit(2))
        await uow.commit()
    assert [n.idempotency_key for n in claimed] == ["hang-0", "hang-1", "healthy", "email", "email-2"]

    async with uow_factory() as uow:
        in_flight = DestinationLimit(2, {"hanging.example": 1, "healthy.example": 2})
        (one_more,) = await uow.notifications.claim_due(now, 10, LEASE, in_flight)
        full = await uow.notifications.claim_due(now, 10, LEASE, DestinationLimit(2, {"hanging.example": 2}))
        await uow.commit()
    assert one_more.idempotency_key == "hang-2"  # one slot left for the host, and nothing else is due
    assert full == []
    stored = await outbox(uow_factory, incident)
    waiting = [key for key, n in stored.items() if n.status is NotificationStatus.PENDING]
    assert sorted(waiting) == sorted(f"hang-{n}" for n in range(3, 12))  # passed over, not claimed
    assert all(stored[key].attempts == 0 and stored[key].version == 0 for key in waiting)


async def test_a_send_that_outlives_its_lease_is_claimed_again(uow_factory: UowFactory) -> None:
    incident = await incident_id(uow_factory)
    await stored_pages(uow_factory, page_for("a", incident_id=incident))
    async with uow_factory() as uow:
        (first,) = await uow.notifications.claim_due(T0, 10, LEASE)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.notifications.claim_due(T0 + LEASE - timedelta(seconds=1), 10, LEASE) == []
        (second,) = await uow.notifications.claim_due(T0 + LEASE, 10, LEASE)
        await uow.commit()
    assert second.id == first.id
    assert second.attempts == 2
    assert second.version == first.version + 1

    first.mark_sent(T0 + LEASE + timedelta(seconds=1))  # the first sender was only slow, not dead
    async with uow_factory() as uow:
        assert not await uow.notifications.record(first)  # fenced off: its claim is stale
        await uow.commit()
    assert (await outbox(uow_factory, incident))["a"] == second


async def test_a_released_claim_is_due_again_at_once_unless_it_was_claimed_since(
    uow_factory: UowFactory,
) -> None:
    incident = await incident_id(uow_factory)
    await stored_pages(uow_factory, page_for("b", incident_id=incident), page_for("a", incident_id=incident))
    async with uow_factory() as uow:
        (b,) = await uow.notifications.claim_due(T0, 1, LEASE)
        await uow.commit()
    async with uow_factory() as uow:
        (a,) = await uow.notifications.claim_due(T0 + LEASE / 2, 1, LEASE)
        await uow.commit()
    async with uow_factory() as uow:
        (b_again,) = await uow.notifications.claim_due(T0 + LEASE, 10, LEASE)  # b's lease ran out
        await uow.commit()
    assert (a.idempotency_key, b_again.id) == ("a", b.id)
    stopping = T0 + LEASE + timedelta(seconds=3)
    async with uow_factory() as uow:
        a.release(stopping)
        b.release(stopping)
        assert await uow.notifications.record(a)
        assert not await uow.notifications.record(b)  # fenced: the other worker's claim stands
        await uow.commit()
    stored = await outbox(uow_factory, incident)
    assert stored["a"].status is NotificationStatus.PENDING
    assert stored["a"].next_attempt_at == stopping
    assert stored["a"].attempts == 1  # the interrupted attempt still counts toward the limit
    assert stored["b"] == b_again
    async with uow_factory() as uow:
        (retaken,) = await uow.notifications.claim_due(stopping, 10, LEASE)  # not a lease later
        assert retaken.id == a.id and retaken.attempts == 2


async def test_count_unsent_counts_the_outbox_by_status(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        assert await uow.notifications.count_unsent() == {
            NotificationStatus.PENDING: 0,
            NotificationStatus.RETRYING: 0,
            NotificationStatus.SENDING: 0,
        }
    incident = await incident_id(uow_factory)
    keys = ["sent", "failed", "retrying", "sending", "pending-1", "pending-2"]
    await stored_pages(uow_factory, *(page_for(key, incident_id=incident) for key in keys))
    cancelled = page_for("cancelled", incident_id=incident)
    cancelled.cancel("incident acknowledged")
    await stored_pages(uow_factory, cancelled)
    async with uow_factory() as uow:
        claimed = {n.idempotency_key: n for n in await uow.notifications.claim_due(T0, 4, LEASE)}
        await uow.commit()
        claimed["sent"].mark_sent(T0)
        claimed["failed"].mark_failed("no such user", T0, retry_at=None)
        claimed["retrying"].mark_failed("timed out", T0, retry_at=T0 + timedelta(minutes=1))
        for key in ("sent", "failed", "retrying"):
            assert await uow.notifications.record(claimed[key])
        await uow.commit()
        counts = await uow.notifications.count_unsent()
    assert counts == {
        NotificationStatus.PENDING: 2,
        NotificationStatus.RETRYING: 1,
        NotificationStatus.SENDING: 1,
    }


async def test_record_saves_a_result_for_the_current_claim(uow_factory: UowFactory) -> None:
    incident = await incident_id(uow_factory)
    await stored_pages(
        uow_factory, page_for("sent", incident_id=incident), page_for("retry", incident_id=incident)
    )
    async with uow_factory() as uow:
        sent, retry = await uow.notifications.claim_due(T0, 10, LEASE)
        await uow.commit()
        sent.mark_sent(T0 + timedelta(seconds=1))
        retry.mark_failed("smtp said no " * 200, T0 + timedelta(seconds=1), T0 + timedelta(minutes=1))
        assert await uow.notifications.record(sent)
        assert await uow.notifications.record(retry)
        await uow.commit()
    assert sent.version == 2

    stored = await outbox(uow_factory, incident)
    assert stored["sent"] == sent
    assert stored["sent"].status is NotificationStatus.SENT
    assert stored["sent"].next_attempt_at is None
    assert stored["retry"] == retry
    assert stored["retry"].status is NotificationStatus.RETRYING
    assert stored["retry"].last_error is not None
    assert len(stored["retry"].last_error) == 1000
    async with uow_factory() as uow:
        (retried,) = await uow.notifications.claim_due(T0 + timedelta(minutes=1), 10, LEASE)
        assert retried.idempotency_key == "retry"
        assert retried.attempts == 2


async def test_cancel_withdraws_the_waiting_pages_of_an_incident(uow_factory: UowFactory) -> None:
    incident = await incident_id(uow_factory)
    other = await incident_id(uow_factory)
    await stored_pages(
        uow_factory,
        page_for("pending", incident_id=incident),
        page_for(
            "retrying",
            incident_id=incident,
            status=NotificationStatus.RETRYING,
            attempts=1,
            last_error="smtp timed out",
            next_attempt_at=T0,
        ),
        page_for("sent", incident_id=incident, status=NotificationStatus.SENT, attempts=1, sent_at=T0),
        page_for("other", incident_id=other),
    )
    await stored_pages(uow_factory, page_for("sending", incident_id=incident, at=T0 - timedelta(minutes=1)))
    async with uow_factory() as uow:
        (sending,) = await uow.notifications.claim_due(T0 - timedelta(minutes=1), 1, LEASE)
        await uow.commit()
    assert sending.idempotency_key == "sending"

    async with uow_factory() as uow:
        cancelled = await uow.notifications.cancel_pending_for_incident(incident, "incident resolved")
        await uow.commit()

    stored = await outbox(uow_factory, incident)
    assert cancelled == [stored["pending"], stored["retrying"]]  # oldest first, as stored now
    for key, error in (("pending", None), ("retrying", "smtp timed out")):
        assert stored[key].status is NotificationStatus.CANCELLED
        assert stored[key].cancel_reason == "incident resolved"
        assert stored[key].last_error == error  # an earlier attempt's failure is kept, not overwritten
        assert stored[key].next_attempt_at is None
        assert stored[key].version == 1
    assert stored["sent"].status is NotificationStatus.SENT
    assert stored["sending"] == sending  # an in-flight send finishes and records its result
    assert (await outbox(uow_factory, other))["other"].status is NotificationStatus.PENDING
    async with uow_factory() as uow:
        claimable = await uow.notifications.claim_due(T0 + timedelta(hours=1), 10, LEASE)
        assert await uow.notifications.cancel_pending_for_incident(incident, "incident resolved") == []
    assert [n.idempotency_key for n in claimable] == ["sending", "other"]  # the cancelled stay put


async def test_was_paged_asks_for_one_user_on_one_incident(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        ann = await stored_user(uow)
        bob = await stored_user(uow, "bob@example.com")
        incident = await stored_incident(uow)
        other = await stored_incident(uow)
        await uow.notifications.add_new([page_for("a", incident_id=incident.id, user_id=ann.id)])
        await uow.notifications.add_new([page_for("b", incident_id=other.id, user_id=bob.id)])
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.notifications.was_paged(incident.id, ann.id)
        assert not await uow.notifications.was_paged(incident.id, bob.id)
        assert not await uow.notifications.was_paged(other.id, ann.id)


async def test_a_page_added_cancelled_is_stored_so_and_never_claimed(uow_factory: UowFactory) -> None:
    incident = await incident_id(uow_factory)
    withdrawn = page_for("withdrawn", incident_id=incident)
    withdrawn.cancel("incident acknowledged before the page could be sent")
    (inserted,) = await stored_pages(uow_factory, withdrawn)
    stored = (await outbox(uow_factory, incident))["withdrawn"]
    assert stored == inserted
    assert (stored.status, stored.cancel_reason, stored.next_attempt_at, stored.attempts) == (
        NotificationStatus.CANCELLED,
        "incident acknowledged before the page could be sent",
        None,
        0,
    )
    async with uow_factory() as uow:
        assert await uow.notifications.claim_due(T0 + timedelta(days=1), 10, LEASE) == []
