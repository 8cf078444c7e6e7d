"""Where a webhook may connect: public addresses only, unless an operator allows more.

A webhook URL is chosen by a maintainer, and the monitor that calls it sits inside the platform's
network, so an unchecked URL turns the monitor into a probe of that network (loopback services,
cloud metadata at 169.254.169.254, databases on private addresses). The rule here:

- the URL's host is **resolved when the call is made**, and every address it resolves to must be
  public: not loopback, link-local, private, unique-local, site-local, multicast, unspecified,
  reserved, documentation or carrier-grade NAT, IPv4 and IPv6, including IPv4 addresses embedded in
  IPv6 ones (IPv4-mapped, IPv4-compatible, 6to4, Teredo, NAT64). Numeric spellings of IPv4
  (``2130706433``, ``0x7f.1``, ``0177.0.0.1``) resolve to the address they spell, so they are
  judged by it;
- the call connects to the **address that was vetted** (`PinnedTarget`): the URL's host is replaced
  by that address, the original name is sent as ``Host`` and as the TLS server name (SNI, and the
  certificate is checked against it), so a name that resolves differently a moment later (DNS
  rebinding) cannot move the connection;
- `WebhookAllowList` (setting ``webhook_allow``) opens what an operator chooses: networks (CIDR) and
  host names (``hooks.internal``, or ``.internal`` for every name under it).

Redirects are never followed (`berth.control.alerts.webhook`), so a public receiver cannot bounce the
call to an internal one.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit, urlunsplit

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Sequence[str]]
"""``resolve(host, port) -> addresses`` (text); `resolve_host` by default."""

_NOT_PUBLIC_V4: Final = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
    )
)
_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")
_LOCAL_NAMES: Final = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


class DestinationRefused(Exception):
    """A webhook URL whose host is not a public address (nor allowed): no connection is made."""


def is_public(address: IPAddress) -> bool:
    """Whether `address` is a public unicast address (every IPv4 address embedded in it too)."""
    if isinstance(address, ipaddress.IPv6Address):
        if any(not is_public(inner) for inner in _embedded_ipv4(address)):
            return False
    elif any(address in network for network in _NOT_PUBLIC_V4):
        return False
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_unspecified
        or address.is_reserved
        or (isinstance(address, ipaddress.IPv6Address) and address.is_site_local)
        or not address.is_global
    )


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    inner = [a for a in (address.ipv4_mapped, address.sixtofour) if a is not None]
    if address.teredo is not None:
        inner.extend(address.teredo)
    if address in _NAT64 or int(address) >> 32 == 0:  # NAT64 and IPv4-compatible (::a.b.c.d)
        inner.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return inner


def literal_address(host: str) -> IPAddress | None:
    """The address `host` spells, in any notation the system's resolver accepts (dotted, decimal,
    octal, hexadecimal IPv4; IPv6 with or without brackets), without a DNS query; None for a name."""
    text = host.strip("[]")
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        return None


def resolve_host(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (the system resolver, as a connection would)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True, slots=True)
class WebhookAllowList:
    """What an operator opens beyond public addresses: networks and host names."""

    networks: tuple[IPNetwork, ...] = ()
    names: tuple[str, ...] = ()
    """Exact host names, or suffixes starting with a dot (``.internal``)."""

    @classmethod
    def parse(cls, text: str) -> WebhookAllowList:
        """From the ``webhook_allow`` setting: comma-separated CIDRs, addresses and host names."""
        networks: list[IPNetwork] = []
        names: list[str] = []
        for raw in text.split(","):
            entry = raw.strip().lower()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                if not entry.replace(".", "").replace("-", "").isalnum():
                    raise ValueError(f"webhook_allow: {entry!r} is neither a CIDR nor a host name") from None
                names.append(entry.rstrip("."))
        return cls(tuple(networks), tuple(names))

    def allows_name(self, host: str) -> bool:
        name = host.lower().rstrip(".")
        return any(name == n or (n.startswith(".") and name.endswith(n)) for n in self.names)

    def allows_address(self, address: IPAddress) -> bool:
        candidates = [address]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            candidates.append(address.ipv4_mapped)
        return any(c in n for c in candidates for n in self.networks if c.version == n.version)


@dataclass(frozen=True, slots=True)
class PinnedTarget:
    """A webhook call bound to the address that was vetted."""

    url: str
    """The URL with its host replaced by the vetted address."""
    host_header: str
    """The original ``host[:port]``, sent as ``Host``."""
    server_name: str
    """The original host name: the TLS server name and the name the certificate must match."""

    def request(self, client: httpx.Client, body: bytes, headers: dict[str, str]) -> httpx.Response:
        extensions = {"sni_hostname": self.server_name} if self.url.startswith("https:") else {}
        return client.post(
            self.url, content=body, headers=headers | {"host": self.host_header}, extensions=extensions
        )


@dataclass(frozen=True, slots=True)
class DestinationPolicy:
    """Decides, at creation and at every call, where a webhook may go (see the module doc)."""

    allow: WebhookAllowList = WebhookAllowList()
    resolve: Resolver = resolve_host

    def check_url(self, url: str) -> None:
        """At rule creation, without DNS: refuse hosts that are literally internal (an address or a
        local name) unless allowed. Names are judged again, by their addresses, at every call."""
        host = (urlsplit(url).hostname or "").lower().rstrip(".")
        if self.allow.allows_name(host):
            return
        if host in _LOCAL_NAMES or host.endswith(".localhost"):
            raise DestinationRefused(f"{host!r} is a local name")
        address = literal_address(host)
        if address is not None and not self._address_allowed(address):
            raise DestinationRefused(f"{address} is not a public address")

    def pin(self, url: str) -> PinnedTarget:
        """Resolve the URL's host now and bind the call to a vetted address (DestinationRefused
        when any address it resolves to is neither public nor allowed, or it does not resolve)."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        name_allowed = self.allow.allows_name(host)
        literal = literal_address(host)
        if literal is not None:
            addresses: list[IPAddress] = [literal]
        else:
            try:
                addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in self.resolve(host, port)]
            except (OSError, UnicodeError, ValueError) as exc:
                raise DestinationRefused(f"{host!r} does not resolve: {exc}") from None
        if not addresses:
            raise DestinationRefused(f"{host!r} does not resolve")
        if not name_allowed:
            refused = [a for a in addresses if not self._address_allowed(a)]
            if refused:
                raise DestinationRefused(f"{host!r} resolves to {refused[0]}, not a public address")
        chosen = addresses[0]
        shown = f"[{chosen}]" if chosen.version == 6 else str(chosen)
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@{shown}:{port}" if userinfo else f"{shown}:{port}"
        host_header = parts.netloc.rpartition("@")[2]
        return PinnedTarget(
            urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")),
            host_header,
            host.strip("[]"),
        )

    def _address_allowed(self, address: IPAddress) -> bool:
        return is_public(address) or self.allow.allows_address(address)


def redact_url(url: str | None) -> str | None:
    """`url` without what may be a credential: user and password, and the query's values."""
    if not url:
        return url
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    query = "&".join(f"{p.partition('=')[0]}=***" for p in parts.query.split("&")) if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
