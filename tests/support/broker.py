"""Point the test process's Celery client at another broker for a while (a Redis of the test's own)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

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


class Outage:
    """The publish helper (nurture.publishing.publish) standing in for a broker that goes down and
    comes back, in the test process.

    While down, a publish is dropped and returns False, as the helper does when Redis fails after
    the commit: the work it asked for is lost (``lost`` lists it). Once ``end()`` is called, a publish
    runs the task here and now, as a worker would (``ran`` lists it). Install it with
    ``monkeypatch`` on every module that holds the helper by name (tests/conftest.py: ``outage``).
    """

    def __init__(self) -> None:
        self.down = True
        self.lost: list[tuple[str, tuple[Any, ...]]] = []
        self.ran: list[tuple[str, tuple[Any, ...]]] = []

    def end(self) -> None:
        self.down = False

    def publish(self, task: Any, *args: Any, **kwargs: Any) -> bool:
        name = task if isinstance(task, str) else task.name
        if self.down:
            self.lost.append((name, args))
            return False
        self.ran.append((name, args))
        app.tasks[name].apply(args, kwargs).get()
        return True

    def lost_tasks(self) -> list[str]:
        return [name for name, _ in self.lost]
