"""No oracle through uniqueness: an account manager learns nothing about customers they cannot see
from the customer forms' validation (the external ID above all)."""

import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.forms import modelform_factory
from django.urls import reverse

from nurture.admin.customers import NEUTRAL_UNIQUE_MESSAGE, CustomerForm
from nurture.models import Customer, Milestone, MilestoneKind
from tests.factories import make_customer

pytestmark = pytest.mark.django_db

SECRET = "ALICE-0001"  # alice's customer's external ID: bob must not learn that it exists


def customer_data(**fields):
    return {
        "first_name": "Grace",
        "last_name": "Hopper",
        "status": "active",
        "time_zone": "UTC",
        "country": "",
        "milestones-TOTAL_FORMS": "0",
        "milestones-INITIAL_FORMS": "0",
        "touchpoints-TOTAL_FORMS": "0",
        "touchpoints-INITIAL_FORMS": "0",
        **fields,
    }


@pytest.fixture
def bob_client(client, bob):
    bob.user_permissions.add(Permission.objects.get(content_type__app_label="nurture", codename="add_customer"))
    client.force_login(bob)
    return client


def test_it_does_not_let_an_account_manager_probe_an_external_id_through_the_add_form(bob_client, alice, bob):
    make_customer(external_id=SECRET, account_manager=alice)
    url = reverse("admin:nurture_customer_add")

    taken = bob_client.post(url, customer_data(external_id=SECRET))
    free = bob_client.post(url, customer_data(external_id="UNUSED-1", last_name="King"))

    # Both are saved alike: the external ID posted is ignored, a generated one is given.
    assert (taken.status_code, free.status_code) == (302, 302)
    hopper, king = Customer.objects.get(last_name="Hopper"), Customer.objects.get(last_name="King")
    assert hopper.account_manager == king.account_manager == bob
    assert hopper.external_id.startswith("N-") and king.external_id.startswith("N-")
    assert hopper.external_id != king.external_id
    assert SECRET not in bob_client.get(url).content.decode()


def test_it_does_not_let_an_account_manager_probe_an_external_id_through_the_change_form(bob_client, alice, bob):
    make_customer(external_id=SECRET, account_manager=alice)
    mine = make_customer(external_id="BOB-0001", first_name="Grace", last_name="Hopper", account_manager=bob)
    url = reverse("admin:nurture_customer_change", args=[mine.pk])

    taken = bob_client.post(url, customer_data(external_id=SECRET, company="Navy"))
    free = bob_client.post(url, customer_data(external_id="UNUSED-1", company="Navy"))

    assert (taken.status_code, free.status_code) == (302, 302)
    mine.refresh_from_db()
    assert (mine.external_id, mine.company) == ("BOB-0001", "Navy")  # shown, not editable
    page = bob_client.get(url).content.decode()
    assert "BOB-0001" in page
    assert 'name="external_id"' not in page


def test_it_still_lets_a_user_who_sees_every_customer_set_the_external_id(superuser_client, alice):
    make_customer(external_id=SECRET, account_manager=alice)
    url = reverse("admin:nurture_customer_add")

    response = superuser_client.post(url, customer_data(external_id="CRM-42"))
    assert response.status_code == 302
    assert Customer.objects.filter(external_id="CRM-42").exists()

    # They see every customer: Django's own message, which says the value is taken, tells them nothing new.
    response = superuser_client.post(url, customer_data(external_id=SECRET))
    assert response.status_code == 200
    assert "already exists" in str(response.context["adminform"].form.errors["external_id"])


def test_it_words_a_uniqueness_error_neutrally_for_someone_who_does_not_see_every_customer(alice):
    make_customer(external_id=SECRET, account_manager=alice)
    fields = ["external_id", "first_name", "last_name", "status", "time_zone"]
    form_class = modelform_factory(Customer, form=CustomerForm, fields=fields)
    data = {"external_id": SECRET, "first_name": "Grace", "last_name": "Hopper", "status": "active", "time_zone": "UTC"}
    assert "already exists" in str(form_class(data).errors["external_id"])  # Django's own, for those who see all

    form = type("NeutralForm", (form_class,), {"neutral_unique_errors": True})(data)

    assert not form.is_valid()
    assert form.errors["external_id"] == [NEUTRAL_UNIQUE_MESSAGE]
    assert "exists" not in str(form.errors)


def test_it_refuses_a_milestone_for_a_customer_bob_cannot_see_as_if_it_did_not_exist(bob_client, alice):
    kind = MilestoneKind.objects.get(slug="birthday")
    theirs = make_customer(account_manager=alice)
    Milestone.objects.create(customer=theirs, kind=kind, date=dt.date(1980, 1, 1))
    url = reverse("admin:nurture_milestone_add")
    data = {"kind": kind.pk, "date": "1980-01-01"}

    existing = bob_client.post(url, {**data, "customer": theirs.pk}).context["adminform"].form.errors
    missing = bob_client.post(url, {**data, "customer": theirs.pk + 1000}).context["adminform"].form.errors

    assert list(existing) == list(missing) == ["customer"]
    assert "already exists" not in str(existing)
