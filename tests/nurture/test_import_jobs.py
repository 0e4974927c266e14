"""The customer import as a background job (nurture.services.import_jobs, nurture.tasks).

The tasks run in this process here (CELERY_TASK_ALWAYS_EAGER is off in the tests), except in the
last test, which has a real worker import a file end to end.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from celery import current_app
from celery.exceptions import Retry
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.urls import reverse
from django.utils import timezone

from nurture import publishing, tasks
from nurture.models import Customer, ImportJob
from nurture.services import import_jobs
from nurture.services.import_jobs import (
    ImportJobError,
    JobProgress,
    import_job_check,
    import_job_confirm,
    import_job_create,
    import_job_run,
    import_jobs_sweep,
)
from tests.factories import make_user
from tests.support.worker import wait_until

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

HEADER = "external_id,first_name,last_name,country,account_manager,became_customer\n"


def rows(count: int, *, manager: str = "") -> str:
    return HEADER + "".join(f"C-{i},First{i},Last{i},GB,{manager},2024-03-01\n" for i in range(count))


@pytest.fixture
def queued(monkeypatch) -> list[tuple[str, int]]:
    """The tasks the services ask for (by name), instead of the broker."""
    sent: list[tuple[str, int]] = []
    monkeypatch.setattr(publishing, "publish", lambda name, job_id: sent.append((name, job_id)))
    return sent


def create(text: str, *, by: Any, name: str = "customers.csv") -> ImportJob:
    return import_job_create(upload=ContentFile(text.encode(), name=name), by=by)


def checked(text: str, *, by: Any) -> ImportJob:
    job = create(text, by=by)
    assert import_job_check(job_id=job.pk) == "checked"
    job.refresh_from_db()
    return job


def test_creating_a_job_stores_the_file_and_queues_the_check_after_the_commit(
    superuser, queued, media_root, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        job = create(rows(3), by=superuser)

    assert (job.state, job.uploaded_by, job.original_name) == ("queued", superuser, "customers.csv")
    assert job.file.name.startswith("imports/") and job.file.path.startswith(media_root)
    assert default_storage.open(job.file.name).read() == rows(3).encode()
    assert queued == [("nurture.tasks.check_import", job.pk)]
    assert not Customer.objects.exists()


def test_the_tasks_are_named_and_routed_to_the_default_queue():
    for task, name in ((tasks.check_import, import_jobs.CHECK_TASK), (tasks.run_import, import_jobs.RUN_TASK)):
        assert task.name == name
        assert current_app.amqp.router.route({}, name)["queue"].name == "celery"


def test_the_check_is_a_dry_run_that_keeps_the_preview(superuser, alice):
    job = checked(rows(60, manager="alice"), by=superuser)

    assert job.state == "checked" and job.checked_at is not None
    assert (job.summary["rows"], job.summary["created"], job.summary["dry_run"]) == (60, 60, True)
    assert len(job.preview) == import_jobs.PREVIEW_ROWS
    assert job.preview[0] == {
        "line": 2,
        "external_id": "C-0",
        "name": "First0 Last0",
        "company": "",
        "action": "new",
        "milestones": [["Became a customer", "2024-03-01"]],
    }
    assert (job.rows_done, job.rows_total, job.problems, job.attempt != "") == (60, 60, [], True)
    assert not Customer.objects.exists()


def test_the_import_is_one_transaction_that_marks_the_job_done(superuser, queued, media_root):
    job = checked(rows(5), by=superuser)
    stored = job.file.name

    import_job_confirm(job=job, by=superuser)
    assert (job.state, job.confirmed_at is not None) == ("importing", True)
    assert import_job_run(job_id=job.pk) == "done"

    job.refresh_from_db()
    assert (job.state, job.result["created"], job.result["dry_run"], job.rows_done) == ("done", 5, False, 5)
    assert job.finished_at is not None
    assert Customer.objects.count() == 5
    # The stored file is removed once imported.
    assert job.file.name == "" and not default_storage.exists(stored)


def test_a_task_delivered_twice_does_nothing_twice(superuser, queued):
    job = create(rows(5), by=superuser)

    assert tasks.check_import(job.pk) == {"job": job.pk, "outcome": "checked"}
    assert tasks.check_import(job.pk) == {"job": job.pk, "outcome": "nothing"}
    import_job_confirm(job=job, by=superuser)
    assert tasks.run_import(job.pk) == {"job": job.pk, "outcome": "done"}
    assert tasks.run_import(job.pk) == {"job": job.pk, "outcome": "nothing"}

    assert Customer.objects.count() == 5
    job.refresh_from_db()
    assert (job.state, job.result["created"]) == ("done", 5)


def test_a_job_another_worker_holds_is_retried_later_and_taken_over_when_its_worker_died(superuser, queued):
    job = checked(rows(3), by=superuser)
    import_job_confirm(job=job, by=superuser)
    ImportJob.objects.filter(pk=job.pk).update(attempt="someone-else", heartbeat_at=timezone.now())

    with pytest.raises(Retry):
        tasks.run_import(job.pk)
    assert not Customer.objects.exists()

    # That worker went silent: its claim is stale, and the import goes ahead.
    silent_since = timezone.now() - import_jobs.STALE_AFTER - dt.timedelta(seconds=1)
    ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=silent_since)
    assert tasks.run_import(job.pk)["outcome"] == "done"
    assert Customer.objects.count() == 3


def test_an_import_whose_job_was_taken_over_meanwhile_is_rolled_back(superuser, queued, monkeypatch):
    job = checked(rows(3), by=superuser)
    import_job_confirm(job=job, by=superuser)
    step = JobProgress.step

    def taken_over_while_writing(self: JobProgress, name: str, total: int) -> None:
        step(self, name, total)
        if name == "Writing every row":
            ImportJob.objects.filter(pk=self.job_id).update(attempt="another-worker")

    monkeypatch.setattr(JobProgress, "step", taken_over_while_writing)

    assert import_job_run(job_id=job.pk) == "nothing"

    assert not Customer.objects.exists()
    job.refresh_from_db()
    assert (job.state, job.attempt) == ("importing", "another-worker")


def test_a_file_with_bad_rows_fails_its_check_with_every_bad_row(superuser):
    bad = HEADER + "".join(f"C-{i},First,,XX,,not-a-date\n" for i in range(1500))
    job = create(bad, by=superuser)
    stored = job.file.name

    assert import_job_check(job_id=job.pk) == "failed"

    job.refresh_from_db()
    assert job.state == "failed"
    assert len(job.problems) == 4500  # three problems on each of the 1,500 rows
    assert job.problems[:3] == [
        [2, "became_customer", "'not-a-date' is not a date (YYYY-MM-DD)"],
        [2, "country", job.problems[1][2]],
        [2, "last_name", "is required"],
    ]
    assert not default_storage.exists(stored)
    with pytest.raises(ImportJobError, match="cannot be imported"):
        import_job_confirm(job=job, by=superuser)


def test_an_import_that_no_longer_imports_cleanly_writes_nothing_and_lists_why(superuser, alice, queued):
    job = checked(rows(3, manager="alice"), by=superuser)
    import_job_confirm(job=job, by=superuser)
    alice.is_active = False
    alice.save()

    assert import_job_run(job_id=job.pk) == "failed"

    job.refresh_from_db()
    assert job.state == "failed" and "no longer imports cleanly" in job.error
    assert [problem[:2] for problem in job.problems] == [
        [2, "account_manager"],
        [3, "account_manager"],
        [4, "account_manager"],
    ]
    assert not Customer.objects.exists()


def test_a_file_swept_away_fails_the_job_with_the_reason(superuser):
    job = create(rows(2), by=superuser)
    default_storage.delete(job.file.name)

    assert import_job_check(job_id=job.pk) == "failed"

    job.refresh_from_db()
    assert (job.state, job.error) == ("failed", "The uploaded file is gone (removed after a day): upload it again.")


def test_only_the_uploader_confirms_and_only_within_the_hour(superuser, queued):
    job = checked(rows(2), by=superuser)

    with pytest.raises(ImportJobError, match="Only the person who uploaded"):
        import_job_confirm(job=job, by=make_user("other", superuser=True))
    ImportJob.objects.filter(pk=job.pk).update(checked_at=timezone.now() - dt.timedelta(hours=2))
    with pytest.raises(ImportJobError, match="expired"):
        import_job_confirm(job=job, by=superuser)
    assert queued == []


def test_the_sweep_removes_the_files_of_old_imports(superuser):
    old, new = create(rows(1), by=superuser), create(rows(1), by=superuser)
    old_file = old.file.name
    ImportJob.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=2))

    assert import_jobs_sweep() == 1

    assert not default_storage.exists(old_file) and default_storage.exists(new.file.name)
    assert ImportJob.objects.get(pk=old.pk).file.name == ""


def test_progress_is_written_every_n_rows_and_at_every_step(superuser, monkeypatch):
    monkeypatch.setattr(import_jobs, "PROGRESS_EVERY", 10)
    writes: list[dict[str, Any]] = []
    monkeypatch.setattr(JobProgress, "_write", lambda self, **fields: writes.append(fields))
    job = create(rows(25), by=superuser)

    import_job_check(job_id=job.pk)

    assert writes == [
        {"step": "Checking every row", "rows_total": 25, "rows_done": 0},
        {"rows_done": 10},
        {"rows_done": 20},
        {"rows_done": 25},
        {"step": "Trying the import (nothing is kept)", "rows_total": 25, "rows_done": 0},
        {"rows_done": 25},  # the rows are written BATCH (1,000) at a time: here, all 25 at once
    ]


@pytest.mark.django_db(transaction=True)
def test_progress_is_committed_as_the_rows_are_checked(superuser, monkeypatch):
    """Outside the import's transaction each progress write is seen at once by the admin's requests."""
    monkeypatch.setattr(import_jobs, "PROGRESS_EVERY", 100)
    seen: list[tuple[str, int, int]] = []
    advance = JobProgress.advance

    def watched(self: JobProgress, done: int) -> None:
        advance(self, done)
        if done % 100 == 0:
            seen.append(ImportJob.objects.values_list("step", "rows_done", "rows_total").get(pk=self.job_id))

    monkeypatch.setattr(JobProgress, "advance", watched)
    job = create(rows(300), by=superuser)

    import_job_check(job_id=job.pk)

    assert seen[:3] == [
        ("Checking every row", 100, 300),
        ("Checking every row", 200, 300),
        ("Checking every row", 300, 300),
    ]


@pytest.mark.django_db(transaction=True)
def test_on_postgresql_progress_inside_the_imports_transaction_is_seen_at_once(
    superuser, queued, monkeypatch, on_postgresql
):
    """The rows are written in one transaction; its progress goes through a connection of its own."""
    if not on_postgresql:
        pytest.skip("SQLite has one writer at a time: there the page shows the step until it ends")
    job = checked(rows(2500), by=superuser)
    import_job_confirm(job=job, by=superuser)
    onlooker = connections.create_connection(DEFAULT_DB_ALIAS)  # like the admin's request
    seen: list[tuple[str, int]] = []
    advance = JobProgress.advance

    def watched(self: JobProgress, done: int) -> None:
        advance(self, done)
        if self.total == 2500 and connection.in_atomic_block:
            with onlooker.cursor() as cursor:
                cursor.execute("SELECT step, rows_done FROM nurture_importjob WHERE id = %s", [job.pk])
                seen.append(cursor.fetchone())

    monkeypatch.setattr(JobProgress, "advance", watched)
    try:
        assert import_job_run(job_id=job.pk) == "done"
    finally:
        onlooker.close()

    assert seen == [("Writing every row", 1000), ("Writing every row", 2000), ("Writing every row", 2500)]
    assert Customer.objects.count() == 2500


def test_an_upload_of_100_000_rows_only_stores_the_file_and_queues_the_check(
    superuser_client, queued, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    big = io.BytesIO(rows(100_000).encode())
    big.name = "everyone.csv"

    with django_capture_on_commit_callbacks(execute=True), django_assert_max_num_queries(15):
        response = superuser_client.post(reverse("admin:nurture_customer_import"), {"file": big})

    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:nurture_customer_import_job", args=[job.pk])
    # Nothing was read, checked or imported in the request: a worker does that.
    assert (job.state, job.rows_total, job.rows_done, job.summary, job.checked_at) == ("queued", 0, 0, {}, None)
    assert queued == [(import_jobs.CHECK_TASK, job.pk)]
    assert not Customer.objects.exists()
    assert default_storage.size(job.file.name) == len(rows(100_000).encode())


# --- A real worker ----------------------------------------------------------------------------------


@pytest.mark.services
@pytest.mark.timeout(240)
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_worker_checks_and_imports_a_file_end_to_end(worker_factory, superuser, monkeypatch, tmp_path, settings):
    # The worker process and this one share the files (MEDIA_ROOT), as web and workers do.
    media = tmp_path / "shared-media"
    monkeypatch.setenv("MEDIA_ROOT", str(media))
    settings.MEDIA_ROOT = str(media)
    worker_factory(concurrency=1)

    job = create(rows(2500), by=superuser)  # queued when it commits: at once, no transaction here
    wait_until(lambda: ImportJob.objects.get(pk=job.pk).state in ("checked", "failed"), what="the check")
    job.refresh_from_db()
    assert (job.state, job.summary["created"], job.rows_done, job.rows_total) == ("checked", 2500, 2500, 2500)
    assert not Customer.objects.exists()

    import_job_confirm(job=job, by=superuser)
    wait_until(lambda: ImportJob.objects.get(pk=job.pk).state in ("done", "failed"), what="the import")

    job.refresh_from_db()
    assert (job.state, job.result["created"], job.error) == ("done", 2500, "")
    assert Customer.objects.count() == 2500
    # The worker removes the file just after it marks the job done.
    wait_until(lambda: list(media.joinpath("imports").iterdir()) == [], what="the stored file to be removed")
