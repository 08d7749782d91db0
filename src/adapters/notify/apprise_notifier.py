"""Delivery through Apprise: one Apprise URL per message, built from the channel and its address.

Apprise URLs carry credentials (SMTP passwords, Twilio tokens, Slack webhook tokens), so they are
never logged, and failure reasons are scrubbed of them before they reach the outbox row.

Redirects are never followed (a 3xx answer is a failed send): the destination policy judged the
address a user gave, not wherever its server points next. Each plugin's socket timeouts are capped
at the send timeout, so a send the dispatcher has given up on does not hold an Apprise worker
thread for longer (a user's `rto=`/`cto=` cannot lengthen them).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Literal
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import apprise
from apprise.plugins.slack import NotifySlack

from incidentcore.model import Channel
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
    """Sends through Apprise. `unconfigured`, when given, takes the email and SMS messages whose
    provider (SMTP, Twilio) is not configured instead of failing them: development logs them."""

    def __init__(self, config: AppriseConfig | object | None = None, unconfigured: Notifier | None = None) -> None:
        if config is None:
            config = AppriseConfig()
        elif not isinstance(config, AppriseConfig):
            config = AppriseConfig.from_settings(config)
        self.config = config
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
        if self.unconfigured is not None and not self.configured(message.channel):
            await self.unconfigured.send(message)
            return
        channel = message.channel.value
        secrets = [s for s in (self.config.smtp_password, self.config.twilio_auth_token) if s]
        secrets += _url_secrets(message.address or "")
        try:
            url = self.apprise_url(message)
            plugin = apprise.Apprise.instantiate(url, asset=self._asset)
            if plugin is None:
                raise DeliveryFailed(f"{channel}: the address is not a usable Apprise URL", permanent=True)
            if message.channel is Channel.SLACK and not isinstance(plugin, NotifySlack):
                raise DeliveryFailed("slack: the address is not an Apprise Slack URL", permanent=True)
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

    def configured(self, channel: Channel) -> bool:
        """Whether the settings hold what `channel` needs (addresses aside)."""
        c = self.config
        if channel is Channel.EMAIL:
            return bool(c.smtp_host and c.smtp_from)
        if channel is Channel.SMS:
            return bool(c.twilio_account_sid and c.twilio_auth_token and c.twilio_phone_number)
        return True

    def apprise_url(self, message: OutgoingMessage) -> str:
        """The Apprise URL for `message`; DeliveryFailed (permanent) when its channel cannot send."""
        address = (message.address or "").strip()
        if message.channel is Channel.EMAIL:
            return self._email_url(address)
        if message.channel is Channel.SMS:
            return self._sms_url(address)
        if not address:
            raise DeliveryFailed(f"{message.channel.value}: no address configured", permanent=True)
        if message.channel is Channel.WEBHOOK:
            return webhook_url(address)
        if message.channel in (Channel.SLACK, Channel.APPRISE):
            return address
        raise DeliveryFailed(f"{message.channel.value}: unsupported channel", permanent=True)

    def _email_url(self, to: str) -> str:
        c = self.config
        if not (c.smtp_host and c.smtp_from):
            raise DeliveryFailed("email: SMTP is not configured (SMTP_HOST and SMTP_FROM)", permanent=True)
        if "@" not in to:
            raise DeliveryFailed("email: no email address to send to", permanent=True)
        auth = ""
        if c.smtp_user:
            auth = _q(c.smtp_user) + (f":{_q(c.smtp_password)}" if c.smtp_password else "") + "@"
        security = c.security
        scheme = "mailto" if security == "none" else "mailtos"
        query = {"from": c.smtp_from, "smtp": c.smtp_host}
        if security != "none":
            query["mode"] = security
        return f"{scheme}://{auth}{_host(c.smtp_host)}:{c.smtp_port}/{_q(to)}?{urlencode(query)}"

    def _sms_url(self, to: str) -> str:
        c = self.config
        if not (c.twilio_account_sid and c.twilio_auth_token and c.twilio_phone_number):
            raise DeliveryFailed(
                "sms: Twilio is not configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_PHONE_NUMBER)",
                permanent=True,
            )
        if not re.fullmatch(r"\+?[0-9 ()\-.]{5,}", to):
            raise DeliveryFailed("sms: no phone number to send to", permanent=True)
        return (
            f"twilio://{_q(c.twilio_account_sid)}:{_q(c.twilio_auth_token)}"
            f"@{_q(_phone(c.twilio_phone_number))}/{_q(_phone(to))}"
        )


def webhook_url(address: str) -> str:
    """An http(s) URL as Apprise's JSON POST: http -> json://, https -> jsons://.

    Host, port, credentials and path stay as they are; each query parameter is passed with Apprise's
    `-name` prefix, which sends it on as a query parameter instead of reading it as an Apprise option.
    """
    parts = urlsplit(address)
    schemes = {"http": "json", "https": "jsons"}
    if parts.scheme.lower() not in schemes or not parts.hostname:
        raise DeliveryFailed("webhook: the address must be an http:// or https:// URL", permanent=True)
    query = urlencode([(f"-{k}", v) for k, v in parse_qsl(parts.query, keep_blank_values=True)])
    return f"{schemes[parts.scheme.lower()]}://{parts.netloc}{parts.path or '/'}" + (f"?{query}" if query else "")


def _url_secrets(url: str) -> list[str]:
    """The parts of an address that may be credentials: a password, and long token-like segments."""
    parts = urlsplit(url)
    candidates = [parts.password or "", *parts.path.split("/"), *(v for _, v in parse_qsl(parts.query))]
    return [c for c in candidates if len(c) >= 12 or (c and c == parts.password)]


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "***").replace(quote(secret, safe=""), "***")
    return text


def _q(value: str) -> str:
    return quote(value, safe="")


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _phone(number: str) -> str:
    digits = re.sub(r"[^0-9]", "", number)
    return f"+{digits}" if number.strip().startswith("+") else digits
