"""A report page in Chromium: the chart (an SVG image) loads and draws under the admin's
Content-Security-Policy, the table beneath has its numbers, and the filters and CSV work."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from campaigns.services.report_figures import report_figures_record
from tests.browser.conftest import log_in
from tests.browser.test_content_security_policy import PolicyWatch
from tests.factories import make_customer, make_touchpoint

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_report_page_shows_its_chart_and_table(page: Any, live_server: Any, account_manager: Any, settings) -> None:
    settings.NURTURE_REPORT_BACKFILL_DAYS = 40
    today = timezone.localdate()
    for days_ago, outcome in ((3, "reached"), (4, "reached"), (5, "voicemail")):
        day = today - dt.timedelta(days=days_ago)
        make_touchpoint(
            customer=make_customer(account_manager=account_manager),
            due_on=day,
            assignee=account_manager,
            status="done",
            outcome=outcome,
            completed_at=timezone.now() - dt.timedelta(days=days_ago),
        )
    report_figures_record()
    watch = PolicyWatch(page)

    log_in(page, live_server.url, "alice", "/admin/reports/")
    page.click("text=Outcomes")
    page.wait_for_selector("#report-chart")

    # The chart loads as an image and has a size (a broken image has a natural width of 0).
    page.wait_for_function("() => { const img = document.querySelector('#report-chart'); return img.complete; }")
    assert page.eval_on_selector("#report-chart", "img => img.naturalWidth") > 0
    # The table beneath: its total is the three calls, whichever months they fell in.
    totals = page.locator("#report-table-1 tbody tr td:last-child").all_inner_texts()
    assert sum(int(text.replace(",", "")) for text in totals) == 3
    watch.assert_none("outcomes report")

    # A filter that keeps nothing: the page says so in its table.
    page.select_option("#id_kind", "birthday")
    page.click("#report-filters input[type=submit]")
    page.wait_for_url("**kind=birthday**")
    totals = page.locator("#report-table-1 tbody tr td:last-child").all_inner_texts()
    assert sum(int(text.replace(",", "")) for text in totals) == 0

    with page.expect_download() as download:
        page.click("#report-csv")
    assert download.value.suggested_filename.startswith("outcomes-")
    watch.assert_none("outcomes report, filtered")
