import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

IN_CI = os.environ.get("CI", "").lower() == "true"


def require_service(name: str, reason: str) -> None:
    """Outside CI a missing service skips the test; in CI it fails it, never silently skips."""
    message = f"{name} is not available: {reason}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def broker_url() -> str:
    url: str = settings.CELERY_BROKER_URL
    if url.startswith("redis"):
        import redis

        try:
            redis.Redis.from_url(url, socket_connect_timeout=2).ping()
        except redis.RedisError as exc:
            require_service("Redis", f"{url}: {exc}")
    return url


@pytest.fixture
def worker_factory(transactional_db: None, broker_url: str, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Start real Celery workers (separate processes) on the test database; stopped afterwards."""
    from tests.support.worker import Worker, purge_broker

    purge_broker()
    started: list[Worker] = []

    def start(concurrency: int = 1) -> Worker:
        worker = Worker(tmp_path, concurrency=concurrency).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def on_postgresql() -> bool:
    return bool(settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every transactional test restores the migrated data (default cadences, Beat schedule).

    A TransactionTestCase empties the database afterwards; without serialized rollback the tests
    after it would run without the rows the data migrations created.
    """
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker is not None and marker.kwargs.get("transaction") and not marker.kwargs.get("serialized_rollback"):
            item.add_marker(
                pytest.mark.django_db(*marker.args, **{**marker.kwargs, "serialized_rollback": True}), append=False
            )
