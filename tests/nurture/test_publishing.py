"""Publishing tasks: one quick attempt against a broker nobody listens on; logged, never raised in a request."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from kombu.exceptions import OperationalError

from campaigns import tasks
from nurture import publishing
from nurture.publishing import publish, publish_on_commit
from tests.support.broker import celery_broker
from tests.support.servers import free_port


@pytest.fixture
def broker_down() -> Iterator[None]:
    """The test process's Celery client points at a port where nothing listens."""
    with celery_broker(f"redis://127.0.0.1:{free_port()}/0"):
        yield


def test_a_broker_that_is_down_is_logged_and_reported_quickly(broker_down, caplog):
    caplog.set_level(logging.WARNING, logger="nurture.publishing")
    started = time.monotonic()
    assert publish(tasks.replan_customers, [7, 8]) is False
    assert publish("nurture.tasks.check_import", 3) is False
    assert time.monotonic() - started < 3
    messages = [record.getMessage() for record in caplog.records]
    assert "task campaigns.tasks.replan_customers([7, 8],) not queued" in messages[0]
    assert "task nurture.tasks.check_import(3,) not queued" in messages[1]


@pytest.mark.django_db
def test_after_the_commit_a_failed_publish_does_not_raise(broker_down, django_capture_on_commit_callbacks, caplog):
    caplog.set_level(logging.WARNING, logger="nurture.publishing")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        publish_on_commit(tasks.replan_customers, [1])
    assert len(callbacks) == 1
    assert "replan_customers([1],) not queued" in caplog.text


def test_in_a_workers_task_the_failure_is_raised_for_its_retries(broker_down, monkeypatch, caplog):
    monkeypatch.setattr(publishing, "_in_worker", lambda: True)
    with pytest.raises(OperationalError):
        publish(tasks.replan_customers, [1])
    assert "not queued" in caplog.text
