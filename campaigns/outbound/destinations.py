"""Where a webhook may go: a URL whose host resolves only to public addresses.

A destination that resolves to a private, loopback, link-local, multicast, reserved or shared
address is refused, so that a webhook cannot be used to reach the machines behind our firewall
(server-side request forgery). Hosts named in an allow-list are exempt (a setting; the tests use
it for their receiver on 127.0.0.1). The check runs when an endpoint is saved and again before
every attempt, and the client connects to the address that was checked, so a DNS answer that
changes between the check and the connection (DNS rebinding) cannot slip through.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import urlsplit


class DestinationRefused(ValueError):
    """The URL may not receive webhooks; the message says why, for a person."""


@dataclass(frozen=True)
class Destination:
    scheme: str
    host: str
    port: int
    address: str
    path: str

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast and not address.is_reserved


def resolve_destination(url: str, *, allowed_hosts: Collection[str] = ()) -> Destination:
    """Parse and resolve the URL; raise DestinationRefused when it may not receive webhooks."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise DestinationRefused(f"{url!r}: only http and https URLs can receive webhooks.")
    if parts.username or parts.password:
        raise DestinationRefused(f"{url!r}: a URL with a user name or password is not accepted.")
    host = (parts.hostname or "").lower()
    if not host:
        raise DestinationRefused(f"{url!r} names no host.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise DestinationRefused(f"{url!r}: {exc}.") from exc
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise DestinationRefused(f"The host {host!r} could not be resolved ({exc}).") from exc
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise DestinationRefused(f"The host {host!r} has no address.")
    if host not in {h.lower() for h in allowed_hosts}:
        refused = [a for a in addresses if not _public(ipaddress.ip_address(a.split("%")[0]))]
        if refused:
            raise DestinationRefused(
                f"The host {host!r} resolves to {', '.join(sorted(set(refused)))}, a private, loopback, "
                "link-local or reserved address: webhooks are not sent there."
            )
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    return Destination(scheme=parts.scheme, host=host, port=port, address=addresses[0], path=path)
