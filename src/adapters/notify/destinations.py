"""Where pages may go: the destination policy for the addresses users choose (webhook, Slack, Apprise:
each channel's `reach`, channels.py, says which rule applies).

Such an address makes this service connect wherever a user says, so without a policy any user can
reach (and, through the error messages, probe) loopback, the private network or a cloud metadata
endpoint. With `block_private` (production's default) a page may not go to an address that is
loopback, private, link-local, multicast, unspecified, reserved or otherwise not globally routable,
whatever name leads there, unless its host is in `allowed_hosts` (an internal service on purpose:
names, addresses or networks). Apprise URLs must use a listed scheme: hosted chat and paging
services by default; raw protocols (json, form, xml, syslog...) only when an operator lists them.
The webhook channel is governed by the address rule alone (it becomes Apprise's json:// internally).

Which host an Apprise URL connects to comes from Apprise itself: a plugin whose URL template has a
`host` token connects to that host (json, ntfy, gotify, matrix, mailto...); hosted services (Slack,
Discord, Telegram...) connect to their own fixed endpoints, and their URL's "host" is a token. An
email URL's `smtp=` server is checked too. Names are resolved when the address is saved and again
before each send; a name that does not resolve is let through (there is nothing to connect to: the
send fails on its own). What is checked is the resolver's answer at that moment: an answer that
changes between the check and Apprise's own look-up a moment later (DNS rebinding with a zero TTL)
is not caught here; pinning the connection to the checked address needs a hook in the HTTP client.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable

import apprise

from adapters.notify.addresses import DEFAULT_APPRISE_SCHEMES, AllowedHosts, IPAddress, refusal
from adapters.notify.channels import CHANNELS, Reach, http_url_host
from incidentcore.model import Channel
from incidentcore.ports import DestinationPolicy, DestinationRefused


class AddressPolicy(DestinationPolicy):
    def __init__(
        self,
        *,
        block_private: bool,
        allowed_hosts: AllowedHosts | Iterable[str] = (),
        apprise_schemes: Iterable[str] = DEFAULT_APPRISE_SCHEMES,
        resolve_timeout: float = 5.0,
    ) -> None:
        self.block_private = block_private
        self.allowed_hosts = (
            allowed_hosts if isinstance(allowed_hosts, AllowedHosts) else AllowedHosts.parse(allowed_hosts)
        )
        self.apprise_schemes = frozenset(
            s.strip().lower().removesuffix("://") for s in apprise_schemes if s.strip()
        )
        self.resolve_timeout = resolve_timeout
        self._asset = apprise.AppriseAsset(
            storage_mode=apprise.PersistentStoreMode.MEMORY, secure_logging=True
        )

    async def check(self, channel: Channel, address: str) -> None:
        reach = CHANNELS[channel].reach
        if reach is Reach.PROVIDER:
            return  # through the operator's SMTP server, Twilio...
        if reach is Reach.HTTP_URL:
            host = http_url_host(address)
            if host is None:
                raise DestinationRefused(f"a {channel.value} address must be an http(s) URL")
            hosts = [host]
        else:
            hosts = self._apprise_hosts(address)
        if self.block_private:
            for host in hosts:
                await self._check_host(host)

    def _apprise_hosts(self, address: str) -> list[str]:
        scheme = address.strip().split("://", 1)[0].lower()
        native = scheme in ("http", "https")  # a service's own URL (https://hooks.slack.com/...)
        if not native:
            self._require_listed(scheme, {scheme})
        plugin = apprise.Apprise.instantiate(address.strip(), asset=self._asset)
        if plugin is None:
            raise DestinationRefused(f"Apprise cannot send to this {scheme}:// URL (see its documentation)")
        if native:
            self._require_listed(scheme, set(_protocols(type(plugin))))
        hosts = []
        if "host" in getattr(type(plugin), "template_tokens", {}) and plugin.host:
            hosts.append(plugin.host)
        smtp_host = getattr(plugin, "smtp_host", None)
        if isinstance(smtp_host, str) and smtp_host:
            hosts.append(smtp_host)
        return hosts

    def _require_listed(self, scheme: str, schemes: set[str]) -> None:
        if not schemes & self.apprise_schemes:
            listed = ", ".join(sorted(self.apprise_schemes)) or "none"
            raise DestinationRefused(
                f"{scheme}:// URLs are not allowed here (allowed: {listed}; an operator can add schemes "
                "to NOTIFY_APPRISE_SCHEMES)"
            )

    async def _check_host(self, host: str) -> None:
        host = host.strip().strip("[]")
        if self.allowed_hosts.allows_name(host):
            return
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            addresses = await self._resolve(host)
        for address in addresses:
            if self.allowed_hosts.allows_address(address):
                continue
            reason = refusal(address)
            if reason is not None:
                what = f"{address}" if str(address) == host else f"{host} resolves to {address}, which"
                raise DestinationRefused(
                    f"{what} is {reason}, where pages may not go "
                    "(an operator can allow an internal service in NOTIFY_ALLOWED_HOSTS)"
                )

    async def _resolve(self, host: str) -> list[IPAddress]:
        try:
            async with asyncio.timeout(self.resolve_timeout):
                infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except (OSError, TimeoutError, UnicodeError):
            return []  # nothing to connect to; the send fails on its own
        addresses = []
        for info in infos:
            try:
                addresses.append(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]))
            except ValueError:
                continue
        return addresses


def _protocols(plugin: type) -> list[str]:
    names: list[str] = []
    for value in (getattr(plugin, "protocol", None), getattr(plugin, "secure_protocol", None)):
        if isinstance(value, str):
            names.append(value.lower())
        elif value:
            names += [str(v).lower() for v in value]
    return names
