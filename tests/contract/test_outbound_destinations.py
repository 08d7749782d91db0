"""Outbound requests: pages may not be pointed at loopback, private or other internal addresses.

The rule is asked when an address is saved (400 naming `address`) and again before each send (a
refused destination fails for good and nothing connects to it); NOTIFY_ALLOWED_HOSTS lets an
operator reach an internal service; Apprise URLs must use a listed scheme.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from capture_server import CaptureServer, HangingServer
from http_harness import *  # noqa: F403
from http_harness import Api, make_api
from hypothesis import given
from hypothesis import strategies as st

from adapters.notify.addresses import AllowedHosts, IPAddress, refusal
from adapters.notify.apprise_notifier import AppriseConfig, AppriseNotifier
from adapters.notify.destinations import AddressPolicy
from incidentcore.escalation import EscalationStep, Target, TargetType
from incidentcore.model import Channel, EscalationPolicy, NotificationStatus
from incidentcore.ports import DeliveryFailed, DestinationRefused, OutgoingMessage, Page
from incidentcore.services import NewIncident
from incidentcore.testing.world import InMemoryServices

SLACK = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7F"
BLOCKING = {"NOTIFY_BLOCK_PRIVATE_ADDRESSES": "true"}


# --- the address classifier ------------------------------------------------------------------------

INTERNAL_NETWORKS = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",  # carrier-grade NAT (cloud metadata lives here on some providers)
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::1/128",
    "::/128",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
]


@given(st.sampled_from(INTERNAL_NETWORKS).flatmap(lambda net: st.ip_addresses(network=net)))
def test_every_internal_address_is_refused(address: IPAddress) -> None:
    assert refusal(address) is not None


@given(st.ip_addresses(v=4))
def test_an_ipv4_address_is_refused_exactly_when_it_is_not_global_unicast(
    address: ipaddress.IPv4Address
) -> None:
    assert (refusal(address) is None) == (address.is_global and not address.is_multicast)


@given(st.ip_addresses(v=4))
def test_ipv6_forms_that_carry_an_ipv4_address_are_judged_by_it(address: ipaddress.IPv4Address) -> None:
    mapped = ipaddress.IPv6Address(f"::ffff:{address}")
    nat64 = ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | int(address))
    sixtofour = ipaddress.IPv6Address((0x2002 << 112) | (int(address) << 80) | 1)
    if refusal(address) is not None:
        assert refusal(mapped) is not None
        assert refusal(nat64) is not None
        assert refusal(sixtofour) is not None


@given(st.ip_addresses(v=6))
def test_an_ipv6_address_that_is_not_global_unicast_is_refused(address: ipaddress.IPv6Address) -> None:
    if not address.is_global or address.is_multicast:
        assert refusal(address) is not None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("::1", "a loopback address"),
        ("::ffff:127.0.0.1", "a loopback address"),
        ("10.1.2.3", "a private address"),
        ("169.254.169.254", "a link-local address"),
        ("0.0.0.0", "the unspecified address"),
        ("239.1.1.1", "a multicast address"),
        ("100.100.100.200", "an address that is not globally routable"),
        ("93.184.215.14", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_refusal_names_the_kind_of_address(text: str, reason: str | None) -> None:
    assert refusal(ipaddress.ip_address(text)) == reason


def test_allowed_hosts_take_names_addresses_and_networks() -> None:
    allowed = AllowedHosts.parse(["Alerts.Internal.", "10.1.0.0/16", "[fd00::1]", " "])
    assert allowed.allows_name("alerts.internal") and allowed.allows_name("ALERTS.internal.")
    assert not allowed.allows_name("other.internal")
    assert allowed.allows_address(ipaddress.ip_address("10.1.200.3"))
    assert not allowed.allows_address(ipaddress.ip_address("10.2.0.1"))
    assert allowed.allows_address(ipaddress.ip_address("fd00::1"))
    for bad in ("http://x/", "two words", "a..b", "under_score.example"):
        with pytest.raises(ValueError, match="is not a host name"):
            AllowedHosts.parse([bad])


# --- when an address is saved --------------------------------------------------------------------


@pytest.fixture
def blocking_api(http_backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    yield from make_api(http_backend, request, tmp_path, settings_overrides=BLOCKING)


def put_preference(api: Api, channel: str, address: str) -> httpx.Response:
    body = {"enabled": True, "address": address}
    return api.client.put(f"/v1/notification-preferences/me/{channel}", json=body, headers=api.admin_headers)


@pytest.mark.parametrize(
    ("address", "said"),
    [
        ("http://127.0.0.1:8080/hook", "127.0.0.1 is a loopback address"),
        ("http://[::1]/hook", "::1 is a loopback address"),
        ("https://10.20.30.40/hook", "10.20.30.40 is a private address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("http://0.0.0.0:9/", "0.0.0.0 is the unspecified address"),
        ("http://[::ffff:192.168.0.1]/", "a private address"),
        ("http://localhost:8000/v1/incidents/", "localhost resolves to"),
    ],
)
def test_a_webhook_to_an_internal_address_is_refused_when_saved(
    blocking_api: Api, address: str, said: str
) -> None:
    response = put_preference(blocking_api, "webhook", address)
    assert response.status_code == 400, response.text
    (error,) = response.json()["errors"]
    assert error["field"] == "address"
    assert said in error["message"] and "NOTIFY_ALLOWED_HOSTS" in error["message"]
    listed = blocking_api.client.get("/v1/notification-preferences/me", headers=blocking_api.admin_headers)
    assert listed.json()["items"] == []  # nothing saved


def test_public_addresses_and_hosted_services_are_saved(blocking_api: Api) -> None:
    for channel, address in [
        ("webhook", "https://93.184.215.14/hook"),
        ("webhook", "http://[2606:4700:4700::1111]:8080/x"),
        ("slack", SLACK),
        ("apprise", SLACK),
        ("apprise", "https://discord.com/api/webhooks/0123456789/abcdefghijklmnopqrstuvwxyz"),
        ("apprise", "ntfys://93.184.215.14/alerts"),
    ]:
        response = put_preference(blocking_api, channel, address)
        assert response.status_code == 200, (address, response.text)


@pytest.mark.parametrize(
    ("address", "said"),
    [
        ("json://93.184.215.14/hook", "json:// URLs are not allowed here"),
        ("xml://93.184.215.14/hook", "xml:// URLs are not allowed here"),
        ("syslog://93.184.215.14", "syslog:// URLs are not allowed here"),
        ("nosuchscheme://x", "nosuchscheme:// URLs are not allowed here"),
        ("slack://not-enough-tokens", "Apprise cannot send to this slack:// URL"),
        ("https://example.com/not-a-service", "Apprise cannot send to this https:// URL"),
        ("ntfy://127.0.0.1/topic", "127.0.0.1 is a loopback address"),
        ("mailtos://user:pw@93.184.215.14?smtp=10.0.0.25", "10.0.0.25 is a private address"),
    ],
)
def test_apprise_urls_need_a_listed_scheme_and_a_public_host(
    blocking_api: Api, address: str, said: str
) -> None:
    response = put_preference(blocking_api, "apprise", address)
    assert response.status_code == 400, response.text
    (error,) = response.json()["errors"]
    assert error["field"] == "address" and said in error["message"], error


@pytest.fixture
def permissive_api(http_backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    overrides = {
        **BLOCKING,
        "NOTIFY_ALLOWED_HOSTS": "localhost,10.20.0.0/16",
        "NOTIFY_APPRISE_SCHEMES": "slack,json",
    }
    yield from make_api(http_backend, request, tmp_path, settings_overrides=overrides)


def test_allowed_hosts_and_listed_schemes_open_exactly_what_they_name(permissive_api: Api) -> None:
    api = permissive_api
    assert put_preference(api, "webhook", "http://localhost:8080/hook").status_code == 200
    assert put_preference(api, "webhook", "http://10.20.30.40/hook").status_code == 200
    assert put_preference(api, "webhook", "http://10.30.0.1/hook").status_code == 400
    assert put_preference(api, "apprise", "json://10.20.1.1/hook").status_code == 200
    assert put_preference(api, "apprise", "json://127.0.0.1/hook").status_code == 400
    assert put_preference(api, "apprise", "discord://0123456789/abcdefghijklmnop").status_code == 400


def test_without_blocking_local_addresses_are_saved_for_development(api: Api) -> None:
    assert put_preference(api, "webhook", "http://127.0.0.1:8080/hook").status_code == 200
    assert put_preference(api, "webhook", "http://localhost:8080/hook").status_code == 200
    assert put_preference(api, "apprise", "json://93.184.215.14/hook").status_code == 400  # scheme list holds


# --- when a page is sent -----------------------------------------------------------------------


@pytest.fixture
def listener() -> Iterator[HangingServer]:
    with HangingServer() as server:
        yield server


async def paging_world(address: str) -> tuple[InMemoryServices, int]:
    """A user paged by webhook at `address` (saved while local addresses were allowed)."""
    world = InMemoryServices()
    world.notifier = AppriseNotifier(AppriseConfig(timeout_seconds=2))  # type: ignore[assignment]
    world.destinations = AddressPolicy(block_private=False)  # type: ignore[assignment]
    admin = await world.admin()
    await world.preferences.set_for(admin, admin.id, Channel.WEBHOOK, enabled=True, address=address, min_severity=None)
    step = EscalationStep(30, (Target(TargetType.USER, user_id=admin.id),))
    await world.policies.create(admin, EscalationPolicy("webhook", (step,)))
    incident = await world.incidents.open(admin, NewIncident("checkout is down"))
    return world, incident.id


@pytest.mark.anyio
async def test_a_page_to_a_refused_destination_never_connects_and_fails_for_good(
    listener: HangingServer,
) -> None:
    world, incident_id = await paging_world(f"http://localhost:{listener.port}/hook")
    world.destinations = AddressPolicy(block_private=True)  # type: ignore[assignment]
    await world.run_worker()
    admin = await world.admin()
    (row,) = (await world.incidents.notifications(admin, incident_id, Page())).items
    assert (row.status, row.attempts, row.next_attempt_at) == (NotificationStatus.FAILED, 1, None)
    assert row.last_error is not None
    assert row.last_error.startswith("webhook: not sent: localhost resolves to ")
    assert "a loopback address" in row.last_error
    assert listener.connections == 0


@pytest.mark.anyio
async def test_a_page_to_an_allowed_internal_host_is_delivered() -> None:
    with CaptureServer() as capture:
        world, incident_id = await paging_world(f"http://localhost:{capture.port}/hook")
        world.destinations = AddressPolicy(block_private=True, allowed_hosts=["localhost"])  # type: ignore[assignment]
        await world.run_worker()
        assert [r.path for r in capture.snapshot()] == ["/hook"]
    admin = await world.admin()
    (row,) = (await world.incidents.notifications(admin, incident_id, Page())).items
    assert (row.status, row.last_error) == (NotificationStatus.SENT, None)


@pytest.mark.anyio
async def test_redirects_are_not_followed() -> None:
    with CaptureServer() as target, CaptureServer() as redirecting:
        redirecting.status = 307  # keeps the method: a followed redirect would POST to the target
        redirecting.headers = {"Location": f"{target.url}/internal"}
        with pytest.raises(DeliveryFailed, match="307"):
            await AppriseNotifier().send(OutgoingMessage(Channel.WEBHOOK, f"{redirecting.url}/hook", "s", "b"))
        assert [r.path for r in redirecting.snapshot()] == ["/hook"]
        assert target.snapshot() == []


@pytest.mark.anyio
async def test_the_policy_ignores_email_and_sms_which_go_through_the_operators_providers() -> None:
    policy = AddressPolicy(block_private=True)
    await policy.check(Channel.EMAIL, "root@localhost")
    await policy.check(Channel.SMS, "+15550001111")
    with pytest.raises(DestinationRefused, match="must be an http"):
        await policy.check(Channel.WEBHOOK, "gopher://93.184.215.14/")
