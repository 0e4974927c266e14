import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.conf import settings

from campaigns import receivers
from nurture import publishing
from tests.factories import NOON_UTC, PRINT_ROOM_PERMISSIONS, make_account_manager, make_card_manager, make_user
from tests.support.broker import Outage

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
def outage(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Redis down after the commit: every task published is dropped (``outage.lost``) until
    ``outage.end()``; from then on a publish runs the task in this process (tests/support/broker.py)."""
    broker = Outage()
    monkeypatch.setattr(publishing, "publish", broker.publish)
    monkeypatch.setattr(receivers, "publish", broker.publish)
    return broker


@pytest.fixture
def on_postgresql() -> bool:
    return bool(settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql")


# --- Personas: who uses the site in the tests ------------------------------------------------------
#
# Each is made when a test asks for it (by name); tests/browser/conftest.py gives the ones a browser
# signs in as a password. Permissions are given directly (tests/factories.py lists them), not through
# the roles' groups: tests/nurture/test_roles.py tests the groups.


@pytest.fixture
def alice(db: None) -> Any:
    """An account manager."""
    return make_account_manager("alice", email="alice@example.com")


@pytest.fixture
def bob(db: None) -> Any:
    """Another account manager."""
    return make_account_manager("bob", email="bob@example.com")


@pytest.fixture
def alice_client(client: Any, alice: Any) -> Any:
    client.force_login(alice)
    return client


@pytest.fixture
def card_manager(db: None) -> Any:
    """An account manager who also drafts and approves cards."""
    return make_card_manager("carol")


@pytest.fixture
def print_room(db: None) -> Any:
    """The print room: builds batches of approved cards, sees no customer."""
    return make_user("printer", perms=PRINT_ROOM_PERMISSIONS)


@pytest.fixture
def superuser(db: None) -> Any:
    return make_user("root", superuser=True)


@pytest.fixture
def superuser_client(client: Any, superuser: Any) -> Any:
    client.force_login(superuser)
    return client


@pytest.fixture
def staff_client(client: Any, db: None) -> Any:
    """Signed in as staff without any permission or role."""
    client.force_login(make_user("staff"))
    return client


# --- Settings and time -----------------------------------------------------------------------------


@pytest.fixture
def media_root(settings: Any, tmp_path: Path) -> str:
    """Uploaded and rendered files in the test's own directory."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return str(settings.MEDIA_ROOT)


@pytest.fixture
def fast_passwords(settings: Any) -> None:
    """Hash passwords quickly (the default hasher takes a noticeable fraction of a second)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def at_noon_utc() -> Iterator[None]:
    """The clock stands still at NOON_UTC (tests/factories.py)."""
    with time_machine.travel(NOON_UTC, tick=False):
        yield


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
