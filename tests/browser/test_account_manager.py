"""An account manager's morning: Today's calls, one click to log an outcome, the journey shows it."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Cadence, Touchpoint
from nurture.lib import calendar
from tests.browser.conftest import log_in
from tests.factories import make_customer, make_rule, make_touchpoint

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_account_manager_logs_a_call_from_today_and_sees_it_on_the_journey(page, live_server, account_manager, bob):
    today = calendar.local_today(timezone.now(), "UTC")
    rule = make_rule(name="Two-week check-in")
    # "No answer" calls again two business days later (the cadence's reaction).
    Cadence.objects.filter(pk=rule.cadence_id).update(no_answer_retry_days=2, no_answer_max_retries=2)
    ada = make_customer(
        first_name="Ada", last_name="Lovelace", account_manager=account_manager, phone="+44 20 7946 0000"
    )
    earlier = make_touchpoint(
        customer=ada,
        rule=rule,
        due_on=today - dt.timedelta(days=40),
        status="done",
        outcome="reached",
        completed_at=timezone.now() - dt.timedelta(days=40),
        completed_by=account_manager,
    )
    due = make_touchpoint(customer=ada, rule=rule, due_on=today)
    overdue = make_touchpoint(
        customer=make_customer(last_name="Babbage", account_manager=account_manager),
        due_on=today - dt.timedelta(days=3),
    )
    make_touchpoint(customer=make_customer(last_name="Confidential", account_manager=bob), due_on=today, assignee=bob)

    log_in(page, live_server.url, "alice")

    # The site's front door leads to Today, with today's and overdue calls and counts that match.
    page.wait_for_selector(f'#due-today tr[data-touchpoint="{due.pk}"]')
    assert page.url == live_server.url + reverse("today")
    assert page.inner_text("#count-due-today") == "1"
    assert page.inner_text("#count-overdue") == "1"
    assert page.locator(f'#overdue tr[data-touchpoint="{overdue.pk}"]').count() == 1
    row = page.locator(f'#due-today tr[data-touchpoint="{due.pk}"]')
    assert "Two-week check-in" in row.inner_text()
    assert "Became a customer" in row.inner_text()
    assert "Confidential" not in page.content()

    # One click logs the outcome and comes back to Today.
    row.get_by_role("button", name="No answer").click()
    page.wait_for_selector(".messagelist .success")
    assert "Logged “No answer” for the call with Ada Lovelace" in page.inner_text(".messagelist")
    assert page.locator(f'#due-today tr[data-touchpoint="{due.pk}"]').count() == 0
    assert page.inner_text("#count-due-today") == "0"
    due.refresh_from_db()
    assert (due.status, due.outcome) == ("done", "no_answer")

    # The journey shows it, after the earlier call, and the retry the outcome planned.
    page.get_by_role("link", name="See Ada's journey").click()
    page.wait_for_selector("#journey svg")
    logged = page.locator(f'#journey svg g[data-touchpoint="{due.pk}"]')
    assert logged.get_attribute("data-state") == "no_answer"
    assert page.locator(f'#journey svg g[data-touchpoint="{earlier.pk}"]').get_attribute("data-state") == "reached"
    assert "No answer by alice" in page.inner_text(f'#journey-recent li[data-touchpoint="{due.pk}"]')
    [follow_up] = Touchpoint.objects.filter(follow_up_of=due)
    assert follow_up.due_on == calendar.business_days_after(today, 2, ada.country, ada.region)
    event = page.locator(f'#journey svg g[data-touchpoint="{follow_up.pk}"]')
    assert event.get_attribute("data-state") == "planned"
    assert page.locator(f'#journey-upcoming li[data-touchpoint="{follow_up.pk}"]').count() == 1
