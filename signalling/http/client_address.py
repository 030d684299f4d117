"""Which address a request comes from: the socket peer, or, when that peer is a configured
trusted proxy, the client it names in `X-Forwarded-For`.

`X-Forwarded-For` from anyone else is ignored: a client could otherwise name any address and
walk out of every per-address limit (or into someone else's).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from aiohttp import web

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
UNKNOWN = "unknown"  # a peer without an IP address (a Unix socket); shares one key


def parse_networks(entries: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Addresses or CIDR ranges; raise ValueError naming a bad entry."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(str(entry).strip(), strict=False))
        except ValueError:
            raise ValueError(f"not an address or CIDR range: {entry!r}") from None
    return tuple(networks)


def _ip(text: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    # An IPv4 client seen through a dual-stack socket: key it as IPv4.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class TrustedProxies:
    """The proxies whose `X-Forwarded-For` is believed."""

    def __init__(self, entries: Iterable[str] = ()) -> None:
        self._networks = parse_networks(entries)

    def __contains__(self, address: object) -> bool:
        ip = _ip(address) if isinstance(address, str) else None
        return ip is not None and any(ip in net for net in self._networks)

    def client(self, peer: str | None, forwarded_for: str | None) -> str:
        """The client's address for a connection from `peer` with that header (if any).

        Walks the header from the right (the hop nearest to us) past trusted proxies; the
        first other address is the client. A garbled hop stops the walk at the last address
        we can vouch for.
        """
        peer_ip = _ip(peer) if peer else None
        if peer_ip is None:
            return UNKNOWN
        if not forwarded_for or str(peer_ip) not in self:
            return str(peer_ip)
        current = peer_ip
        for hop in reversed(forwarded_for.split(",")):
            ip = _ip(hop)
            if ip is None:
                break
            current = ip
            if str(ip) not in self:
                break
        return str(current)


TRUSTED_PROXIES = web.AppKey("trusted_proxies", TrustedProxies)


def client_address(request: web.Request) -> str:
    """The address per-client limits are keyed by (never logged)."""
    # Proxies may each add a header line instead of extending one: read them as one list.
    forwarded = ",".join(request.headers.getall("X-Forwarded-For", []))
    return request.app[TRUSTED_PROXIES].client(request.remote, forwarded or None)
