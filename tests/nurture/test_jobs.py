"""Job runs: the signal handlers record every task run (nurture/services/job_runs.py), and the admin shows them."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from django.db import OperationalError
from django.urls import reverse
from django.utils import timezone

from campaigns import tasks
from campaigns.models import PlannerRun
from nurture.models import JobRun
from nurture.services import job_runs as jobs
from nurture.signals import bulk_changes
from tests.factories import make_customer
from tests.support.worker import Worker, purge_broker, wait_until


def fake_task(name: str = "campaigns.tasks.plan_chunk", *, retries: int = 0, hostname: str = "w1@host") -> object:
    return SimpleNamespace(name=name, request=SimpleNamespace(retries=retries, hostname=hostname))


def run(task_id: str, task: object, *, retval: object = None, state: str = "SUCCESS", error: Exception | None = None):
    jobs.on_task_prerun(task_id=task_id, task=task)
    if error is not None and state == "FAILURE":
        jobs.on_task_failure(task_id=task_id, exception=error, einfo=None)
    if error is not None and state == "RETRY":
        jobs.on_task_retry(request=SimpleNamespace(id=task_id), reason=error)
    jobs.on_task_postrun(task_id=task_id, task=task, retval=retval, state=state)


# --- What a return value says ---------------------------------------------------------


@pytest.mark.parametrize(
    ("task_name", "retval", "summary"),
    [
        ("campaigns.tasks.plan_chunk", {"created": 120, "cancelled": 3}, {"created": 120, "cancelled": 3}),
        ("campaigns.tasks.plan_sweep", {"planner_run": 7}, {"planner_run": 7}),
        ("campaigns.tasks.send_digest", {"sent": True}, {"sent": True}),
        ("some.other.task", 5, {"result": 5}),
        ("some.other.task", (1, 2, 3), {"result": [1, 2, 3]}),
        ("some.other.task", {"drafted": 4, "when": dt.date(2025, 3, 10)}, {"drafted": 4, "when": "2025-03-10"}),
        ("some.other.task", None, {}),
        ("some.other.task", "done", {"result": "done"}),
    ],
)
def test_it_summarises_return_values(task_name, retval, summary):
    assert jobs.summarise(retval) == summary


# --- The handlers, called as Celery calls them ----------------------------------------


@pytest.mark.django_db
def test_it_records_a_successful_run():
    run("id-1", fake_task(), retval={"created": 12, "cancelled": 1})

    job = JobRun.objects.get(task_id="id-1")
    assert (job.task_name, job.status, job.worker) == ("campaigns.tasks.plan_chunk", "succeeded", "w1@host")
    assert job.summary == {"created": 12, "cancelled": 1}
    assert job.duration_ms is not None and job.duration_ms >= 0
    assert job.finished_at is not None and job.finished_at >= job.started_at
    assert job.error == ""


@pytest.mark.django_db
def test_it_records_a_failure_with_its_error():
    run("id-2", fake_task("campaigns.tasks.send_digest"), state="FAILURE", error=ValueError("bad date"))

    job = JobRun.objects.get(task_id="id-2")
    assert job.status == "failed"
    assert job.error.startswith("ValueError: bad date")
    assert job.summary == {}


@pytest.mark.django_db
def test_a_retried_or_redelivered_task_updates_its_one_row():
    task = fake_task()
    run("id-3", task, state="RETRY", error=OperationalError("server closed the connection"))
    job = JobRun.objects.get(task_id="id-3")
    assert job.status == "retrying"
    assert "server closed the connection" in job.error

    # The retry (same id), then a redelivery after its worker died before acknowledging it.
    jobs.on_task_prerun(task_id="id-3", task=fake_task(retries=1))
    assert JobRun.objects.get(task_id="id-3").status == "running"
    run("id-3", fake_task(retries=1), retval={"created": 5, "cancelled": 0})

    job = JobRun.objects.get(task_id="id-3")
    assert (job.status, job.error) == ("succeeded", "")
    assert job.summary == {"created": 5, "cancelled": 0, "retries": 1}
    assert JobRun.objects.count() == 1


@pytest.mark.django_db
def test_it_logs_one_json_line_per_run(caplog):
    with caplog.at_level(logging.INFO, logger="nurture.services.job_runs"):
        run("id-4", fake_task(), retval={"created": 3, "cancelled": 0})
        run("id-5", fake_task("campaigns.tasks.send_digest"), state="FAILURE", error=ValueError("nope"))

    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "nurture.services.job_runs"]
    assert [(line["id"], line["status"]) for line in lines] == [("id-4", "succeeded"), ("id-5", "failed")]
    ok, failed = lines
    assert ok["event"] == "job_run"
    assert ok["task"] == "campaigns.tasks.plan_chunk"
    assert ok["summary"] == {"created": 3, "cancelled": 0}
    assert ok["worker"] == "w1@host"
    assert isinstance(ok["duration_ms"], int)
    assert failed["error"] == "ValueError: nope"
    assert [r.levelname for r in caplog.records if r.name == "nurture.services.job_runs"] == ["INFO", "ERROR"]


@pytest.mark.django_db
def test_a_database_error_while_recording_never_fails_the_task(monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise OperationalError("the database system is shutting down")

    monkeypatch.setattr(JobRun.objects, "update_or_create", broken)
    with caplog.at_level(logging.INFO, logger="nurture.services.job_runs"):
        run("id-6", fake_task(), retval={"created": 1, "cancelled": 0})  # raises nothing

    messages = [r.getMessage() for r in caplog.records if r.name == "nurture.services.job_runs"]
    assert any("could not record job run id-6" in m for m in messages)
    assert json.loads(messages[-1])["status"] == "succeeded"  # the log line is still written


@pytest.mark.django_db
def test_latest_per_task_and_counts():
    now = timezone.now()
    for minutes, name, status in [
        (50, "a", "succeeded"),
        (40, "a", "failed"),
        (30, "b", "succeeded"),
        (60 * 30, "c", "failed"),
    ]:
        JobRun.objects.create(
            task_name=name, task_id=f"{name}-{minutes}", status=status, started_at=now - dt.timedelta(minutes=minutes)
        )

    latest = {job.task_name: job.task_id for job in JobRun.objects.latest_per_task()}
    assert latest == {"a": "a-40", "b": "b-30", "c": "c-1800"}
    assert JobRun.objects.counts_since(now - dt.timedelta(hours=24)) == {"a": (2, 1), "b": (1, 0)}


# --- The admin ------------------------------------------------------------------------


def test_the_jobs_page_shows_each_tasks_latest_run(superuser_client):
    now = timezone.now()
    JobRun.objects.create(
        task_name="campaigns.tasks.plan_chunk",
        task_id="old",
        status="succeeded",
        started_at=now - dt.timedelta(hours=2),
        duration_ms=90,
        summary={"created": 1, "cancelled": 0},
    )
    JobRun.objects.create(
        task_name="campaigns.tasks.plan_chunk",
        task_id="new",
        status="succeeded",
        started_at=now - dt.timedelta(minutes=5),
        duration_ms=1500,
        summary={"created": 42, "cancelled": 0},
    )
    JobRun.objects.create(
        task_name="campaigns.tasks.send_digest",
        task_id="bad",
        status="failed",
        started_at=now - dt.timedelta(minutes=1),
        error="ValueError: bad date",
    )

    response = superuser_client.get(reverse("admin:nurture_jobrun_jobs"))

    assert response.status_code == 200
    rows = {row.task_name: row for row in response.context["rows"]}
    assert rows["campaigns.tasks.plan_chunk"].latest.task_id == "new"
    assert rows["campaigns.tasks.plan_chunk"].runs_24h == 2
    assert rows["campaigns.tasks.send_digest"].failures_24h == 1
    # A registered task that never ran is listed too.
    assert rows["campaigns.tasks.send_digests"].latest is None
    html = response.content.decode()
    assert "created 42, cancelled 0" in html
    assert "1.5 s" in html
    assert "ValueError: bad date" in html


def test_the_job_runs_are_read_only(superuser_client):
    job = JobRun.objects.create(task_name="x", task_id="t", started_at=timezone.now())
    assert superuser_client.get(reverse("admin:nurture_jobrun_changelist")).status_code == 200
    assert superuser_client.get(reverse("admin:nurture_jobrun_add")).status_code == 403
    page = superuser_client.get(reverse("admin:nurture_jobrun_change", args=[job.pk]))
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    delete = superuser_client.post(reverse("admin:nurture_jobrun_delete", args=[job.pk]), {"post": "yes"})
    assert delete.status_code == 403


def test_the_jobs_page_needs_the_view_permission(staff_client):
    assert staff_client.get(reverse("admin:nurture_jobrun_jobs")).status_code == 403


# --- A real worker --------------------------------------------------------------------


@pytest.fixture
def worker(transactional_db, broker_url, tmp_path) -> Iterator[Worker]:
    purge_broker()
    started = Worker(tmp_path, concurrency=1).start()
    try:
        yield started
    finally:
        started.stop()


@pytest.mark.services
@pytest.mark.timeout(180)
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_real_worker_records_its_runs(worker):
    with bulk_changes():
        customer = make_customer(country="GB")
        customer.milestones.create(kind_id=_became_customer(), date=timezone.localdate() - dt.timedelta(days=3))

    tasks.plan_sweep.delay()

    def recorded() -> bool:
        run = PlannerRun.objects.filter(scope="sweep", finished_at__isnull=False).first()
        return (
            run is not None
            and JobRun.objects.filter(task_name="campaigns.tasks.plan_chunk").count() == run.chunk_count
            and not JobRun.objects.filter(status="running").exists()
        )

    wait_until(recorded, what="the sweep and its chunks to be recorded")
    run_id = PlannerRun.objects.get(scope="sweep").pk
    sweep = JobRun.objects.get(task_name="campaigns.tasks.plan_sweep")
    assert (sweep.status, sweep.summary) == ("succeeded", {"planner_run": run_id})
    assert sweep.worker.startswith(worker.name)
    assert sweep.duration_ms is not None and sweep.finished_at is not None
    chunks = JobRun.objects.filter(task_name="campaigns.tasks.plan_chunk")
    assert {job.status for job in chunks} == {"succeeded"}
    assert sum(job.summary["created"] for job in chunks) > 0
    assert '"event": "job_run"' in worker.log()

    # A task that fails (a malformed date) is recorded as failed, with its error.
    tasks.send_digest.delay(1, "not a date")
    wait_until(
        lambda: JobRun.objects.filter(task_name="campaigns.tasks.send_digest").exclude(status="running").exists(),
        what="the failing task",
    )
    failed = JobRun.objects.get(task_name="campaigns.tasks.send_digest")
    assert failed.status == "failed"
    assert "ValueError" in failed.error and "not a date" in failed.error
    assert "Traceback" in failed.error


def _became_customer() -> int:
    from nurture.models import MilestoneKind

    return MilestoneKind.objects.get(slug="became_customer").pk
