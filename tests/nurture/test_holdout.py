"""The holdout group: drawn once when a customer is created, on every creation path, and kept."""

import datetime as dt
import io
from typing import Any

import pytest
from django.core.management import call_command
from django.test import override_settings

from campaigns.models import Touchpoint
from campaigns.services import planning
from config.env import ImproperEnvironment, env_int
from nurture.models import Customer, Milestone, MilestoneKind
from nurture.services.importing import import_customers
from tests.factories import make_customer

pytestmark = pytest.mark.django_db

HEADER = "external_id,first_name,last_name,time_zone,became_customer\n"


def always_held_out(monkeypatch: pytest.MonkeyPatch) -> None:
    # The draw itself is tested in tests/nurture/lib/test_holdout.py; here every draw says yes.
    monkeypatch.setattr("nurture.models.customers.draw_holdout", lambda percent: percent > 0)


def test_with_the_default_setting_nobody_is_held_out():
    customers = [make_customer() for _ in range(20)]
    assert not any(c.holdout for c in customers)


@override_settings(NURTURE_HOLDOUT_PERCENT=50)
def test_a_customer_created_in_the_admin_is_drawn_and_keeps_its_draw(admin_client: Any, monkeypatch):
    always_held_out(monkeypatch)
    response = admin_client.post(
        "/admin/nurture/customer/add/",
        {
            "external_id": "H-1",
            "first_name": "Hal",
            "last_name": "Out",
            "status": "active",
            "time_zone": "UTC",
            "milestones-TOTAL_FORMS": "0",
            "milestones-INITIAL_FORMS": "0",
            "touchpoints-TOTAL_FORMS": "0",
            "touchpoints-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    customer = Customer.objects.get(external_id="H-1")
    assert customer.holdout

    # Later saves and a setting turned off leave the draw as it was.
    with override_settings(NURTURE_HOLDOUT_PERCENT=0):
        customer.last_name = "Still out"
        customer.save()
        assert Customer.objects.get(pk=customer.pk).holdout


@override_settings(NURTURE_HOLDOUT_PERCENT=50)
def test_the_import_draws_new_customers_and_leaves_existing_ones(monkeypatch):
    # Created before the import, not held out (the draw under this test's 50% is not what it is about).
    make_customer(external_id="C-1", holdout=False)
    always_held_out(monkeypatch)

    import_customers(data=(HEADER + "C-1,Ada,Changed,UTC,2024-03-01\nC-2,Grace,Hopper,UTC,2025-06-30\n").encode())

    assert dict(Customer.objects.values_list("external_id", "holdout")) == {"C-1": False, "C-2": True}


def test_the_planner_gives_holdout_customers_no_touchpoints():
    kind = MilestoneKind.objects.get(slug="became_customer")
    nurtured = make_customer(holdout=False)
    held_out = make_customer(holdout=True)
    for customer in (nurtured, held_out):
        Milestone.objects.create(customer=customer, kind=kind, date=dt.date(2026, 11, 12))

    planning.plan(now=dt.datetime(2026, 11, 23, 12, tzinfo=dt.UTC))

    assert Touchpoint.objects.filter(customer=nurtured).exists()
    assert not Touchpoint.objects.filter(customer=held_out).exists()


def test_seed_demo_draws_its_customers(monkeypatch, settings):
    settings.NURTURE_HOLDOUT_PERCENT = 10
    always_held_out(monkeypatch)
    call_command("seed_demo", customers=5, no_plan=True, stdout=io.StringIO())
    assert Customer.objects.count() == 5
    assert all(Customer.objects.values_list("holdout", flat=True))


@pytest.mark.parametrize("raw", ["-1", "51", "five"])
def test_the_setting_is_checked(monkeypatch, raw):
    monkeypatch.setenv("NURTURE_HOLDOUT_PERCENT", raw)
    with pytest.raises(ImproperEnvironment, match="NURTURE_HOLDOUT_PERCENT"):
        env_int("NURTURE_HOLDOUT_PERCENT", 0, minimum=0, maximum=50)
