"""The admin's search: what it matches, in which order, for whom, and (on PostgreSQL) on which index.

The customer list searches first name, last name, company and e-mail (contains, any case) and the
external ID (exact, like the import); the touchpoint, milestone and card lists search the same
columns of their customer. On PostgreSQL each text column has a trigram index (nurture 0011).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib import admin
from django.db import connection
from django.test import RequestFactory
from django.urls import reverse

from campaigns.models import Batch, Card, CardDesign
from nurture.models import Customer, Milestone, MilestoneKind
from tests.factories import make_card_manager, make_customer, make_touchpoint

pytestmark = pytest.mark.django_db

CUSTOMERS = reverse("admin:nurture_customer_changelist")
TRIGRAM_INDEXES = {
    "customer_first_name_trgm": "first_name",
    "customer_last_name_trgm": "last_name",
    "customer_company_trgm": "company",
    "customer_email_trgm": "email",
}


def listed(client: Any, url: str, **params: str) -> list[Any]:
    response = client.get(url, params)
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


@pytest.fixture
def people(alice: Any, bob: Any) -> dict[str, Customer]:
    return {
        "ada": make_customer(account_manager=alice, first_name="Ada", last_name="Lovelace", company="Analytical Ltd"),
        "grace": make_customer(account_manager=alice, first_name="Grace", last_name="Hopper", email="gh@navy.example"),
        "smith": make_customer(account_manager=alice, first_name="Jo", last_name="Smith", external_id="CRM-77"),
        "smithers": make_customer(account_manager=bob, first_name="Wayland", last_name="Smithers", company="Burns"),
    }


def test_the_search_matches_name_company_and_email_in_any_case(superuser_client, people):
    assert listed(superuser_client, CUSTOMERS, q="lovelace") == [people["ada"]]
    assert listed(superuser_client, CUSTOMERS, q="ANALYTICAL") == [people["ada"]]
    assert listed(superuser_client, CUSTOMERS, q="navy.example") == [people["grace"]]
    assert listed(superuser_client, CUSTOMERS, q="ada lovelace") == [people["ada"]]  # every word, in any column


def test_the_external_id_is_an_exact_match(superuser_client, people):
    assert listed(superuser_client, CUSTOMERS, q="CRM-77") == [people["smith"]]
    assert listed(superuser_client, CUSTOMERS, q="CRM-7") == []
    assert listed(superuser_client, CUSTOMERS, q="crm-77") == []  # as the import matches it


def test_search_results_are_newest_first_unless_a_column_is_sorted(superuser_client, people):
    assert listed(superuser_client, CUSTOMERS, q="smith") == [people["smithers"], people["smith"]]
    assert listed(superuser_client, CUSTOMERS, q="smith", o="1") == [people["smith"], people["smithers"]]  # by name
    assert listed(superuser_client, CUSTOMERS) == sorted(people.values(), key=lambda c: (c.last_name, c.first_name))


def test_an_account_manager_searches_their_own_customers(alice_client, people):
    assert listed(alice_client, CUSTOMERS, q="smith") == [people["smith"]]
    assert listed(alice_client, CUSTOMERS, q="Burns") == []


def test_the_customer_autocomplete_is_newest_first_and_scoped(alice_client, people):
    url = reverse("admin:autocomplete")
    params = {"term": "smith", "app_label": "nurture", "model_name": "milestone", "field_name": "customer"}

    response = alice_client.get(url, params)

    assert [row["id"] for row in response.json()["results"]] == [str(people["smith"].pk)]
    newest_first = admin.site._registry[Customer].get_search_results(
        RequestFactory().get("/"), Customer.objects.all(), "smith"
    )[0]
    assert list(newest_first) == [people["smithers"], people["smith"]]


def test_the_touchpoint_and_milestone_lists_search_their_customers_columns(superuser_client, people):
    touchpoint = make_touchpoint(customer=people["grace"])
    kind = MilestoneKind.objects.get(slug="became_customer")
    milestone = Milestone.objects.create(customer=people["smith"], kind=kind, date=dt.date(2024, 5, 1))

    assert listed(superuser_client, reverse("admin:campaigns_touchpoint_changelist"), q="hopper") == [touchpoint]
    assert listed(superuser_client, reverse("admin:campaigns_touchpoint_changelist"), q="CRM-77") == []
    assert listed(superuser_client, reverse("admin:nurture_milestone_changelist"), q="CRM-77") == [milestone]
    assert listed(superuser_client, reverse("admin:nurture_milestone_changelist"), q="navy") == []


def test_the_card_list_searches_the_customer_and_the_batch_number(client):
    manager = make_card_manager("carol")
    client.force_login(manager)
    design = CardDesign.objects.order_by("pk")[0]

    def card(customer: Customer, **fields: Any) -> Card:
        touchpoint = make_touchpoint(customer=customer, kind="card", assignee=manager)
        return Card.objects.create(
            touchpoint=touchpoint, design=design, message="Hello", recipient_name=customer.full_name, **fields
        )

    renamed = make_customer(account_manager=manager, first_name="Ada", last_name="Byron", company="Engines")
    draft = card(renamed)
    Customer.objects.filter(pk=renamed.pk).update(last_name="Lovelace")  # the card keeps "Ada Byron"
    batch = Batch.objects.create(due_by=dt.date(2025, 3, 14), status="ready", card_count=1)
    batched = card(make_customer(account_manager=manager, last_name="Other"), status="batched", batch=batch, sequence=1)
    url = reverse("admin:campaigns_card_changelist")

    assert listed(client, url, q="lovelace") == [draft]
    assert listed(client, url, q="engines") == [draft]
    assert listed(client, url, q=f"B{batch.pk}") == [batched]
    assert listed(client, url, q=str(batch.pk)) == [batched]
    assert listed(client, url, q=f"B{batch.pk}-001") == [batched]
    assert listed(client, url, q="nobody") == []


# --- PostgreSQL: the trigram indexes --------------------------------------------------------------


@pytest.fixture
def postgresql(on_postgresql: bool) -> None:
    if not on_postgresql:
        pytest.skip("the trigram indexes exist on PostgreSQL only")


def index_definitions(table: str) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid), i.indisvalid FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = %s::regclass",
            [table],
        )
        return {name: definition for name, definition, valid in cursor.fetchall() if valid}


def test_the_searched_columns_have_valid_trigram_indexes(postgresql):
    indexes = index_definitions("nurture_customer")

    for name, column in TRIGRAM_INDEXES.items():
        assert name in indexes, f"{name} missing or INVALID"
        assert "USING gin" in indexes[name] and "gin_trgm_ops" in indexes[name]
        assert f"upper(({column})::text)" in indexes[name]


def test_the_admin_search_can_use_the_trigram_indexes(postgresql, superuser, people):
    """EXPLAIN of the customer list's search: each icontains column on its index, ORed."""
    model_admin = admin.site._registry[Customer]
    request = RequestFactory().get(CUSTOMERS, {"q": "lovelace"})
    request.user = superuser
    results, _ = model_admin.get_search_results(request, model_admin.get_queryset(request), "lovelace")
    sql, params = results.order_by().query.sql_with_params()

    with connection.cursor() as cursor:
        # A few rows: without this PostgreSQL reads the table, whatever the indexes.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "BitmapOr" in plan, plan
    for name in TRIGRAM_INDEXES:
        assert f"Bitmap Index Scan on {name}" in plan, plan
    assert "nurture_customer_external_id" in plan, plan  # the exact match, on its unique index
    assert [customer.pk for customer in results] == [people["ada"].pk]
