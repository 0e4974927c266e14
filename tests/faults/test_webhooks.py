"""Webhooks with real processes: the receiver down for a while, Redis down when the change commits.

The receiver is a process of its own (tests/support/webhook_receiver.py) that verifies every
request with the Standard Webhooks reference library and logs its webhook-id; the workers and
Beat are the deployment's (tests/faults/deployment.py).
"""

from __future__ import annotations

import collections
import json
import sys
from pathlib import Path

import pytest

from tests.faults.deployment import Deployment, Process, manage, wait_for
from tests.support.servers import free_port

pytestmark = [pytest.mark.services, pytest.mark.timeout(180)]

DISPATCH = "campaigns.tasks.dispatch_webhooks"
ALLOWED = {"NURTURE_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1"}

CREATE_ENDPOINT = """
from django.contrib.auth import get_user_model
from campaigns.services.webhooks import webhook_endpoint_create
owner = get_user_model().objects.create_user("hooks", email="hooks@example.com", is_staff=True)
types = ["card.mailed", "outcome.logged", "touchpoint.completed"]
endpoint = webhook_endpoint_create(url={url!r}, event_types=types, owner=owner)
print(endpoint.secret)
"""

RECORD_EVENTS = """
from django.db import transaction
from campaigns.services.webhooks import webhook_events_record
with transaction.atomic():
    webhook_events_record(type="card.mailed", events=[(i, {{"card": i}}) for i in range({first}, {first} + {count})])
"""

LOG_OUTCOME = """
from django.contrib.auth import get_user_model
from campaigns.models import Touchpoint
from campaigns.services.touchpoints import touchpoint_log_outcome
touchpoint = Touchpoint.objects.filter(kind="call", status="pending").order_by("pk").first()
# "voicemail" sets off no reaction: only the webhook events (a lost re-plan: tests/faults/test_redis_at_commit.py).
touchpoint_log_outcome(touchpoint=touchpoint, outcome="voicemail", by=get_user_model().objects.get(username="hooks"))
print(touchpoint.pk)
"""


def schedule_dispatch(deployment: Deployment, every_seconds: int = 1) -> None:
    db = deployment.db
    interval = db.scalar(
        "INSERT INTO django_celery_beat_intervalschedule (every, period) VALUES (%s, 'seconds') RETURNING id",
        [every_seconds],
    )
    db.query(
        "UPDATE django_celery_beat_periodictask SET enabled = true, interval_id = %s, expire_seconds = NULL "
        "WHERE task = %s",
        [interval, DISPATCH],
    )
    db.query(
        "INSERT INTO django_celery_beat_periodictasks (ident, last_update) VALUES (1, now()) "
        "ON CONFLICT (ident) DO UPDATE SET last_update = now()"
    )


def shell(deployment: Deployment, script: str) -> str:
    return manage(deployment.env(None, **ALLOWED), "shell", "--no-startup", "-c", script).strip()


def receiver(deployment: Deployment, port: int, secret: str, log: Path) -> Process:
    args = [sys.executable, "-m", "tests.support.webhook_receiver", str(port), secret, str(log)]
    process = Process("receiver", args, deployment.env(), deployment.root)
    deployment.processes.append(process)
    return process.start()


def received(log: Path) -> list[dict[str, object]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def test_the_receiver_down_for_a_while_then_every_event_arrives_once_per_webhook_id(
    deployment: Deployment, tmp_path: Path
) -> None:
    db = deployment.db
    port = free_port()
    secret = shell(deployment, CREATE_ENDPOINT.format(url=f"http://127.0.0.1:{port}/hooks")).splitlines()[-1]
    schedule_dispatch(deployment)
    deployment.worker("worker", concurrency=2, NURTURE_WEBHOOK_ALLOWED_HOSTS="127.0.0.1")
    beat = deployment.beat("beat")

    shell(deployment, RECORD_EVENTS.format(first=1, count=30))
    # Nobody listens: the first attempt and the retry five seconds later both fail.
    wait_for(
        lambda: db.scalar("SELECT count(*) FROM campaigns_webhookdelivery WHERE attempts >= 2") == 30,
        timeout=60,
        what=f"two failed attempts of each delivery\n{deployment.logs()}",
    )
    assert db.scalar("SELECT count(*) FROM campaigns_webhookdelivery WHERE status = 'delivered'") == 0
    assert "Connection refused" in (db.scalar("SELECT max(last_error) FROM campaigns_webhookdelivery") or "")
    failing_since = db.scalar("SELECT failing_since FROM campaigns_webhookendpoint")
    assert failing_since is not None

    log = tmp_path / "received.jsonl"
    receiver(deployment, port, secret, log)
    shell(deployment, RECORD_EVENTS.format(first=31, count=10))  # new events go at once
    # The next retry is five minutes away: time passes (the schedule itself is tested elsewhere).
    db.query("UPDATE campaigns_webhookdelivery SET next_attempt_at = now() WHERE status = 'pending' AND attempts > 0")
    wait_for(
        lambda: db.scalar("SELECT count(*) FROM campaigns_webhookdelivery WHERE status = 'delivered'") == 40,
        timeout=60,
        what=f"every delivery\n{deployment.logs()}",
    )
    beat.stop()
    deployment.wait_quiet()

    requests = received(log)
    ids = collections.Counter(str(r["id"]) for r in requests)
    expected = {row[0] for row in db.query("SELECT message_id FROM campaigns_webhookevent")}
    assert set(ids) == expected and len(expected) == 40
    assert set(ids.values()) == {1}  # each once
    assert all(r["verified"] for r in requests)
    assert db.scalar("SELECT failing_since FROM campaigns_webhookendpoint") is None


def test_redis_down_when_the_change_commits_and_the_outbox_delivers_later(
    deployment: Deployment, tmp_path: Path
) -> None:
    db = deployment.db
    db.query("UPDATE django_celery_beat_periodictask SET enabled = false")
    port = free_port()
    secret = shell(deployment, CREATE_ENDPOINT.format(url=f"http://127.0.0.1:{port}/hooks")).splitlines()[-1]
    log = tmp_path / "received.jsonl"
    receiver(deployment, port, secret, log)
    # The planner's seed touchpoints: one sweep, in this process's own manage command.
    deployment.manage("plan_touchpoints")

    deployment.redis.stop()
    touchpoint = int(shell(deployment, LOG_OUTCOME).splitlines()[-1])  # commits; its nudge cannot be sent
    assert db.scalar("SELECT status FROM campaigns_touchpoint WHERE id = %s", [touchpoint]) == "done"
    assert db.scalar("SELECT count(*) FROM campaigns_webhookevent") == 2  # outcome.logged, touchpoint.completed

    deployment.redis.start()  # empty: the nudge is gone for good
    schedule_dispatch(deployment)
    deployment.worker("worker", NURTURE_WEBHOOK_ALLOWED_HOSTS="127.0.0.1")
    deployment.beat("beat")
    wait_for(lambda: len(received(log)) >= 2, timeout=60, what=f"the events\n{deployment.logs()}")

    requests = received(log)
    assert len(requests) == 2 and all(r["verified"] for r in requests)
    delivered = db.query("SELECT status FROM campaigns_webhookdelivery")
    assert delivered == [("delivered",), ("delivered",)]
