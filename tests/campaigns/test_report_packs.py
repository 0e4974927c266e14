"""The monthly report pack: one PDF of every report, read back with a PDF reader; e-mailed once to
each lead and administrator on the first working day of the month."""

import datetime as dt
import io
from typing import Any

import pytest
import time_machine
from django.core import mail
from pypdf import PdfReader

from campaigns import tasks
from campaigns.models import ReportPackDelivery
from campaigns.selectors.reports import REPORTS
from campaigns.services.report_figures import report_figures_record
from campaigns.services.report_packs import (
    is_first_working_day,
    pack_recipients,
    report_pack_pdf,
    report_pack_send,
)
from nurture.models import StaffProfile
from tests.factories import make_account_manager, make_customer, make_touchpoint, make_user

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 2, 7, tzinfo=dt.UTC)  # Monday 2 March 2026: the first working day
FEBRUARY = dt.date(2026, 2, 1)


@pytest.fixture(autouse=True)
def frozen_clock(settings):
    settings.NURTURE_REPORT_BACKFILL_DAYS = 45
    with time_machine.travel(NOW, tick=False):
        yield


def done(manager: Any, on: dt.date, outcome: str) -> None:
    make_touchpoint(
        customer=make_customer(account_manager=manager),
        due_on=on,
        assignee=manager,
        status="done",
        outcome=outcome,
        completed_at=dt.datetime.combine(on, dt.time(12), tzinfo=dt.UTC),
    )


@pytest.fixture
def team(alice: Any, bob: Any) -> Any:
    """Lena leads Alice; Bob is in no team. February's calls: Alice 2, Bob 5."""
    lead = make_account_manager("lena", email="lena@example.com")
    StaffProfile.objects.create(user=alice, lead=lead)
    for day in (3, 4):
        done(alice, dt.date(2026, 2, day), "reached")
    for day in range(10, 15):
        done(bob, dt.date(2026, 2, day), "voicemail")
    report_figures_record()
    return lead


def pdf_text(pdf: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(pdf))
    return len(reader.pages), "\n".join(page.extract_text() for page in reader.pages)


def test_the_pack_has_every_report_with_its_figures(team):
    pdf = report_pack_pdf(month=FEBRUARY, viewer=None)

    pages, text = pdf_text(pdf)
    assert pdf.startswith(b"%PDF-")
    assert pages >= 1 + len(REPORTS)  # the cover, then each report from a new page
    assert "Reports of February 2026" in text
    for definition in REPORTS.values():
        assert definition.title in text
    # The outcomes table of February: 2 reached and 5 voicemails, 7 in all.
    assert "Feb 2026 2 5 0 0 7" in text


def test_a_lead_gets_the_pack_of_their_team(team):
    _, text = pdf_text(report_pack_pdf(month=FEBRUARY, viewer=team))
    assert "Feb 2026 2 0 0 0 2" in text
    assert "Feb 2026 2 5 0 0 7" not in text


def test_leads_and_administrators_receive_it_once_a_month(team, alice, superuser):
    superuser.email = "root@example.com"
    superuser.save()
    administrator = make_user("admin2", email="admin2@example.com", groups=["Nurture administrators"])
    make_user("nomail", superuser=True)  # no address: nothing to send to

    recipients = pack_recipients()
    assert recipients == sorted([team.pk, superuser.pk, administrator.pk])  # not Alice nor Bob

    for user_id in recipients:
        assert report_pack_send(user_id=user_id, month=FEBRUARY)
        assert not report_pack_send(user_id=user_id, month=FEBRUARY)  # once

    assert sorted(m.to[0] for m in mail.outbox) == ["admin2@example.com", "lena@example.com", "root@example.com"]
    message = mail.outbox[0]
    assert message.subject == "nurture: the reports of February 2026"
    (name, content, mimetype) = message.attachments[0]
    assert (name, mimetype) == ("nurture-reports-2026-02.pdf", "application/pdf")
    assert PdfReader(io.BytesIO(content)).pages
    assert ReportPackDelivery.objects.filter(month=FEBRUARY, sent_at__isnull=False).count() == 3


@pytest.mark.parametrize(
    ("day", "country", "first"),
    [
        (dt.date(2026, 3, 2), "", True),  # Monday 2 March
        (dt.date(2026, 3, 1), "", False),  # a Sunday
        (dt.date(2026, 3, 3), "", False),  # the second working day
        (dt.date(2026, 1, 1), "", True),  # a Thursday, weekdays only
        (dt.date(2026, 1, 1), "GB", False),  # New Year's Day in Britain
        (dt.date(2026, 1, 2), "GB", True),
    ],
)
def test_the_first_working_day(settings, day, country, first):
    settings.NURTURE_REPORTS_COUNTRY = country
    assert is_first_working_day(day) is first


def test_the_beat_task_sends_only_on_the_first_working_day(team, django_capture_on_commit_callbacks, monkeypatch):
    queued: list[tuple[int, str]] = []
    monkeypatch.setattr(tasks.send_report_pack, "apply_async", lambda args, kwargs, **_: queued.append(tuple(args)))

    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.send_report_packs() == {"packs": 1}
    assert queued == [(team.pk, "2026-02-01")]

    with time_machine.travel(dt.datetime(2026, 3, 3, 7, tzinfo=dt.UTC), tick=False):
        assert tasks.send_report_packs() == {"packs": 0}


def test_the_pack_downloads_from_the_reports_page(client, team):
    client.force_login(team)
    response = client.get("/admin/reports/pack.pdf?month=2026-02")
    assert response["Content-Type"] == "application/pdf"
    _, text = pdf_text(response.content)
    assert "Feb 2026 2 0 0 0 2" in text
    assert client.get("/admin/reports/pack.pdf?month=Feb").status_code == 400
