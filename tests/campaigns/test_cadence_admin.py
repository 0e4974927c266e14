"""The cadence admin: date anchors and segments checked on save, and the reach preview."""

import datetime as dt
from typing import Any

import pytest
import time_machine
from auditlog.models import LogEntry
from django.urls import reverse

from campaigns.models import Cadence, Rule
from tests.factories import make_customer, make_user

pytestmark = pytest.mark.django_db

ADD = reverse("admin:campaigns_cadence_add")
NOV_2 = dt.datetime(2026, 11, 2, 12, tzinfo=dt.UTC)


def cadence_data(**fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Season's greetings",
        "description": "",
        "anchor": "annual",
        "anchor_kind": "",
        "anchor_month": "12",
        "anchor_day": "1",
        "anchor_date": "",
        "anchor_holiday": "",
        "tiers": "",
        "countries": "",
        "no_answer_max_retries": "2",
        "at_risk_quiet_days": "30",
        "rules-TOTAL_FORMS": "0",
        "rules-INITIAL_FORMS": "0",
        "rules-MIN_NUM_FORMS": "0",
        "rules-MAX_NUM_FORMS": "1000",
        "stages-TOTAL_FORMS": "0",
        "stages-INITIAL_FORMS": "0",
        "stages-MIN_NUM_FORMS": "0",
        "stages-MAX_NUM_FORMS": "1000",
    }
    data.update(fields)
    return data


def rule_data(**fields: Any) -> dict[str, Any]:
    data = {
        "rules-TOTAL_FORMS": "1",
        "rules-0-name": "Greetings card",
        "rules-0-slug": "greetings-card",
        "rules-0-action": "card",
        "rules-0-active": "on",
        "rules-0-offset_amount": "0",
        "rules-0-offset_unit": "days",
        "rules-0-business_day_policy": "none",
        "rules-0-card_lead_days": "3",
        "rules-0-message_template": "Season's greetings, {{ first_name }}!",
        "rules-0-celebratory": "on",
    }
    data.update({f"rules-0-{name}": value for name, value in fields.items()})
    return data


def errors_of(response: Any) -> str:
    """Every error message of the cadence form and its rules' forms, as one text."""
    assert response.status_code == 200, "the form was saved"
    forms = [response.context["adminform"].form]
    forms += [form for formset in response.context["inline_admin_formsets"] for form in formset.formset]
    return " ".join(message for form in forms for messages in form.errors.values() for message in messages)


def test_an_administrator_adds_an_inactive_seasonal_cadence_with_a_segment(superuser_client):
    response = superuser_client.post(ADD, cadence_data(tiers="Gold, silver gold", countries="us;ca", **rule_data()))

    assert response.status_code == 302
    cadence = Cadence.objects.get(name="Season's greetings")
    assert (cadence.anchor, cadence.anchor_month, cadence.anchor_day, cadence.anchor_kind_id) == ("annual", 12, 1, None)
    assert (cadence.tiers, cadence.countries) == ("gold,silver", "CA,US")
    assert cadence.rules.get().slug == "greetings-card"


def test_switching_to_a_date_drops_the_milestone_kind(superuser_client):
    cadence = Rule.objects.get(slug="welcome-call").cadence
    url = reverse("admin:campaigns_cadence_change", args=[cadence.pk])
    response = superuser_client.post(
        url,
        cadence_data(
            name=cadence.name,
            anchor_kind=str(cadence.anchor_kind_id),
            **{"rules-INITIAL_FORMS": "0"},
        ),
    )
    assert response.status_code == 302
    cadence.refresh_from_db()
    assert (cadence.anchor, cadence.anchor_kind_id) == ("annual", None)


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"anchor_day": "31", "anchor_month": "4"}, "anchor_day", "Day must be 1 to 30 in month 4"),
        ({"anchor_day": ""}, "anchor_day", "Every year on a day and month needs the day."),
        ({"anchor": "once", "anchor_date": ""}, "anchor_date", "Once, on a date needs the date."),
        ({"anchor": "milestone"}, "anchor_kind", "A milestone of the customer needs the anchor milestone kind."),
        ({"tiers": "gold, Gold Plus!"}, "tiers", "Not a tier: 'plus!'"),
        ({"countries": "US, XX"}, "countries", "Unknown country 'XX'"),
        (
            {"anchor": "holiday", "anchor_holiday": "Thanksgivin", "countries": "US,GB"},
            "anchor_holiday",
            "Unknown holiday 'Thanksgivin': no public holiday of that name in GB, US; did you mean 'Thanksgiving Day'",
        ),
    ],
)
def test_bad_anchors_and_segments_are_refused_with_a_clear_error(superuser_client, fields, field, message):
    response = superuser_client.post(ADD, cadence_data(**fields))

    errors = response.context["adminform"].form.errors
    assert message in " ".join(errors[field])
    assert not Cadence.objects.filter(name="Season's greetings").exists()


