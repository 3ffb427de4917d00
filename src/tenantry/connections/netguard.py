"""Refuse tenant connections to the platform's own network unless the operator allows it.

A tenant's "database host" must not become a way to probe or reach loopback, link-local
(cloud metadata at 169.254.169.254), or private addresses. Every address the name resolves to
is checked, and callers connect to the checked address, so a second DNS answer cannot slip in.
"""

from __future__ import annotations

import ipaddress
import socket

from tenantry.core.errors import ValidationFailed


def parse_networks(spec: str | None) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    networks = []
    for part in (spec or "").split(","):
        if part.strip():
            networks.append(ipaddress.ip_network(part.strip(), strict=False))
    return networks


def _forbidden(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast or ip.is_reserved or ip.is_unspecified:
        return "a reserved address"
    if ip.is_private:
        return "a private-network address"
    return None


def resolve_allowed(host: str, port: int, *, allowed: str | None, field: str = "host") -> str:
    """The first address of ``host`` that may be reached; refuses with a clear message."""
    if not host or not host.strip():
        raise ValidationFailed.field(field, "is required")
    try:
        infos = socket.getaddrinfo(host.strip(), port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise ValidationFailed.field(field, f"'{host}' does not resolve; check the name") from None
    exempt = parse_networks(allowed)
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        reason = _forbidden(ip)
        if reason and not any(ip in net for net in exempt):
            raise ValidationFailed.field(
                field,
                f"'{host}' resolves to {address}, {reason}; connections there are refused. "
                "An operator can allow it with TENANTRY_ALLOWED_PRIVATE_NETWORKS.",
            )
    return addresses[0]
