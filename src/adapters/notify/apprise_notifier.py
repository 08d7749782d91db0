"""Delivery through Apprise: one Apprise URL per message, built by its channel (channels.py).

Apprise URLs carry credentials (SMTP passwords, Twilio tokens, Slack webhook tokens), so they are
never logged, and failure reasons are scrubbed of them before they reach the outbox row.

Redirects are never followed (a 3xx answer is a failed send): the destination policy judged the
address a user gave, not wherever its server points next. Each plugin's socket timeouts are capped
at the send timeout, so a send the dispatcher has given up on does not hold an Apprise worker
thread for longer (a user's `rto=`/`cto=` cannot lengthen them).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Literal
from urllib.parse import parse_qsl, quote, urlsplit

import apprise

from adapters.notify.channels import CHANNELS
from incidentcore.ports import DeliveryFailed, Notifier, OutgoingMessage

logger = logging.getLogger("incidentcore.notify")

SmtpSecurity = Literal["ssl", "starttls", "none"]

# The longest one send may take (NOTIFICATION_SEND_TIMEOUT_SECONDS, which the dispatcher enforces).
SEND_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class AppriseConfig:
    """The settings the notifier reads; `from_settings` takes them from any settings-like object."""

    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_from: str | None = None
    smtp_security: SmtpSecurity | None = None  # None: by port (465 ssl, 587 starttls, other none)
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = field(default=None, repr=False)
    twilio_phone_number: str | None = None
    timeout_seconds: float = SEND_TIMEOUT_SECONDS  # under the dispatcher's lease: a slow send is not resent

    @classmethod
    def from_settings(cls, settings: object) -> AppriseConfig:
        values = {f.name: getattr(settings, f.name) for f in fields(cls) if hasattr(settings, f.name)}
        if hasattr(settings, "notification_send_timeout_seconds"):
            values["timeout_seconds"] = settings.notification_send_timeout_seconds
        return cls(**values)

    @property
    def security(self) -> SmtpSecurity:
        if self.smtp_security is not None:
            return self.smtp_security
        return {465: "ssl", 587: "starttls"}.get(self.smtp_port, "none")  # type: ignore[return-value]


class AppriseNotifier(Notifier):
    """Sends through Apprise. `unconfigured`, when given, takes the messages whose channel is not
    configured (email without SMTP, SMS without Twilio) instead of failing them: development logs them."""

    def __init__(self, config: AppriseConfig | None = None, unconfigured: Notifier | None = None) -> None:
        self.config = config if config is not None else AppriseConfig()
        self.unconfigured = unconfigured
        apprise_logger = logging.getLogger("apprise")
        if apprise_logger.level == logging.NOTSET:
            # Apprise's debug lines print request URLs, paths included (Slack tokens, webhook keys):
            # unless an operator configured its logger on purpose, a LOG_LEVEL=DEBUG must not show them.
            apprise_logger.setLevel(logging.WARNING)
        # In-memory persistent store: a worker never writes Apprise state to disk.
        self._asset = apprise.AppriseAsset(
            storage_mode=apprise.PersistentStoreMode.MEMORY, secure_logging=True, http_redirects=False
        )

    async def send(self, message: OutgoingMessage) -> None:
        kind = CHANNELS[message.channel]
        if self.unconfigured is not None and not kind.configured(self.config):
            await self.unconfigured.send(message)
            return
        channel = message.channel.value
        secrets = [s for s in (self.config.smtp_password, self.config.twilio_auth_token) if s]
        secrets += _url_secrets(message.address or "")
        try:
            url = kind.apprise_url((message.address or "").strip(), self.config)
            plugin = apprise.Apprise.instantiate(url, asset=self._asset)
            if plugin is None:
                raise DeliveryFailed(f"{channel}: the address is not a usable Apprise URL", permanent=True)
            if kind.plugin is not None and not isinstance(plugin, kind.plugin):
                wanted = kind.plugin.service_name
                raise DeliveryFailed(f"{channel}: the address is not an Apprise {wanted} URL", permanent=True)
            plugin.redirects = False
            timeout = self.config.timeout_seconds
            plugin.socket_connect_timeout = min(plugin.socket_connect_timeout, timeout)
            plugin.socket_read_timeout = min(plugin.socket_read_timeout, timeout)
            notifier = apprise.Apprise(asset=self._asset)
            notifier.add(plugin)
            result = await notifier.async_notify(
                body=message.body,
                title=message.subject,
                body_format=apprise.NotifyFormat.TEXT,
                timeout=self.config.timeout_seconds,
            )
            if not result:
                logs = "; ".join(entry.message for entry in result.logs())
                reason = f"{channel}: delivery failed ({result.status.name.lower()})"
                raise DeliveryFailed(_scrub(f"{reason}: {logs}" if logs else reason, secrets))
        except DeliveryFailed as failure:
            logger.info("notification via %s not delivered: %s", channel, failure.reason)
            raise
        except Exception as error:  # an Apprise or plugin bug must not take the worker down
            reason = _scrub(f"{channel}: {type(error).__name__}: {error}", secrets)
            logger.warning("notification via %s raised: %s", channel, reason)
            raise DeliveryFailed(reason) from None


def _url_secrets(url: str) -> list[str]:
    """The parts of an address that may be credentials: a password, and long token-like segments."""
    parts = urlsplit(url)
    candidates = [parts.password or "", *parts.path.split("/"), *(v for _, v in parse_qsl(parts.query))]
    return [c for c in candidates if len(c) >= 12 or (c and c == parts.password)]


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "***").replace(quote(secret, safe=""), "***")
    return text