def test_a_holiday_is_checked_against_the_countries_of_the_customers_without_a_country_limit(superuser_client):
    make_customer(country="GB")
    response = superuser_client.post(ADD, cadence_data(anchor="holiday", anchor_holiday="Thanksgiving"))
    assert "Unknown holiday 'Thanksgiving': no public holiday of that name in GB" in errors_of(response)

    make_customer(country="US")
    response = superuser_client.post(ADD, cadence_data(anchor="holiday", anchor_holiday="Thanksgiving"))
    assert response.status_code == 302  # the US keeps it; British customers are simply not reached


def test_a_rule_of_a_seasonal_cadence_does_not_repeat_by_itself(superuser_client):
    response = superuser_client.post(ADD, cadence_data(**rule_data(repeat_every_months="12")))
    assert "A seasonal cadence repeats by its date" in errors_of(response)


def seasonal_cadence(**fields: Any) -> Cadence:
    cadence = Cadence.objects.create(name="Thanksgiving", anchor="holiday", anchor_holiday="Thanksgiving", **fields)
    Rule.objects.create(
        cadence=cadence, slug="thanksgiving-card", name="Thanksgiving card", action="card", card_lead_days=3
    )
    return cadence


@time_machine.travel(NOV_2, tick=False)
def test_the_preview_counts_the_customers_by_country_with_their_dates(superuser_client):
    cadence = seasonal_cadence(active=False)
    for _ in range(3):
        make_customer(country="US", region="NY")
    make_customer(country="US", region="CA")
    make_customer(country="GB")
    make_customer(country="US", status="churned")

    response = superuser_client.get(reverse("admin:campaigns_cadence_preview", args=[cadence.pk]))

    preview = response.context["preview"]
    rows = {(row.country, row.region): row for row in preview.rows}
    assert {key: row.customers for key, row in rows.items()} == {("GB", ""): 1, ("US", "CA"): 1, ("US", "NY"): 3}
    assert (preview.reached, preview.not_reached) == (4, 1)
    [ny] = rows["US", "NY"].dates
    assert (ny.occurs_on, ny.due_on) == (dt.date(2026, 11, 26), dt.date(2026, 11, 23))
    assert rows["GB", ""].dates == []
    html = response.content.decode()
    assert "inactive" in html and "Not reached" in html


@time_machine.travel(NOV_2, tick=False)
def test_the_preview_counts_only_the_customers_the_user_sees(client, alice, bob):
    cadence = seasonal_cadence()
    make_customer(country="US", account_manager=alice)
    make_customer(country="US", account_manager=bob)
    viewer = make_user("viewer", perms=["campaigns.view_cadence"])
    client.force_login(viewer)
    url = reverse("admin:campaigns_cadence_preview", args=[cadence.pk])

    assert client.get(url).context["preview"].reached == 0  # sees no customer of their own

    client.force_login(make_user("lead", perms=["campaigns.view_cadence", "nurture.view_all_customers"]))
    assert client.get(url).context["preview"].reached == 2


def test_the_preview_is_for_those_who_may_see_cadences(client, alice):
    cadence = seasonal_cadence()
    client.force_login(make_user("nobody"))
    assert client.get(reverse("admin:campaigns_cadence_preview", args=[cadence.pk])).status_code == 403


def test_the_change_page_links_to_the_preview(superuser_client):
    cadence = seasonal_cadence()
    html = superuser_client.get(reverse("admin:campaigns_cadence_change", args=[cadence.pk])).content.decode()
    assert reverse("admin:campaigns_cadence_preview", args=[cadence.pk]) in html


def test_a_change_of_segment_is_in_the_audit_log():
    cadence = seasonal_cadence()
    cadence.excluded_customers.add(make_customer())

    assert any("excluded_customers" in str(entry.changes) for entry in LogEntry.objects.get_for_object(cadence))
