"""The health score in the admin: the "why" panel on the customer page, overrides (permission,
scope, audit), measures with a preview that saves nothing, and the backtest."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from auditlog.models import LogEntry
from django.urls import reverse

from campaigns.models import HealthMeasure, HealthOverride, HealthSnapshot
from campaigns.services.health import health_score_day
from nurture.models import Customer
from tests.factories import (
    ACCOUNT_MANAGER_PERMISSIONS,
    NOON_UTC,
    current_score,
    make_customer,
    make_touchpoint,
    make_user,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("at_noon_utc")]
TODAY = NOON_UTC.date()
LEAD_PERMISSIONS = [*ACCOUNT_MANAGER_PERMISSIONS, "nurture.view_all_customers", "campaigns.override_health"]


def scored_customer(**fields: Any) -> Customer:
    customer = make_customer(first_name="Ada", last_name="Lovelace", **fields)
    for days in (3, 2, 1):
        when = NOON_UTC - dt.timedelta(days=days)
        make_touchpoint(customer=customer, status="done", outcome="no_answer", completed_at=when, due_on=when.date())
    health_score_day(as_of=TODAY)
    return customer


def change_url(customer: Customer) -> str:
    return reverse("admin:nurture_customer_change", args=[customer.pk])


def test_the_customer_page_explains_the_score(alice_client, alice):
    ada = scored_customer(account_manager=alice)
    page = alice_client.get(change_url(ada)).content.decode()
    assert 'id="health"' in page
    assert "No answer on the last 3 calls" in page
    assert "3 of 7 measures" in page
    assert 'id="health-sparkline"' in page
    assert 'id="journey-health"' in page  # the journey's summary shows it too
    # An account manager without the permission sees no override.
    assert 'id="override-link"' not in page
    url = reverse("admin:nurture_customer_health_override", args=[ada.pk])
    assert alice_client.get(url).status_code == 403


def test_a_lead_overrides_with_a_reason_and_it_is_audited(client, alice):
    ada = scored_customer(account_manager=alice)
    lead = make_user("lena", perms=LEAD_PERMISSIONS)
    client.force_login(lead)
    page = client.get(change_url(ada)).content.decode()
    assert 'id="override-link"' in page
    url = reverse("admin:nurture_customer_health_override", args=[ada.pk])
    form = client.get(url)
    assert form.status_code == 200
    assert form.context["form"]["expires_on"].value() == TODAY + dt.timedelta(days=30)

    missing = client.post(url, {"score": 20, "reason": "", "expires_on": "2025-04-01"})
    assert "This field is required." in missing.content.decode()
    assert not HealthOverride.objects.exists()

    response = client.post(url, {"score": 20, "reason": "Their CFO is leaving", "expires_on": "2025-04-01"})
    assert response.status_code == 302
    override = HealthOverride.objects.get()
    assert (override.score, override.reason, override.created_by) == (20, "Their CFO is leaving", lead)
    assert LogEntry.objects.get_for_object(override).filter(actor=lead).exists()
    health = current_score(ada)
    assert (health.score, health.band) == (20, "red")
    page = client.get(change_url(ada)).content.decode()
    assert "Their CFO is leaving" in page

    end = reverse("admin:nurture_customer_health_override_end", args=[ada.pk])
    client.post(end, {"override": override.pk})
    override.refresh_from_db()
    assert override.ended_by == lead
    assert current_score(ada).overridden is False


def test_an_override_stays_within_one_s_customers(client, alice, bob):
    bobs = scored_customer(account_manager=bob)
    lead = make_user("lena", perms=[*ACCOUNT_MANAGER_PERMISSIONS, "campaigns.override_health"])
    Customer.objects.filter(pk=bobs.pk).update(account_manager=bob)
    client.force_login(lead)
    url = reverse("admin:nurture_customer_health_override", args=[bobs.pk])
    assert client.get(url).status_code == 404
    assert client.post(url, {"score": 1, "reason": "x", "expires_on": "2025-04-01"}).status_code == 404


def test_the_measure_preview_shows_a_score_and_saves_nothing(superuser_client):
    ada = scored_customer()
    recency = HealthMeasure.objects.get(kind="call_outcomes")
    url = reverse("admin:campaigns_healthmeasure_change", args=[recency.pk])
    data = {
        "name": recency.name,
        "kind": "call_outcomes",
        "weight": "2",
        "trial_weight": "",
        "params": '{"no_answer": 0}',
        "active": "on",
        "position": "1",
        "preview_customer": str(ada.pk),
        "_preview": "Preview",
    }
    response = superuser_client.post(url, data)
    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="health-preview"' in page
    assert "This is a preview: nothing was saved." in page
    # No answer is now worth 0: (2 x 100 + 2 x 0 + 3 x 100) / 7 = 71.
    assert response.context["health_preview"].score == 71
    recency.refresh_from_db()
    assert recency.params == {}

    saved = superuser_client.post(url, {**{k: v for k, v in data.items() if k != "_preview"}, "_save": "Save"})
    assert saved.status_code == 302
    recency.refresh_from_db()
    assert recency.params == {"no_answer": 0}


def test_a_bad_threshold_is_named(superuser_client):
    measure = HealthMeasure.objects.get(kind="recency")
    url = reverse("admin:campaigns_healthmeasure_change", args=[measure.pk])
    response = superuser_client.post(
        url, {"name": "Recency", "kind": "recency", "weight": "2", "params": '{"rythm": 3}', "position": "0"}
    )
    assert "unknown parameter &#x27;rythm&#x27; (known: rhythm_days, zero_after)" in response.content.decode()


# Snapshots hold each measure's line ([measure, weight, points, reason]); those written before hold
# [measure, points] pairs, or objects before those, and a history may span the changes.
@pytest.mark.parametrize("stored", ["lines", "pairs", "objects", "mixed"])
def test_the_backtest_compares_who_churned_with_who_stayed(superuser_client, stored):
    measures = {m.kind: m for m in HealthMeasure.objects.all()}
    recency, outcomes = measures["recency"].pk, measures["call_outcomes"].pk
    HealthMeasure.objects.filter(pk=outcomes).update(trial_weight=0)
    HealthMeasure.objects.exclude(pk__in=[recency, outcomes]).update(trial_weight=0)

    def snapshot(customer: Customer, day: dt.date, recency_points: int, outcome_points: int) -> None:
        shape = ["lines", "pairs", "objects"][day.toordinal() % 3] if stored == "mixed" else stored
        shapes: dict[str, list[Any]] = {
            "lines": [[recency, 2.0, recency_points, "Recently"], [outcomes, 1.0, outcome_points, "Calls"]],
            "pairs": [[recency, recency_points], [outcomes, outcome_points]],
            "objects": [
                {"measure": recency, "points": recency_points},
                {"measure": outcomes, "points": outcome_points},
            ],
        }
        HealthSnapshot.objects.create(customer=customer, date=day, score=0, details=shapes[shape])

    # Who churned had bad call outcomes before; recency tells nothing (the trial weights use only it).
    for n in range(3):
        gone = make_customer(status="churned")
        Customer.objects.filter(pk=gone.pk).update(churned_on=TODAY - dt.timedelta(days=10))
        for days in (30, 60, 90):
            snapshot(gone, TODAY - dt.timedelta(days=10 + days), 50 + n, 10)
    for n in range(4):
        stayed = make_customer()
        for days in (30, 60, 90):
            snapshot(stayed, TODAY - dt.timedelta(days=days), 50 + n, 90)

    response = superuser_client.get(reverse("admin:campaigns_health_backtest"))
    rows = {row.days: row for row in response.context["rows"]}
    assert set(rows) == {30, 60, 90}
    assert (rows[30].churned, rows[30].stayed) == (3, 4)
    assert rows[30].auc == 1.0
    assert rows[30].trial_auc == pytest.approx(0.5, abs=0.3)
    assert rows[30].trial_auc < rows[30].auc
    assert 'id="backtest"' in response.content.decode()


def test_the_backtest_is_for_administrators(alice_client):
    assert alice_client.get(reverse("admin:campaigns_health_backtest")).status_code == 403


def test_the_health_pages_load(superuser_client):
    scored_customer()
    for name in ("healthmeasure", "healthbands", "healthoverride"):
        assert superuser_client.get(reverse(f"admin:campaigns_{name}_changelist")).status_code == 200
    assert superuser_client.get(reverse("admin:campaigns_healthbands_change", args=[1])).status_code == 200
    assert superuser_client.get(reverse("admin:campaigns_healthmeasure_add")).status_code == 200


@time_machine.travel(NOON_UTC + dt.timedelta(days=1), tick=False)
def test_the_why_panel_of_a_customer_not_scored_yet(superuser_client):
    customer = make_customer()
    page = superuser_client.get(change_url(customer)).content.decode()
    assert "Not scored yet" in page
