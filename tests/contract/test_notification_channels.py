"""The notification channels (adapters/notify/channels.py): one class per `Channel`, each judging its
addresses, building its Apprise URL and saying what it needs configured. The Apprise notifier sends
with them (test_apprise_delivery.py); the destination policy checks what they reach
(test_outbound_destinations.py)."""

from __future__ import annotations

import apprise
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.notify.apprise_notifier import AppriseConfig
from adapters.notify.channels import CHANNELS, Channels, EmailChannel, SmsChannel, http_url_host
from entrypoints.settings import Settings
from incidentcore.model import Channel
from incidentcore.ports import DeliveryFailed, InvalidAddress

CONFIGURED = AppriseConfig(
    smtp_host="smtp.example.com",
    smtp_port=465,
    smtp_user="pager@example.com",
    smtp_password="p@ss/word",
    smtp_from="Pager <pager@example.com>",
    twilio_account_sid="AC" + "a" * 32,
    twilio_auth_token="t" * 32,
    twilio_phone_number="+1 (555) 000-1111",
)

# An address each channel takes, as a user would save it.
TAKEN = {
    Channel.EMAIL: "bob@example.com",
    Channel.SMS: "+1 555 222 3333",
    Channel.SLACK: "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7F",
    Channel.WEBHOOK: "https://hooks.example.com/pager?team=ops",
    Channel.APPRISE: "discord://0123456789/abcdefghijklmnopqrstuvwxyz",
}


def test_every_channel_has_exactly_one_class() -> None:
    assert sorted(CHANNELS) == sorted(Channel)
    assert all(CHANNELS[channel].channel is channel for channel in Channel)
    with pytest.raises(ValueError, match="two classes for the email channel"):
        Channels([*CHANNELS.values(), EmailChannel()])
    with pytest.raises(ValueError, match="no class for the email, sms channel"):
        Channels([kind for kind in CHANNELS.values() if not isinstance(kind, EmailChannel | SmsChannel)])


# --- addresses, when a preference is saved ----------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "address", "stored"),
    [
        (Channel.EMAIL, "Pager@Example.com", "pager@example.com"),
        (Channel.SMS, "+1 555 000 1111", "+1 555 000 1111"),
        (Channel.WEBHOOK, "HTTPS://hooks.example.com:8443/x?y=1", "HTTPS://hooks.example.com:8443/x?y=1"),
        (Channel.WEBHOOK, "http://[2606:4700:4700::1111]/hook", "http://[2606:4700:4700::1111]/hook"),
        (Channel.SLACK, "https://hooks.slack.com/services/T000/B000/XXXX", None),
        *((channel, address, None) for channel, address in TAKEN.items() if channel is not Channel.EMAIL),
    ],
)
def test_an_address_a_channel_takes_is_stored_as_it_normalises_it(
    channel: Channel, address: str, stored: str | None
) -> None:
    assert CHANNELS.check(channel, address) == (stored or address)


@pytest.mark.parametrize(
    ("channel", "address", "reason"),
    [
        (Channel.EMAIL, "nope", "is not a valid email address"),
        (Channel.EMAIL, "two@at@example.com", "is not a valid email address"),
        (Channel.WEBHOOK, "ftp://x", "a webhook address must be an http(s) URL"),
        (Channel.WEBHOOK, "hooks.example.com/x", "a webhook address must be an http(s) URL"),
        (Channel.WEBHOOK, "http:///no-host", "a webhook address must be an http(s) URL"),
        (Channel.WEBHOOK, "http://[::1/broken", "a webhook address must be an http(s) URL"),
        (Channel.SLACK, "#ops", "must be an Apprise URL such as slack://..."),
        (Channel.APPRISE, "ops@discord", "must be an Apprise URL such as slack://..."),
    ],
)
def test_an_address_a_channel_cannot_send_to_is_refused_saying_why(
    channel: Channel, address: str, reason: str
) -> None:
    with pytest.raises(InvalidAddress) as refused:
        CHANNELS.check(channel, address)
    assert refused.value.reason == reason


# --- Apprise URLs and settings, when a page is sent ---------------------------------------------------


