"""The customer list's filters: choices from the indexes, scoped like the list."""

import pytest
from django.urls import reverse

from nurture.admin.filters import countries_in_use
from tests.factories import make_customer

pytestmark = pytest.mark.django_db
CUSTOMERS = reverse("admin:nurture_customer_changelist")


@pytest.fixture
def managers(alice, bob):
    for country in ("GB", "FR", "GB"):
        make_customer(account_manager=alice, country=country)
    make_customer(account_manager=bob, country="DE")
    make_customer(account_manager=None, country="")
    return alice, bob


def filter_choices(response, title):
    [spec] = [spec for spec in response.context["cl"].filter_specs if spec.title == title]
    return [choice["display"] for choice in spec.choices(response.context["cl"])][1:]  # without "All"


def test_countries_in_use_are_distinct_sorted_and_scoped(managers):
    alice, bob = managers

    assert countries_in_use() == ["", "DE", "FR", "GB"]
    assert countries_in_use(account_manager_id=alice.pk) == ["FR", "GB"]
    assert countries_in_use(account_manager_id=bob.pk) == ["DE"]


def test_an_account_manager_filters_by_their_own_customers_countries_only(client, managers):
    alice, _ = managers
    client.force_login(alice)

    response = client.get(CUSTOMERS)

    assert filter_choices(response, "country") == ["FR", "GB"]
    # Their list is their own customers: no account manager filter naming the others.
    assert "account manager" not in [spec.title for spec in response.context["cl"].filter_specs]
    assert "bob" not in response.content.decode()


def test_the_country_filter_filters(client, managers):
    alice, _ = managers
    client.force_login(alice)

    response = client.get(CUSTOMERS, {"country": "GB"})

    assert {c.country for c in response.context["cl"].result_list} == {"GB"}
    assert response.context["cl"].result_count == 2


def test_whoever_sees_everyone_filters_by_every_country_and_account_manager(client, superuser, managers):
    _, bob = managers
    client.force_login(superuser)

    response = client.get(CUSTOMERS)

    assert filter_choices(response, "country") == ["(none)", "DE", "FR", "GB"]
    assert set(filter_choices(response, "account manager")) >= {"alice", "bob"}
    by_bob = client.get(CUSTOMERS, {"account_manager__id__exact": bob.pk})
    assert [c.account_manager_id for c in by_bob.context["cl"].result_list] == [bob.pk]
