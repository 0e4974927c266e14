"""CSV import (upload, a worker's check, preview, confirm, a worker's import) and CSV export of customers and
touchpoints in the admin. The workers' tasks run in this process (tests/nurture/test_import_jobs.py has
the real worker)."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
import time_machine
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from nurture import tasks
from nurture.models import Customer, ImportJob, Milestone, MilestoneKind, Tag
from nurture.services.importing import import_customers
from tests.factories import make_customer, make_touchpoint, make_user, messages_of

pytestmark = pytest.mark.django_db

IMPORT = reverse("admin:nurture_customer_import")
CUSTOMERS = reverse("admin:nurture_customer_changelist")
TOUCHPOINTS = reverse("admin:campaigns_touchpoint_changelist")
HEADER = "external_id,first_name,last_name,company,country,time_zone,account_manager,tags,became_customer\n"
GOOD = HEADER + "C-1,Ada,Lovelace,Analytical Ltd,GB,Europe/London,alice,vip,2024-03-01\nC-2,Grace,Hopper,,US,,,,\n"
BAD = HEADER + "C-1,Ada,,,GB,Europe/Londn,alice,,2024-03-01\nC-2,Grace,Hopper,,XX,,,,not-a-date\nC-3,Ok,Row,,,,,,\n"


@pytest.fixture(autouse=True)
def _var_dir(settings, tmp_path, media_root):
    settings.VAR_DIR = tmp_path / "var"
    return tmp_path


def upload(client, text: str, name: str = "customers.csv"):
    file = io.BytesIO(text.encode())
    file.name = name
    return client.post(IMPORT, {"file": file})


def run_worker():
    """What a worker does with the queued imports (CELERY_TASK_ALWAYS_EAGER is off): the tasks, here."""
    for job in ImportJob.objects.filter(state="queued"):
        tasks.check_import(job.pk)
    for job in ImportJob.objects.filter(state="importing"):
        tasks.run_import(job.pk)


def checked(client, text: str):
    """Upload a file, let the worker check it, and open its page."""
    job_url = upload(client, text)["Location"]
    run_worker()
    return client.get(job_url)


def confirm_url(job_page) -> str:
    return reverse("admin:nurture_customer_import_confirm", args=[job_page.context["job"].pk])


def stored_files(media):
    folder = media / "imports"
    return sorted(folder.iterdir()) if folder.exists() else []


def read_csv(response) -> list[dict[str, str]]:
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment;")
    return list(csv.DictReader(io.StringIO(response.getvalue().decode())))


# --- Import -------------------------------------------------------------------------------------


def test_an_upload_is_stored_under_media_and_checked_by_a_worker_without_writing(
    superuser_client, alice, _var_dir, media_root
):
    response = upload(superuser_client, GOOD)

    assert response.status_code == 302
    job = ImportJob.objects.get()
    assert response["Location"] == reverse("admin:nurture_customer_import_job", args=[job.pk])
    [stored] = stored_files(_var_dir / "media")
    assert str(stored).startswith(media_root) and stored.name != "customers.csv" and len(stored.stem) == 32
    assert (job.state, job.original_name, job.file.name) == ("queued", "customers.csv", f"imports/{stored.name}")
    assert not (_var_dir / "var" / "imports").exists()
    # The request only stored the file: the page follows the worker.
    waiting = superuser_client.get(response["Location"])
    assert waiting.status_code == 200 and 'http-equiv="refresh"' in waiting.content.decode()
    assert "waiting for a worker to check it" in waiting.content.decode()

    run_worker()
    preview = superuser_client.get(response["Location"])

    assert preview.status_code == 200
    result = preview.context["preview"].result
    assert (result.rows, result.created, result.updated, result.milestones_created) == (2, 2, 0, 1)
    assert [(row.external_id, row.action) for row in preview.context["preview"].rows] == [
        ("C-1", "new"),
        ("C-2", "new"),
    ]
    html = preview.content.decode()
    assert 'id="import-confirm"' in html and 'http-equiv="refresh"' not in html
    assert not Customer.objects.exists()
    assert not Tag.objects.filter(slug="vip").exists()


def test_confirming_has_a_worker_import_the_file_and_remove_it(superuser_client, alice, _var_dir):
    page = checked(superuser_client, GOOD)

    response = superuser_client.post(confirm_url(page), {"confirm": "Import"}, follow=True)

    job = ImportJob.objects.get()
    assert response.redirect_chain[-1][0] == reverse("admin:nurture_customer_import_job", args=[job.pk])
    assert job.state == "importing"
    assert "waiting for a worker to import it" in response.content.decode()
    assert not Customer.objects.exists()

    run_worker()

    done = superuser_client.get(response.redirect_chain[-1][0])
    assert "customers.csv: 2 rows imported: 2 customers created" in done.content.decode()
    ada = Customer.objects.get(external_id="C-1")
    assert (ada.account_manager, list(ada.tags.values_list("slug", flat=True))) == (alice, ["vip"])
    assert stored_files(_var_dir / "media") == []
    # The upload page lists one's latest imports.
    assert f'href="{response.redirect_chain[-1][0]}">customers.csv</a>' in superuser_client.get(IMPORT).content.decode()
    # The same job cannot import twice.
    again = superuser_client.post(confirm_url(page), follow=True)
    assert any("already imported" in message for message in messages_of(again))
    assert Customer.objects.count() == 2


def test_the_preview_lists_every_bad_row_and_offers_no_import(superuser_client, alice):
    preview = checked(superuser_client, BAD)

    assert preview.context["preview"] is None
    problems = [(error.line, error.column) for error in preview.context["errors"]]
    assert problems == [(2, "last_name"), (2, "time_zone"), (3, "became_customer"), (3, "country")]
    html = preview.content.decode()
    assert "4 problems" in html and "on 2 lines" in html
    assert 'id="import-confirm"' not in html
    assert not Customer.objects.exists()
    assert superuser_client.post(confirm_url(preview)).status_code == 302
    run_worker()
    assert not Customer.objects.exists()


def test_every_problem_is_kept_and_offered_as_csv(superuser_client, alice, settings):
    bad = HEADER + "".join(f"C-{i},Ada,,,GB,,,,\n" for i in range(1200))

    preview = checked(superuser_client, bad)

    assert preview.context["error_count"] == 1200 and len(preview.context["errors"]) == 1000
    assert "The first 1,000 of 1,200 problems" in preview.content.decode()
    rows = read_csv(
        superuser_client.get(reverse("admin:nurture_customer_import_problems", args=[preview.context["job"].pk]))
    )
    assert len(rows) == 1200
    assert rows[0] == {"line": "2", "column": "last_name", "problem": "is required"}


def test_the_preview_tells_new_updated_and_unchanged_rows_apart(superuser_client, alice):
    import_customers(data=GOOD.encode())
    edited = GOOD.replace("Analytical Ltd", "Engines plc") + "C-3,Katherine,Johnson,,US,,,,\n"

    preview = checked(superuser_client, edited).context["preview"]

    assert [(row.external_id, row.action) for row in preview.rows] == [("C-1", "update"), ("C-3", "new")]
    assert (preview.result.created, preview.result.updated, preview.result.unchanged) == (1, 1, 1)
    assert Customer.objects.get(external_id="C-1").company == "Analytical Ltd"


def test_a_file_that_changes_nothing_cannot_be_confirmed(superuser_client, alice):
    import_customers(data=GOOD.encode())

    page = checked(superuser_client, GOOD)

    html = page.content.decode()
    assert "importing would change nothing" in html
    assert 'name="confirm" disabled' in html
    response = superuser_client.post(confirm_url(page), follow=True)
    assert any("would change nothing" in message for message in messages_of(response))
    assert ImportJob.objects.get().state == "checked"


def test_an_import_is_its_uploaders_own(superuser_client, client, alice):
    page = checked(superuser_client, GOOD)
    other = make_user("other", superuser=True)
    client.force_login(other)

    job_id = page.context["job"].pk
    assert client.get(reverse("admin:nurture_customer_import_job", args=[job_id])).status_code == 404
    assert client.get(reverse("admin:nurture_customer_import_status", args=[job_id])).status_code == 404
    assert client.post(confirm_url(page)).status_code == 404
    assert ImportJob.objects.get().state == "checked"
    run_worker()
    assert not Customer.objects.exists()


def test_an_unknown_or_old_preview_cannot_be_confirmed(superuser_client, alice):
    assert superuser_client.get(reverse("admin:nurture_customer_import_job", args=[999])).status_code == 404

    page = checked(superuser_client, GOOD)
    with time_machine.travel(dt.datetime.now(tz=dt.UTC) + dt.timedelta(hours=2)):
        response = superuser_client.post(confirm_url(page), follow=True)

    assert any("expired" in message for message in messages_of(response))
    run_worker()
    assert not Customer.objects.exists()


def test_the_progress_as_json(superuser_client, alice):
    job_url = upload(superuser_client, GOOD)["Location"]
    job = ImportJob.objects.get()
    ImportJob.objects.filter(pk=job.pk).update(state="checking", step="Checking every row", rows_total=40, rows_done=10)

    status = superuser_client.get(reverse("admin:nurture_customer_import_status", args=[job.pk])).json()
    page = superuser_client.get(job_url).content.decode()

    assert status == {
        "id": job.pk,
        "state": "checking",
        "step": "Checking every row",
        "rows_done": 10,
        "rows_total": 40,
        "percent": 25,
        "working": True,
        "problems": 0,
        "url": job_url,
    }
    assert 'http-equiv="refresh"' in page
    assert "checking every row," in page
    assert '<span id="import-rows-done">10</span>' in page and '<span id="import-rows-total">40</span>' in page


def test_an_account_manager_cannot_import(client, alice):
    client.force_login(alice)

    assert client.get(IMPORT).status_code == 403
    assert upload(client, GOOD).status_code == 403
    assert "Import CSV" not in client.get(CUSTOMERS).content.decode()
    assert client.get(reverse("admin:nurture_customer_import_job", args=[1])).status_code == 403
    assert not ImportJob.objects.exists()


def test_the_changelist_offers_import_to_administrators(superuser_client):
    assert IMPORT in superuser_client.get(CUSTOMERS).content.decode()


# --- Export -------------------------------------------------------------------------------------


def test_export_selected_customers_with_milestones_and_safe_cells(superuser_client, alice):
    kind = MilestoneKind.objects.get(slug="became_customer")
    ada = make_customer(external_id="C-1", first_name='=HYPERLINK("http://evil")', account_manager=alice)
    ada.tags.add(Tag.objects.create(slug="vip", name="VIP"))
    Milestone.objects.create(customer=ada, kind=kind, date=dt.date(2023, 1, 1))
    Milestone.objects.create(customer=ada, kind=kind, date=dt.date(2024, 3, 1))
    make_customer(external_id="C-2")
    Customer.objects.filter(pk=ada.pk).update(tier="gold")

    response = superuser_client.post(
        CUSTOMERS, {"action": "export_selected_csv", "_selected_action": [ada.pk], "index": "0"}
    )

    [row] = read_csv(response)
    assert row["external_id"] == "C-1"
    assert row["tier"] == "gold"
    assert row["first_name"] == '\'=HYPERLINK("http://evil")'
    assert (row["account_manager"], row["tags"], row["became_customer"]) == ("alice", "vip", "2024-03-01")


def test_export_all_follows_the_filters_and_search(superuser_client):
    make_customer(external_id="C-1", last_name="Lovelace", status="paused")
    make_customer(external_id="C-2", last_name="Hopper", status="paused")
    make_customer(external_id="C-3", last_name="Lovelace")
    url = reverse("admin:nurture_customer_export")

    rows = read_csv(superuser_client.get(url, {"status__exact": "paused", "q": "Lovelace"}))

    assert [row["external_id"] for row in rows] == ["C-1"]
    assert len(read_csv(superuser_client.get(url))) == 3


def test_the_export_link_carries_the_changelists_filters(superuser_client):
    html = superuser_client.get(CUSTOMERS, {"status__exact": "paused"}).content.decode()

    assert f"{reverse('admin:nurture_customer_export')}?status__exact=paused" in html


def test_an_account_manager_exports_only_their_customers(client, alice, bob):
    make_customer(external_id="MINE", account_manager=alice)
    make_customer(external_id="THEIRS", account_manager=bob)
    client.force_login(alice)

    rows = read_csv(client.get(reverse("admin:nurture_customer_export")))

    assert [row["external_id"] for row in rows] == ["MINE"]
    theirs = Customer.objects.get(external_id="THEIRS")
    response = client.post(CUSTOMERS, {"action": "export_selected_csv", "_selected_action": [theirs.pk], "index": "0"})
    assert not isinstance(response, StreamingHttpResponse) or read_csv(response) == []


def test_an_export_imports_back_unchanged(superuser_client, alice):
    import_customers(data=GOOD.encode())

    data = b"".join(superuser_client.get(reverse("admin:nurture_customer_export")).streaming_content)
    result = import_customers(data=data, dry_run=True)

    assert (result.rows, result.created, result.updated, result.unchanged) == (2, 0, 0, 2)


def test_export_all_does_not_count_the_rows(superuser_client):
    for _ in range(3):
        make_customer()

    with CaptureQueriesContext(connection) as queries:
        response = superuser_client.get(reverse("admin:nurture_customer_export"), {"status__exact": "active"})
        rows = read_csv(response)

    assert len(rows) == 3
    assert not [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]


def test_a_big_export_is_streamed_in_pieces(superuser_client, monkeypatch):
    monkeypatch.setattr("nurture.admin.exports.EXPORT_CHUNK", 2)
    for _ in range(5):
        make_customer()

    response = superuser_client.get(reverse("admin:nurture_customer_export"))

    pieces = list(response.streaming_content)
    assert len(pieces) == 4  # the header, then 2 + 2 + 1 rows
    assert len(list(csv.reader(io.StringIO(b"".join(pieces).decode())))) == 6


def test_bad_filters_export_nothing(superuser_client):
    response = superuser_client.get(reverse("admin:nurture_customer_export"), {"nonsense__exact": "1"}, follow=True)

    assert any("not valid" in message for message in messages_of(response))


def test_export_touchpoints_selected_and_filtered(client, alice, bob):
    mine = make_touchpoint(
        customer=make_customer(account_manager=alice, external_id="C-1"), due_on=dt.date(2025, 3, 10)
    )
    make_touchpoint(customer=make_customer(account_manager=alice), kind="card")
    make_touchpoint(customer=make_customer(account_manager=bob))
    client.force_login(alice)

    selected = read_csv(client.post(TOUCHPOINTS, {"action": "export_selected_csv", "_selected_action": [mine.pk]}))
    calls = read_csv(client.get(reverse("admin:campaigns_touchpoint_export"), {"kind__exact": "call"}))
    everything = read_csv(client.get(reverse("admin:campaigns_touchpoint_export")))

    assert [(row["customer"], row["due_on"], row["kind"]) for row in selected] == [("C-1", "2025-03-10", "call")]
    assert [row["customer"] for row in calls] == ["C-1"]
    assert len(everything) == 2  # not bob's
    assert (
        f"{reverse('admin:campaigns_touchpoint_export')}?kind__exact=call"
        in client.get(TOUCHPOINTS, {"kind__exact": "call"}).content.decode()
    )


# --- Export, then import ------------------------------------------------------------------------


def stored_customers():
    return sorted(
        (
            customer.external_id,
            *(getattr(customer, name) for name in ("first_name", "last_name", "company", "email", "phone", "city")),
            customer.status,
            customer.account_manager_id,
            customer.updated_at,
            tuple(sorted(customer.tags.values_list("slug", flat=True))),
            tuple(sorted(customer.milestones.values_list("kind__slug", "date", "updated_at"))),
        )
        for customer in Customer.objects.all()
    )


def test_it_imports_its_own_export_back_unchanged(superuser_client, alice):
    acme = make_customer(
        external_id="-7",
        first_name="'=Quoted",
        last_name="@Home",
        company="=Acme",
        phone="+44 20 7946 0000",
        email="ada@example.com",
        city="-Upton",
        status="do_not_contact",
        account_manager=alice,
        tier="gold_plus",
    )
    acme.tags.add(Tag.objects.create(slug="vip", name="VIP"))
    Milestone.objects.create(
        customer=acme, kind=MilestoneKind.objects.get(slug="became_customer"), date=dt.date(2024, 3, 1)
    )
    make_customer(external_id="C-2", company="Plain Ltd", phone="020 7946 0000")
    before = stored_customers()

    exported = b"".join(superuser_client.get(reverse("admin:nurture_customer_export")).streaming_content)
    # The export neutralised what a spreadsheet would run...
    row = next(row for row in csv.DictReader(io.StringIO(exported.decode())) if row["company"] == "'=Acme")
    assert (row["phone"], row["first_name"], row["external_id"]) == ("'+44 20 7946 0000", "''=Quoted", "'-7")

    # ...and the import takes the prefix off again: nothing changes.
    dry_run = import_customers(data=exported, dry_run=True)
    assert (dry_run.created, dry_run.updated, dry_run.unchanged) == (0, 0, 2)
    assert (dry_run.milestones_created, dry_run.milestones_updated, dry_run.changed_customer_ids) == (0, 0, [])
    result = import_customers(data=exported)
    assert (result.created, result.updated, result.unchanged) == (0, 0, 2)
    assert stored_customers() == before
    acme.refresh_from_db()
    assert (acme.phone, acme.company, acme.first_name) == ("+44 20 7946 0000", "=Acme", "'=Quoted")


def test_a_formula_typed_in_a_spreadsheet_is_imported_as_text_and_neutralised_again(superuser_client):
    typed = 'external_id,first_name,last_name,company\nC-1,Ada,Lovelace,"=HYPERLINK(""http://evil"",""x"")"\n'

    import_customers(data=typed.encode())

    assert Customer.objects.get(external_id="C-1").company == '=HYPERLINK("http://evil","x")'
    [row] = read_csv(superuser_client.get(reverse("admin:nurture_customer_export")))
    assert row["company"] == '\'=HYPERLINK("http://evil","x")'


def test_the_customer_list_filters_by_tier(superuser_client):
    make_customer(external_id="G", tier="gold")
    make_customer(external_id="S", tier="silver")
    make_customer(external_id="N")

    html = superuser_client.get(CUSTOMERS).content.decode()
    assert "?tier=gold" in html and "?tier=silver" in html

    rows = read_csv(superuser_client.get(reverse("admin:nurture_customer_export"), {"tier": "gold"}))
    assert [row["external_id"] for row in rows] == ["G"]
    rows = read_csv(superuser_client.get(reverse("admin:nurture_customer_export"), {"tier": ""}))
    assert [row["external_id"] for row in rows] == ["N"]


def test_an_account_manager_sees_only_their_customers_tiers(client, alice, bob):
    make_customer(external_id="MINE", account_manager=alice, tier="gold")
    make_customer(external_id="THEIRS", account_manager=bob, tier="platinum")
    client.force_login(alice)

    html = client.get(CUSTOMERS).content.decode()

    assert "?tier=gold" in html
    assert "platinum" not in html
