"""One kept HTTP client for webhooks: connection pools per checked address, no redirects.

urllib3 connects to the address that destinations.resolve_destination checked (never resolving
the name again), sends the name in the Host header and, over TLS, as the server name that the
certificate must match. A 3xx is a failure like any other non-2xx: redirects are not followed.
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass

import urllib3

from campaigns.outbound.destinations import Destination

# The start of a response body kept for the delivery log.
EXCERPT_BYTES = 1024
# A body longer than this is not read to the end to keep the connection: the connection is dropped.
DRAIN_LIMIT = 64 * 1024


@dataclass(frozen=True)
class PostResult:
    status: int | None
    excerpt: str = ""
    error: str = ""
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds from now: a number of seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class WebhookClient:
    """Keeps one connection pool per (scheme, address, port, host) for the life of the process."""

    def __init__(self, *, connect_timeout: float = 5.0, read_timeout: float = 15.0, maxsize: int = 4) -> None:
        self.timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        self.maxsize = maxsize
        self._pools: dict[tuple[str, str, int, str], urllib3.HTTPConnectionPool] = {}

    def _pool(self, destination: Destination) -> urllib3.HTTPConnectionPool:
        key = (destination.scheme, destination.address, destination.port, destination.host)
        pool = self._pools.get(key)
        if pool is None:
            if destination.scheme == "https":
                pool = urllib3.HTTPSConnectionPool(
                    destination.address,
                    destination.port,
                    timeout=self.timeout,
                    maxsize=self.maxsize,
                    server_hostname=destination.host,
                    assert_hostname=destination.host,
                    retries=False,
                )
            else:
                pool = urllib3.HTTPConnectionPool(
                    destination.address, destination.port, timeout=self.timeout, maxsize=self.maxsize, retries=False
                )
            self._pools[key] = pool
        return pool

    def post(self, destination: Destination, *, body: bytes, headers: dict[str, str]) -> PostResult:
        pool = self._pool(destination)
        try:
            response = pool.urlopen(
                "POST",
                destination.path,
                body=body,
                headers={**headers, "host": destination.host_header, "user-agent": "nurture-webhooks/1"},
                redirect=False,
                retries=False,
                preload_content=False,
                assert_same_host=False,
            )
        except urllib3.exceptions.HTTPError as exc:
            return PostResult(status=None, error=f"{type(exc).__name__}: {exc}"[:500])
        try:
            excerpt = response.read(EXCERPT_BYTES).decode("utf-8", "replace")
            remaining = response.length_remaining
            if remaining is not None and remaining <= DRAIN_LIMIT:
                response.drain_conn()
                response.release_conn()
            else:
                response.close()
        except urllib3.exceptions.HTTPError as exc:
            response.close()
            return PostResult(status=response.status, error=f"{type(exc).__name__}: {exc}"[:500])
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return PostResult(status=response.status, excerpt=excerpt, retry_after=retry_after)

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
