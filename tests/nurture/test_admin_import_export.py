"""CSV import (upload, preview, confirm) and CSV export of customers and touchpoints in the admin."""

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

from nurture.admin.imports import upload_token
from nurture.models import Customer, Milestone, MilestoneKind, Tag
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
def _var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return tmp_path


def upload(client, text: str, name: str = "customers.csv"):
    file = io.BytesIO(text.encode())
    file.name = name
    return client.post(IMPORT, {"file": file})


def stored_files(var_dir):
    folder = var_dir / "imports"
    return sorted(folder.iterdir()) if folder.exists() else []


def read_csv(response) -> list[dict[str, str]]:
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment;")
    return list(csv.DictReader(io.StringIO(response.getvalue().decode())))


# --- Import -------------------------------------------------------------------------------------


def test_an_upload_is_kept_under_var_imports_and_previewed_without_writing(superuser_client, alice, _var_dir):
    response = upload(superuser_client, GOOD)

    assert response.status_code == 302
    assert response["Location"].startswith(f"{IMPORT}?token=")
    [stored] = stored_files(_var_dir)
    assert stored.name != "customers.csv" and len(stored.stem) == 32
    assert "token" not in str(dict(superuser_client.session))

    preview = superuser_client.get(response["Location"])

    assert preview.status_code == 200
    result = preview.context["preview"].result
    assert (result.rows, result.created, result.updated, result.milestones_created) == (2, 2, 0, 1)
    assert [(row.external_id, row.action) for row in preview.context["preview"].rows] == [
        ("C-1", "new"),
        ("C-2", "new"),
    ]
    assert 'id="import-confirm"' in preview.content.decode()
    assert not Customer.objects.exists()
    assert not Tag.objects.filter(slug="vip").exists()


def test_confirming_imports_the_file_and_removes_it(superuser_client, alice, _var_dir):
    preview_url = upload(superuser_client, GOOD)["Location"]
    token = preview_url.split("token=", 1)[1]

    response = superuser_client.post(IMPORT, {"token": token, "confirm": "Import"}, follow=True)

    assert response.redirect_chain[-1][0] == CUSTOMERS
    assert any("2 rows imported: 2 customers created" in message for message in messages_of(response))
    ada = Customer.objects.get(external_id="C-1")
    assert (ada.account_manager, list(ada.tags.values_list("slug", flat=True))) == (alice, ["vip"])
    assert stored_files(_var_dir) == []
    # The same token cannot import twice.
    again = superuser_client.post(IMPORT, {"token": token}, follow=True)
    assert any("gone" in message for message in messages_of(again))


def test_the_preview_lists_every_bad_row_and_offers_no_import(superuser_client, alice):
    preview = superuser_client.get(upload(superuser_client, BAD)["Location"])

    assert preview.context["preview"] is None
    problems = [(error.line, error.column) for error in preview.context["errors"]]
    assert problems == [(2, "last_name"), (2, "time_zone"), (3, "became_customer"), (3, "country")]
    html = preview.content.decode()
    assert "4 problems" in html and "on 2 lines" in html
    assert 'id="import-confirm"' not in html
    assert not Customer.objects.exists()


def test_the_preview_tells_new_updated_and_unchanged_rows_apart(superuser_client, alice):
    import_customers(data=GOOD.encode())
    edited = GOOD.replace("Analytical Ltd", "Engines plc") + "C-3,Katherine,Johnson,,US,,,,\n"

    preview = superuser_client.get(upload(superuser_client, edited)["Location"]).context["preview"]

    assert [(row.external_id, row.action) for row in preview.rows] == [("C-1", "update"), ("C-3", "new")]
    assert (preview.result.created, preview.result.updated, preview.result.unchanged) == (1, 1, 1)
    assert Customer.objects.get(external_id="C-1").company == "Analytical Ltd"


def test_a_file_that_changes_nothing_cannot_be_confirmed(superuser_client, alice):
    import_customers(data=GOOD.encode())

    html = superuser_client.get(upload(superuser_client, GOOD)["Location"]).content.decode()

    assert "importing would change nothing" in html
    assert 'name="confirm" disabled' in html


def test_a_token_is_bound_to_its_user(superuser_client, client, alice, _var_dir):
    token = upload(superuser_client, GOOD)["Location"].split("token=", 1)[1]
    other = make_user("other", superuser=True)
    client.force_login(other)

    response = client.post(IMPORT, {"token": token}, follow=True)

    assert any("not valid" in message for message in messages_of(response))
    assert not Customer.objects.exists()


def test_a_forged_or_old_token_is_refused(superuser_client, superuser, alice, _var_dir):
    forged = upload_token(name="../../secret_key", original="x.csv", user_pk=superuser.pk)
    response = superuser_client.get(f"{IMPORT}?token={forged}", follow=True)
    assert any("not valid" in message for message in messages_of(response))

    token = upload(superuser_client, GOOD)["Location"].split("token=", 1)[1]
    with time_machine.travel(dt.datetime.now(tz=dt.UTC) + dt.timedelta(hours=2)):
        response = superuser_client.post(IMPORT, {"token": token}, follow=True)
    assert any("expired" in message for message in messages_of(response))
    assert not Customer.objects.exists()


def test_an_account_manager_cannot_import(client, alice):
    client.force_login(alice)

    assert client.get(IMPORT).status_code == 403
    assert upload(client, GOOD).status_code == 403
    assert "Import CSV" not in client.get(CUSTOMERS).content.decode()


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

    response = superuser_client.post(
        CUSTOMERS, {"action": "export_selected_csv", "_selected_action": [ada.pk], "index": "0"}
    )

    [row] = read_csv(response)
    assert row["external_id"] == "C-1"
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
