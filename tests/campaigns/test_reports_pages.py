"""The Reports pages in the admin, the chart as SVG, the CSV download and export_report."""

import csv
import datetime as dt
import io
import json
from typing import Any

import pytest
import time_machine
from django.core.management import CommandError, call_command

from campaigns.selectors.reports import REPORTS
from campaigns.selectors.reports.base import resolve_filters
from campaigns.services.report_figures import report_figures_record
from nurture.lib.csvsafe import restore
from nurture.models import StaffProfile
from tests.factories import make_account_manager, make_customer, make_touchpoint

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 16, 12, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def frozen_clock(settings):
    settings.NURTURE_REPORT_BACKFILL_DAYS = 60
    with time_machine.travel(NOW, tick=False):
        yield


def done(manager: Any, on: dt.date, outcome: str = "reached") -> None:
    make_touchpoint(
        customer=make_customer(account_manager=manager),
        due_on=on,
        assignee=manager,
        status="done",
        outcome=outcome,
        completed_at=dt.datetime.combine(on, dt.time(12), tzinfo=dt.UTC),
    )


@pytest.fixture
def figures(alice: Any, bob: Any) -> None:
    done(alice, dt.date(2026, 3, 2))
    done(bob, dt.date(2026, 3, 3), outcome="voicemail")
    done(bob, dt.date(2026, 3, 4), outcome="at_risk")
    report_figures_record()


def test_the_reports_page_lists_every_report(alice_client):
    response = alice_client.get("/admin/reports/")
    assert response.status_code == 200
    for definition in REPORTS.values():
        assert f'href="/admin/reports/{definition.name}/"' in response.content.decode()


@pytest.mark.parametrize("name", list(REPORTS))
def test_every_report_page_has_its_chart_table_and_csv(alice_client, alice, figures, name):
    response = alice_client.get(f"/admin/reports/{name}/")

    assert response.status_code == 200
    page = response.content.decode()
    assert f'src="/admin/reports/{name}/chart.svg"' in page
    assert 'id="report-table-1"' in page
    assert f'href="/admin/reports/{name}.csv"' in page

    chart = alice_client.get(f"/admin/reports/{name}/chart.svg")
    assert chart["Content-Type"] == "image/svg+xml"
    assert chart.content.lstrip().startswith(b"<?xml") and b"<svg" in chart.content
    assert b"<script" not in chart.content

    download = alice_client.get(f"/admin/reports/{name}.csv")
    assert download["Content-Type"].startswith("text/csv")
    assert "attachment" in download["Content-Disposition"]
    rows = [
        {key: restore(value) for key, value in row.items()}
        for row in csv.DictReader(io.StringIO(download.content.decode()))
    ]
    # The same records as the page's first table (and the chart's numbers).
    expected = REPORTS[name].build(resolve_filters(viewer=alice)).records
    assert rows == [{key: "" if value is None else str(value) for key, value in row.items()} for row in expected]


def test_an_account_manager_sees_only_their_own_figures(alice_client, figures):
    rows = list(csv.DictReader(io.StringIO(alice_client.get("/admin/reports/outcomes.csv").content.decode())))
    assert sum(int(row["total"]) for row in rows) == 1

    page = alice_client.get("/admin/reports/outcomes/").content.decode()
    assert 'name="manager"' not in page  # nobody else to choose


def test_a_lead_chooses_among_their_team_only(client, alice, bob, figures):
    lead = make_account_manager("lena")
    StaffProfile.objects.create(user=alice, lead=lead)
    client.force_login(lead)

    page = client.get("/admin/reports/outcomes/").content.decode()
    assert '<option value="alice"' in page and '<option value="bob"' not in page

    response = client.get("/admin/reports/outcomes/?manager=bob")
    assert response.status_code == 400
    assert "no account manager &#x27;bob&#x27;" in response.content.decode()
    assert client.get("/admin/reports/outcomes.csv?manager=bob").status_code == 400


def test_an_administrator_filters_by_manager(superuser_client, figures):
    rows = list(csv.DictReader(io.StringIO(superuser_client.get("/admin/reports/outcomes.csv").content.decode())))
    assert sum(int(row["total"]) for row in rows) == 3
    rows = list(
        csv.DictReader(io.StringIO(superuser_client.get("/admin/reports/outcomes.csv?manager=bob").content.decode()))
    )
    assert sum(int(row["total"]) for row in rows) == 2


def test_a_bad_date_is_named(alice_client):
    response = alice_client.get("/admin/reports/on-time/?from=2026-02-30")
    assert response.status_code == 400
    assert "The start date &#x27;2026-02-30&#x27; is not a date" in response.content.decode()


def test_reports_need_a_role(staff_client, print_room, client):
    assert staff_client.get("/admin/reports/").status_code == 403
    client.force_login(print_room)
    assert client.get("/admin/reports/on-time/").status_code == 403


def test_an_unknown_report_is_not_found(alice_client):
    assert alice_client.get("/admin/reports/nope/").status_code == 404


# --- export_report ----------------------------------------------------------------------------------


def export(*args: str) -> str:
    out = io.StringIO()
    call_command("export_report", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_export_report_as_json_and_csv(figures):
    records = json.loads(export("outcomes", "--format", "json", "--from", "2026-03-01", "--to", "2026-03-31"))
    assert records == [{"month": "Mar 2026", "reached": 1, "voicemail": 1, "no_answer": 0, "at_risk": 1, "total": 3}]
    rows = list(csv.DictReader(io.StringIO(export("outcomes", "--format", "csv", "--from", "2026-03-01"))))
    assert [row["total"] for row in rows] == ["3"]


def test_export_report_for_one_manager(figures):
    records = json.loads(export("outcomes", "--format", "json", "--from", "2026-03-01", "--manager", "bob"))
    assert records[0]["total"] == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["outcomes", "--format", "csv", "--manager", "nobody"], "no account manager 'nobody'"),
        (["outcomes", "--format", "csv", "--from", "March"], "--from 'March' is not a date"),
        (["outcomes", "--format", "csv", "--from", "2026-03-10", "--to", "2026-03-01"], "starts"),
    ],
)
def test_export_report_names_a_bad_argument(db, args, message):
    with pytest.raises(CommandError, match=message):
        export(*args)


def test_export_report_knows_only_the_reports(db):
    with pytest.raises(CommandError, match="invalid choice"):
        export("sales", "--format", "csv")
