"""A lead reads why a customer's health score is what it is, overrides it, and lifts the override,
in Chromium, under the Content-Security-Policy."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import HealthMeasure, HealthOverride, HealthSnapshot
from campaigns.services.health import health_score_day
from nurture.models import Customer
from tests.browser.conftest import log_in, with_password
from tests.browser.test_content_security_policy import PolicyWatch
from tests.factories import ACCOUNT_MANAGER_PERMISSIONS, current_score, make_customer, make_touchpoint, make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def lead(db: None) -> Any:
    return with_password(
        make_user(
            "lena", perms=[*ACCOUNT_MANAGER_PERMISSIONS, "nurture.view_all_customers", "campaigns.override_health"]
        )
    )


def test_a_lead_reads_the_why_panel_and_overrides_the_score(page, live_server, lead):
    today = timezone.localdate()
    ada = make_customer(first_name="Ada", last_name="Lovelace")
    Customer.objects.filter(pk=ada.pk).update(created_at=timezone.now() - dt.timedelta(days=400))
    for days in (3, 2, 1):
        when = timezone.now() - dt.timedelta(days=days)
        make_touchpoint(customer=ada, status="done", outcome="no_answer", completed_at=when, due_on=when.date())
    calls = HealthMeasure.objects.get(kind="call_outcomes")
    for weeks in range(1, 10):
        details = [[calls.pk, 1.0, 100, "3 calls in 90 days: 3 reached"]]  # the calls were all answered then
        HealthSnapshot.objects.create(
            customer=ada, date=today - dt.timedelta(weeks=weeks), score=90, band="green", details=details
        )
    health_score_day(as_of=today)
    computed = current_score(ada).computed
    watch = PolicyWatch(page)

    log_in(page, live_server.url, "lena", path=reverse("admin:nurture_customer_change", args=[ada.pk]))
    page.wait_for_selector("#health")
    why = page.inner_text("#health")
    assert "No answer on the last 3 calls" in why
    assert "3 of 7 measures" in why
    assert page.inner_text("#health .health-score") == str(computed)
    trend = page.inner_text("#health-trend")
    assert "vs 7 days ago" in trend
    now = next(line["points"] for line in current_score(ada).lines() if line["measure"] == calls.pk)
    assert f"{calls.name}: 100 → {now}" in trend  # what moved the score since
    assert page.locator("#health-sparkline polyline").count() == 1
    watch.assert_none("the customer page")

    page.click("#override-link")
    page.wait_for_selector("#override-form")
    assert page.input_value("#id_expires_on") == (today + dt.timedelta(days=30)).strftime("%Y-%m-%d")
    page.fill("#id_score", "25")
    page.fill("#id_reason", "The CFO told us they are reviewing suppliers")
    watch.assert_none("the override page")
    with page.expect_navigation():
        page.click("#override-submit")
    assert "is overridden" in page.inner_text(".messagelist")
    assert page.inner_text("#health-band") == "Red"
    assert "The CFO told us they are reviewing suppliers" in page.inner_text("#health-override")
    assert page.inner_text("#health .health-score") == "25"
    override = HealthOverride.objects.get(customer=ada)
    assert (override.score, override.created_by_id) == (25, lead.pk)

    with page.expect_navigation():
        page.click("#lift-override")
    assert "The override is lifted" in page.inner_text(".messagelist")
    assert page.locator("#health-override").count() == 0
    assert page.inner_text("#health .health-score") == str(computed)
    watch.assert_none("after lifting the override")