@pytest.mark.parametrize("channel", list(Channel))
def test_each_channel_sends_an_address_it_takes_through_a_plugin_apprise_knows(channel: Channel) -> None:
    kind = CHANNELS[channel]
    url = kind.apprise_url(kind.check_address(TAKEN[channel]), CONFIGURED)
    plugin = apprise.Apprise.instantiate(url)
    assert plugin is not None, url
    assert kind.plugin is None or isinstance(plugin, kind.plugin)


def test_email_and_sms_need_their_providers_the_others_nothing() -> None:
    unconfigured = AppriseConfig()
    assert {c for c in Channel if CHANNELS[c].configured(unconfigured)} == {
        Channel.SLACK,
        Channel.WEBHOOK,
        Channel.APPRISE,
    }
    assert all(CHANNELS[c].configured(CONFIGURED) for c in Channel)
    assert not CHANNELS[Channel.EMAIL].configured(AppriseConfig(smtp_host="smtp.example.com"))
    assert not CHANNELS[Channel.SMS].configured(AppriseConfig(twilio_account_sid="AC1", twilio_auth_token="t"))


def test_email_and_sms_urls_come_from_the_settings() -> None:
    assert CHANNELS[Channel.EMAIL].apprise_url("bob@example.com", CONFIGURED) == (
        "mailtos://pager%40example.com:p%40ss%2Fword@smtp.example.com:465/bob%40example.com"
        "?from=Pager+%3Cpager%40example.com%3E&smtp=smtp.example.com&mode=ssl"
    )
    assert CHANNELS[Channel.SMS].apprise_url("+1 555 222 3333", CONFIGURED) == (
        f"twilio://AC{'a' * 32}:{'t' * 32}@%2B15550001111/%2B15552223333"
    )


def test_the_settings_configure_email() -> None:
    settings = Settings(smtp_host="mail.example.com", smtp_port=25, smtp_from="pager@example.com")
    url = CHANNELS[Channel.EMAIL].apprise_url("a@example.com", AppriseConfig.from_settings(settings))
    assert url.startswith("mailto://mail.example.com:25/a%40example.com?")


def test_webhook_urls_map_http_to_json_and_https_to_jsons() -> None:
    webhook = CHANNELS[Channel.WEBHOOK]
    assert webhook.apprise_url("http://example.com", CONFIGURED) == "json://example.com/"
    assert (
        webhook.apprise_url("HTTPS://u:p@example.com:8443/a/b?x=1&y=", CONFIGURED)
        == "jsons://u:p@example.com:8443/a/b?-x=1&-y="
    )
    for bad in ("ftp://example.com/x", "example.com/x", "http:///nohost", ""):
        with pytest.raises(DeliveryFailed) as refused:
            webhook.apprise_url(bad, CONFIGURED)
        assert refused.value.permanent


HOSTS = st.one_of(
    st.from_regex(r"[a-z]([a-z0-9-]{0,14}[a-z0-9])?(\.[a-z][a-z0-9]{1,8}){1,3}", fullmatch=True),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda a: f"[{a}]"),
)
SEGMENTS = st.text(alphabet=st.characters(codec="ascii", categories=["L", "N"]), min_size=1, max_size=8)


@given(
    scheme=st.sampled_from(["http", "https"]),
    host=HOSTS,
    port=st.none() | st.integers(1, 65535),
    path=st.lists(SEGMENTS, max_size=3),
    query=st.lists(st.tuples(SEGMENTS, SEGMENTS), max_size=3),
)
def test_a_webhook_page_goes_to_the_host_its_address_names(
    scheme: str, host: str, port: int | None, path: list[str], query: list[tuple[str, str]]
) -> None:
    """The destination policy checks the address's host (`http_url_host`); the page must go there."""
    address = f"{scheme}://{host}{f':{port}' if port else ''}/{'/'.join(path)}"
    address += "?" + "&".join(f"{k}={v}" for k, v in query) if query else ""
    webhook = CHANNELS[Channel.WEBHOOK]
    assert webhook.check_address(address) == address
    plugin = apprise.Apprise.instantiate(webhook.apprise_url(address, CONFIGURED))
    assert plugin is not None
    assert (plugin.host.strip("[]"), plugin.port, plugin.secure) == (host.strip("[]"), port, scheme == "https")
    assert http_url_host(address) == host.strip("[]")
