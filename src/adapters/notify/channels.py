"""The notification channels, one class each: the address it takes, the Apprise URL it sends through,
the settings it needs, and what the destination policy checks of its addresses.

Everything else (the notifier, the destination policy, the preferences use case through the
`ChannelAddresses` port) looks a channel up in `CHANNELS`. A new channel is a class here, listed in
`CHANNELS`, a member of `incidentcore.model.Channel`, and a migration for the CHECK constraints on
the channel columns (notification_preferences, notifications).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from enum import Enum
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from apprise.plugins.base import NotifyBase
from apprise.plugins.slack import NotifySlack

from incidentcore.errors import ValidationFailed
from incidentcore.model import Channel
from incidentcore.ports import ChannelAddresses, DeliveryFailed, InvalidAddress
from incidentcore.validation import normalise_email

if TYPE_CHECKING:
    from adapters.notify.apprise_notifier import AppriseConfig


class Reach(Enum):
    """What a channel's pages connect to, which decides what the destination policy checks: nothing
    for the operator's providers; the host of an http(s) URL; an Apprise URL's scheme (listed?) and
    the hosts its plugin connects to."""

    PROVIDER = "the operator's provider (SMTP server, Twilio)"
    HTTP_URL = "an http(s) URL the user chose"
    APPRISE_URL = "an Apprise URL the user chose"


class ChannelKind(ABC):
    channel: ClassVar[Channel]
    reach: ClassVar[Reach]
    # The Apprise plugin the channel's URLs must be sent with, when it is not any.
    plugin: ClassVar[type[NotifyBase] | None] = None

    def check_address(self, address: str) -> str:
        """`address` (stripped, not empty) as it is stored; raises InvalidAddress."""
        return address

    def configured(self, config: AppriseConfig) -> bool:
        """Whether the settings hold what the channel needs (addresses aside)."""
        return True

    @abstractmethod
    def apprise_url(self, address: str, config: AppriseConfig) -> str:
        """The Apprise URL a page to `address` goes through; DeliveryFailed (permanent) when it cannot go."""


class EmailChannel(ChannelKind):
    channel = Channel.EMAIL
    reach = Reach.PROVIDER

    def check_address(self, address: str) -> str:
        try:
            return normalise_email(address)
        except ValidationFailed:
            raise InvalidAddress("is not a valid email address") from None

    def configured(self, config: AppriseConfig) -> bool:
        return bool(config.smtp_host and config.smtp_from)

    def apprise_url(self, address: str, config: AppriseConfig) -> str:
        if not (config.smtp_host and config.smtp_from):
            raise DeliveryFailed("email: SMTP is not configured (SMTP_HOST and SMTP_FROM)", permanent=True)
        if "@" not in address:
            raise DeliveryFailed("email: no email address to send to", permanent=True)
        auth = ""
        if config.smtp_user:
            auth = _q(config.smtp_user) + (f":{_q(config.smtp_password)}" if config.smtp_password else "") + "@"
        security = config.security
        scheme = "mailto" if security == "none" else "mailtos"
        query = {"from": config.smtp_from, "smtp": config.smtp_host}
        if security != "none":
            query["mode"] = security
        return f"{scheme}://{auth}{_host(config.smtp_host)}:{config.smtp_port}/{_q(address)}?{urlencode(query)}"


class SmsChannel(ChannelKind):
    """Through Twilio. Any address is saved: a number Twilio cannot take fails when it is paged."""

    channel = Channel.SMS
    reach = Reach.PROVIDER

    def configured(self, config: AppriseConfig) -> bool:
        return bool(config.twilio_account_sid and config.twilio_auth_token and config.twilio_phone_number)

    def apprise_url(self, address: str, config: AppriseConfig) -> str:
        sid, token, number = config.twilio_account_sid, config.twilio_auth_token, config.twilio_phone_number
        if not (sid and token and number):
            raise DeliveryFailed(
                "sms: Twilio is not configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_PHONE_NUMBER)",
                permanent=True,
            )
        if not re.fullmatch(r"\+?[0-9 ()\-.]{5,}", address):
            raise DeliveryFailed("sms: no phone number to send to", permanent=True)
        return f"twilio://{_q(sid)}:{_q(token)}@{_q(_phone(number))}/{_q(_phone(address))}"


class WebhookChannel(ChannelKind):
    """A JSON POST to an http(s) URL, sent as Apprise's json:// (http) or jsons:// (https).

    Host, port, credentials and path stay as they are; each query parameter is passed with Apprise's
    `-name` prefix, which sends it on as a query parameter instead of reading it as an Apprise option.
    """

    channel = Channel.WEBHOOK
    reach = Reach.HTTP_URL
    SCHEMES: ClassVar[Mapping[str, str]] = {"http": "json", "https": "jsons"}

    def check_address(self, address: str) -> str:
        if http_url_host(address) is None:
            raise InvalidAddress("a webhook address must be an http(s) URL")
        return address

    def apprise_url(self, address: str, config: AppriseConfig) -> str:
        if not address:
            raise DeliveryFailed("webhook: no address configured", permanent=True)
        if http_url_host(address) is None:
            raise DeliveryFailed("webhook: the address must be an http:// or https:// URL", permanent=True)
        parts = urlsplit(address)
        query = urlencode([(f"-{k}", v) for k, v in parse_qsl(parts.query, keep_blank_values=True)])
        scheme = self.SCHEMES[parts.scheme.lower()]
        return f"{scheme}://{parts.netloc}{parts.path or '/'}" + (f"?{query}" if query else "")


class AppriseChannel(ChannelKind):
    """Any Apprise URL (the destination policy decides which schemes): sent as it is."""

    channel = Channel.APPRISE
    reach = Reach.APPRISE_URL

    def check_address(self, address: str) -> str:
        if "://" not in address:
            raise InvalidAddress("must be an Apprise URL such as slack://...")
        return address

    def apprise_url(self, address: str, config: AppriseConfig) -> str:
        if not address:
            raise DeliveryFailed(f"{self.channel.value}: no address configured", permanent=True)
        return address


class SlackChannel(AppriseChannel):
    """An Apprise URL that Apprise sends with its Slack plugin (slack://... or a hooks.slack.com URL)."""

    channel = Channel.SLACK
    plugin = NotifySlack


class Channels(ChannelAddresses, Mapping[Channel, ChannelKind]):
    """Every channel's class, by its `Channel`; exactly one each."""

    def __init__(self, kinds: Iterable[ChannelKind]) -> None:
        self._kinds: dict[Channel, ChannelKind] = {}
        for kind in kinds:
            if kind.channel in self._kinds:
                raise ValueError(f"two classes for the {kind.channel.value} channel")
            self._kinds[kind.channel] = kind
        if missing := set(Channel) - set(self._kinds):
            raise ValueError(f"no class for the {', '.join(sorted(c.value for c in missing))} channel")

    def __getitem__(self, channel: Channel) -> ChannelKind:
        return self._kinds[channel]

    def __iter__(self) -> Iterator[Channel]:
        return iter(self._kinds)

    def __len__(self) -> int:
        return len(self._kinds)

    def check(self, channel: Channel, address: str) -> str:
        return self[channel].check_address(address)


CHANNELS = Channels([EmailChannel(), SmsChannel(), SlackChannel(), WebhookChannel(), AppriseChannel()])


def http_url_host(address: str) -> str | None:
    """The host of an http(s) URL; None when `address` is not one."""
    try:
        parts = urlsplit(address.strip())
        host = parts.hostname
    except ValueError:
        return None
    return host if parts.scheme.lower() in WebhookChannel.SCHEMES and host else None


def _q(value: str) -> str:
    return quote(value, safe="")


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _phone(number: str) -> str:
    digits = re.sub(r"[^0-9]", "", number)
    return f"+{digits}" if number.strip().startswith("+") else digits
