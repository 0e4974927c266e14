"""A CSV import whose task was lost (Redis down when the upload or the confirmation committed, or its
worker gone) is resumed by the periodic job: checked and imported once.

The publish helper drops the tasks while Redis is down (the ``outage`` fixture); once it is back, a
publish runs the task here, as a worker would.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from nurture import tasks
from nurture.models import Customer, ImportJob
from nurture.services import import_jobs
from nurture.services.import_jobs import import_job_confirm, import_job_create, import_jobs_resume_stalled
from tests.factories import make_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

CSV = "external_id,first_name,last_name,country,became_customer\n" + "".join(
    f"C-{i},First{i},Last{i},GB,2024-03-01\n" for i in range(3)
)


def later(minutes: float) -> time_machine.travel:
    return time_machine.travel(timezone.now() + dt.timedelta(minutes=minutes))


@pytest.fixture
def uploader(db: None) -> Any:
    return make_user("uploader")


def resume(capture: Any) -> dict[str, Any]:
    """The Beat job; what it queues is published once its claim commits."""
    with capture(execute=True):
        result: dict[str, Any] = tasks.resume_imports.apply().get()
    return result


def test_a_check_and_an_import_whose_tasks_were_lost_are_done_once_by_the_recovery(
    uploader, outage, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        job = import_job_create(upload=ContentFile(CSV.encode(), name="customers.csv"), by=uploader)
    assert outage.lost == [(import_jobs.CHECK_TASK, (job.pk,))]
    outage.end()  # Redis is back; the lost check is not in it
    assert resume(django_capture_on_commit_callbacks) == {"resumed": 0}  # too soon: the task may be late
    job.refresh_from_db()
    assert job.state == "queued"

    with later(11):
        first = resume(django_capture_on_commit_callbacks)
        second = resume(django_capture_on_commit_callbacks)

    assert (first, second) == ({"resumed": 1}, {"resumed": 0})
    assert outage.ran == [(import_jobs.CHECK_TASK, (job.pk,))]
    job.refresh_from_db()
    assert (job.state, job.summary["created"]) == ("checked", 3)

    # The confirmation's import is lost too.
    outage.down = True
    with django_capture_on_commit_callbacks(execute=True):
        import_job_confirm(job=job, by=uploader)
    assert outage.lost[-1] == (import_jobs.RUN_TASK, (job.pk,))
    outage.end()

    with later(11):
        first = resume(django_capture_on_commit_callbacks)
        second = resume(django_capture_on_commit_callbacks)

    assert (first, second) == ({"resumed": 1}, {"resumed": 0})
    # Each step ran once (the import's own re-plan of its customers runs too).
    assert [run for run in outage.ran if run[0].startswith("nurture.tasks.")] == [
        (import_jobs.CHECK_TASK, (job.pk,)),
        (import_jobs.RUN_TASK, (job.pk,)),
    ]
    job.refresh_from_db()
    assert (job.state, job.result["created"]) == ("done", 3)
    assert Customer.objects.count() == 3
    # The lost tasks, delivered after all, do nothing.
    assert tasks.check_import(job.pk)["outcome"] == "nothing"
    assert tasks.run_import(job.pk)["outcome"] == "nothing"
    assert Customer.objects.count() == 3


def test_a_job_is_queued_again_at_most_once_every_ten_minutes(uploader, outage, django_capture_on_commit_callbacks):
    """The queueing is claimed: while the task is still on its way (a slow queue, or lost again),
    the next runs leave the job alone until it has been quiet for RESUME_AFTER again."""
    job = import_job_create(upload=ContentFile(CSV.encode(), name="customers.csv"), by=uploader)
    ImportJob.objects.filter(pk=job.pk).update(updated_at=timezone.now() - dt.timedelta(minutes=11))

    assert resume(django_capture_on_commit_callbacks) == {"resumed": 1}
    assert resume(django_capture_on_commit_callbacks) == {"resumed": 0}
    with later(6):
        assert resume(django_capture_on_commit_callbacks) == {"resumed": 0}
    with later(11):
        assert resume(django_capture_on_commit_callbacks) == {"resumed": 1}
    assert outage.lost == [(import_jobs.CHECK_TASK, (job.pk,))] * 2  # Redis still down: dropped again


def test_a_job_whose_worker_died_is_queued_again_and_taken_over(uploader, outage, django_capture_on_commit_callbacks):
    job = import_job_create(upload=ContentFile(CSV.encode(), name="customers.csv"), by=uploader)
    silent_since = timezone.now() - import_jobs.STALE_AFTER - dt.timedelta(minutes=1)
    # A worker took the check, then died (and its message with it).
    ImportJob.objects.filter(pk=job.pk).update(
        state="checking", attempt="dead-worker", heartbeat_at=silent_since, updated_at=silent_since
    )
    outage.end()

    assert resume(django_capture_on_commit_callbacks) == {"resumed": 1}
    assert resume(django_capture_on_commit_callbacks) == {"resumed": 0}

    job.refresh_from_db()
    assert job.state == "checked" and job.attempt != "dead-worker"


def test_jobs_owed_nothing_or_at_work_are_left_alone(uploader, outage, django_capture_on_commit_callbacks):
    long_ago = timezone.now() - dt.timedelta(hours=2)
    for state, attempt, heartbeat in (
        ("checked", "w1", long_ago),  # waits for its uploader
        ("done", "w2", long_ago),
        ("failed", "w3", long_ago),
        ("importing", "w4", timezone.now()),  # a worker at it, alive
    ):
        ImportJob.objects.create(
            uploaded_by=uploader, original_name="x.csv", state=state, attempt=attempt, heartbeat_at=heartbeat
        )
    ImportJob.objects.update(updated_at=long_ago)
    outage.end()

    assert import_jobs_resume_stalled() == 0
    assert outage.ran == []


def test_beat_runs_the_recovery_every_five_minutes():
    entry = PeriodicTask.objects.get(task="nurture.tasks.resume_imports")
    assert entry.enabled and (entry.interval.every, entry.interval.period) == (5, "minutes")
