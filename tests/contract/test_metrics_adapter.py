"""The metered unit of work counts what a transaction did only once it commits, on every backend; the
operating settings have safe defaults and refuse bad values by name."""

from __future__ import annotations

import pytest
from entity_builders import LEASE, T0, UowFactory, page_for, stored_incident, stored_team
from prometheus_client import REGISTRY

from adapters.metrics import MeteredUnitOfWork, source_label
from entrypoints.settings import ConfigurationError, LogFormat, Settings
from incidentcore.model import Channel, Severity

pytestmark = pytest.mark.anyio


def opened(team: str, severity: str, source: str) -> float:
    labels = {"team": team, "severity": severity, "source": source}
    return REGISTRY.get_sample_value("incidentcore_incidents_opened_total", labels) or 0.0


def finished(status: str) -> float:
    labels = {"channel": Channel.EMAIL.value, "status": status}
    return REGISTRY.get_sample_value("incidentcore_pages_total", labels) or 0.0


async def test_counts_come_with_the_commit_and_go_with_a_rollback(uow_factory: UowFactory) -> None:
    async with uow_factory() as setup:
        team = await stored_team(setup)
        await setup.commit()
    label = str(team.id)
    before = opened(label, "critical", "elastic")

    async with MeteredUnitOfWork(uow_factory()) as uow:
        await stored_incident(uow, team_id=team.id, severity=Severity.CRITICAL, source="elastic")
    assert opened(label, "critical", "elastic") == before  # left without a commit: rolled back

    async with MeteredUnitOfWork(uow_factory()) as uow:
        await stored_incident(uow, team_id=team.id, severity=Severity.CRITICAL, source="elastic")
        await uow.rollback()
        await uow.commit()  # nothing left to commit
    assert opened(label, "critical", "elastic") == before

    async with MeteredUnitOfWork(uow_factory()) as uow:
        incident = await stored_incident(uow, team_id=team.id, severity=Severity.CRITICAL, source="elastic")
        assert opened(label, "critical", "elastic") == before  # not before the commit
        await uow.commit()
    assert opened(label, "critical", "elastic") == before + 1

    cancelled, sent = finished("cancelled"), finished("sent")
    async with MeteredUnitOfWork(uow_factory()) as uow:
        await uow.notifications.add_new([page_for("a", incident_id=incident.id), page_for("b", incident_id=incident.id)])
        await uow.commit()
        (claimed,) = await uow.notifications.claim_due(T0, 1, LEASE)
        await uow.commit()
        claimed.mark_sent(T0)
        assert await uow.notifications.record(claimed)
        assert await uow.notifications.cancel_pending_for_incident(incident.id, "incident acknowledged")
        await uow.commit()
    assert (finished("sent"), finished("cancelled")) == (sent + 1, cancelled + 1)


def test_source_labels_are_names_the_code_gives() -> None:
    assert [source_label(s) for s in (None, "elastic", "events", "heartbeat")] == ["manual", "elastic", "events", "heartbeat"]
    assert source_label("Payload Source: db-1.example.com") == "other"
    assert source_label("x" * 33) == "other"


def test_operating_settings_default_safely_and_refuse_bad_values() -> None:
    settings = Settings.from_mapping({})
    assert settings.metrics_enabled and settings.metrics_token is None
    assert (settings.worker_metrics_host, settings.worker_metrics_port) == ("127.0.0.1", 8001)
    assert settings.log_format is LogFormat.TEXT and settings.shutdown_grace_seconds == 20
    custom = Settings.from_mapping(
        {"METRICS_TOKEN": "t0ken", "LOG_FORMAT": "JSON", "SHUTDOWN_GRACE_SECONDS": "45", "WORKER_METRICS_PORT": "0"}
    )
    assert (custom.metrics_token, custom.log_format, custom.shutdown_grace_seconds) == ("t0ken", LogFormat.JSON, 45)
    assert custom.worker_metrics_port == 0 and "t0ken" not in repr(custom)
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_mapping(
            {"LOG_FORMAT": "xml", "METRICS_ENABLED": "maybe", "SHUTDOWN_GRACE_SECONDS": "-1", "WORKER_METRICS_PORT": "70000"}
        )
    for name in ("LOG_FORMAT", "METRICS_ENABLED", "SHUTDOWN_GRACE_SECONDS", "WORKER_METRICS_PORT"):
        assert name in str(refused.value)
