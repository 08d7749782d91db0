"""Which network addresses pages may reach, and which Apprise schemes users may choose.

Kept apart from the policy (destinations.py), which needs Apprise: the settings check
NOTIFY_ALLOWED_HOSTS without importing it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Hosted services reached over HTTPS at their own endpoints (the URL holds tokens, not a host),
# plus email (mailto/mailtos: the SMTP server is checked) and ntfy (its host, when given, is checked).
DEFAULT_APPRISE_SCHEMES = (
    "slack",
    "discord",
    "workflow",  # Microsoft Teams through Power Automate workflows
    "workflows",
    "gchat",
    "tgram",
    "pagerduty",
    "opsgenie",
    "signl4",
    "pagertree",
    "splunk",
    "ilert",
    "pover",
    "ntfy",
    "ntfys",
    "mailto",
    "mailtos",
    "twilio",
)

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # well-known prefix: carries an IPv4 address


def refusal(address: IPAddress) -> str | None:
    """What makes `address` one pages may not reach ("a loopback address"...), or None for a global
    unicast address. IPv6 forms that carry an IPv4 address (mapped, 6to4, Teredo, NAT64) are judged
    by that address too."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None and (reason := refusal(embedded)) is not None:
            return reason
    for reason, applies in (
        ("the unspecified address", address.is_unspecified),
        ("a loopback address", address.is_loopback),
        ("a link-local address", address.is_link_local),
        ("a multicast address", address.is_multicast),
        ("a private address", address.is_private),
        ("a reserved address", address.is_reserved),
        ("an address that is not globally routable", not address.is_global),
    ):
        if applies:
            return reason
    return None


@dataclass(frozen=True)
class AllowedHosts:
    """NOTIFY_ALLOWED_HOSTS: host names (exact, any case), addresses and networks pages may reach even
    when they are private."""

    names: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowedHosts:
        """Raises ValueError naming the first entry that is neither a host name nor an address/network."""
        names: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in (e.strip() for e in entries):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            name = entry.lower().rstrip(".")
            labels = name.split(".")
            if not all(label and len(label) <= 63 and label.replace("-", "").isalnum() for label in labels):
                raise ValueError(f"{entry!r} is not a host name, an IP address or a network")
            names.add(name)
        return cls(frozenset(names), tuple(networks))

    def allows_name(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.names

    def allows_address(self, address: IPAddress) -> bool:
        return any(address.version == n.version and address in n for n in self.networks)
