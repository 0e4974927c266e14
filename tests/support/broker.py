"""Point the test process's Celery client at another broker for a while (a Redis of the test's own)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from config.celery import app


def _point_at(url: str) -> None:
    app.conf.update(broker_url=url)
    # What Celery does in a forked child: the connection and producer pools are made again, for the
    # new URL, on first use.
    app._after_fork()  # type: ignore[attr-defined]


@contextmanager
def celery_broker(url: str) -> Iterator[None]:
    original = str(app.conf.broker_url)
    _point_at(url)
    try:
        yield
    finally:
        _point_at(original)
