"""/api/v1/customers: lists with filters, retrieve and upsert by external_id, milestones; the
token's owner sees only their own customers."""

import datetime as dt
import json

import pytest

from nurture.models import Customer, Milestone, Tag
from tests.factories import bearer, make_api_token, make_customer, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def auth(alice):
    return bearer(make_api_token(alice))


def put(client, path, body, auth):
    return client.put(path, json.dumps(body), content_type="application/json", **auth)


def test_the_list_shows_only_the_owners_customers_with_filters(client, alice, bob, auth):
    gold = make_customer(account_manager=alice, tier="gold", country="DE", external_id="A-1")
    make_customer(account_manager=alice, status="churned", external_id="A-2")
    make_customer(account_manager=bob, tier="gold", external_id="B-1")
    gold.tags.add(Tag.objects.create(slug="vip", name="VIP"))

    listed = client.get("/api/v1/customers", **auth).json()
    assert {c["external_id"] for c in listed["items"]} == {"A-1", "A-2"}
    assert [c["external_id"] for c in client.get("/api/v1/customers?tier=gold", **auth).json()["items"]] == ["A-1"]
    assert [c["external_id"] for c in client.get("/api/v1/customers?status=churned", **auth).json()["items"]] == ["A-2"]
    vip = client.get("/api/v1/customers?tag=vip", **auth).json()["items"]
    assert [(c["external_id"], c["tags"], c["account_manager"]) for c in vip] == [("A-1", ["vip"], "alice")]


def test_the_list_pages_with_a_cursor(client, alice, auth):
    for n in range(5):
        make_customer(account_manager=alice, external_id=f"P-{n}")
    seen, cursor = [], None
    while True:
        query = f"?limit=2&after={cursor}" if cursor else "?limit=2"
        page = client.get(f"/api/v1/customers{query}", **auth).json()
        seen += [c["external_id"] for c in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert sorted(seen) == [f"P-{n}" for n in range(5)]


def test_another_owners_customer_is_invisible(client, alice, bob, auth):
    make_customer(account_manager=bob, external_id="B-1")
    assert client.get("/api/v1/customers/B-1", **auth).status_code == 404
    assert client.get("/api/v1/customers/B-1/milestones", **auth).status_code == 404
    response = put(client, "/api/v1/customers/B-1", {"first_name": "Mine"}, auth)
    assert response.status_code == 409
    assert Customer.objects.get(external_id="B-1").first_name == "Test"


def test_a_user_who_sees_everyone_sees_every_customer(client, bob):
    make_customer(account_manager=bob, external_id="B-1")
    lead = make_user("lead", perms=["nurture.view_all_customers"])
    response = client.get("/api/v1/customers/B-1", **bearer(make_api_token(lead)))
    assert response.status_code == 200 and response.json()["account_manager"] == "bob"


def test_upsert_creates_then_updates_only_the_fields_given(client, alice, auth):
    body = {"first_name": "Ada", "last_name": "Lovelace", "country": "gb", "tier": "gold", "tags": ["vip"]}
    created = put(client, "/api/v1/customers/CRM-7", body, auth)
    assert created.status_code == 201, created.content
    assert created.json()["country"] == "GB" and created.json()["account_manager"] == "alice"
    updated = put(client, "/api/v1/customers/CRM-7", {"email": "ada@example.com"}, auth)
    assert updated.status_code == 200
    customer = Customer.objects.get(external_id="CRM-7")
    assert (customer.first_name, customer.email, customer.tier) == ("Ada", "ada@example.com", "gold")
    assert [t.slug for t in customer.tags.all()] == ["vip"]


def test_upsert_names_the_bad_field_and_writes_nothing(client, alice, auth):
    response = put(
        client, "/api/v1/customers/CRM-8", {"first_name": "Ada", "last_name": "L", "time_zone": "Mars/Base"}, auth
    )
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["loc"][-1] == "time_zone"
    missing = put(client, "/api/v1/customers/CRM-8", {"first_name": "Ada"}, auth)
    assert missing.status_code == 422
    assert [p["loc"][-1] for p in missing.json()["detail"]] == ["last_name"]
    bad_status = put(client, "/api/v1/customers/CRM-8", {"status": "asleep"}, auth)
    assert bad_status.status_code == 422
    assert not Customer.objects.filter(external_id="CRM-8").exists()


def test_writing_needs_the_write_scope(client, alice):
    reader = bearer(make_api_token(alice, scopes=["customers:read"]))
    assert put(client, "/api/v1/customers/CRM-9", {"first_name": "A", "last_name": "B"}, reader).status_code == 403


def test_milestones_are_listed_and_added_once(client, alice, auth):
    make_customer(account_manager=alice, external_id="A-1")
    body = {"kind": "renewal", "date": "2027-01-31", "note": "Two-year contract"}
    first = client.post("/api/v1/customers/A-1/milestones", json.dumps(body), content_type="application/json", **auth)
    again = client.post("/api/v1/customers/A-1/milestones", json.dumps(body), content_type="application/json", **auth)
    assert (first.status_code, first.json()["created"]) == (201, True)
    assert (again.status_code, again.json()["created"]) == (200, False)
    assert Milestone.objects.filter(customer__external_id="A-1").count() == 1
    listed = client.get("/api/v1/customers/A-1/milestones", **auth).json()
    assert listed == [{"kind": "renewal", "date": "2027-01-31", "note": "Two-year contract"}]
    unknown = client.post(
        "/api/v1/customers/A-1/milestones",
        json.dumps({"kind": "moon_landing", "date": "2027-01-31"}),
        content_type="application/json",
        **auth,
    )
    assert unknown.status_code == 422 and unknown.json()["detail"][0]["loc"][-1] == "kind"
    assert dt.date(2027, 1, 31) == Milestone.objects.get().date


def test_an_upsert_that_changes_nothing_writes_nothing(client, alice, auth):
    body = {"first_name": "Ada", "last_name": "Lovelace", "tags": ["vip"]}
    assert put(client, "/api/v1/customers/CRM-7", body, auth).status_code == 201
    before = Customer.objects.get(external_id="CRM-7").updated_at
    assert put(client, "/api/v1/customers/CRM-7", body, auth).status_code == 200
    assert Customer.objects.get(external_id="CRM-7").updated_at == before
    assert put(client, "/api/v1/customers/CRM-7", {"tags": ["vip", "gold"]}, auth).status_code == 200
    customer = Customer.objects.get(external_id="CRM-7")
    assert customer.updated_at > before and sorted(t.slug for t in customer.tags.all()) == ["gold", "vip"]


def test_upsert_keeps_the_churn_day_and_a_new_address_clears_the_undeliverable_flag(client, alice, auth):
    make_customer(
        external_id="CRM-8",
        account_manager=alice,
        address_line1="1 Old Road",
        address_undeliverable_on=dt.date(2026, 11, 1),
    )
    same = put(client, "/api/v1/customers/CRM-8", {"company": "Analytical Engines"}, auth)
    assert same.status_code == 200, same.content
    assert Customer.objects.get(external_id="CRM-8").address_undeliverable_on == dt.date(2026, 11, 1)

    moved = put(client, "/api/v1/customers/CRM-8", {"address_line1": "2 New Street", "status": "churned"}, auth)

    assert moved.status_code == 200, moved.content
    customer = Customer.objects.get(external_id="CRM-8")
    assert customer.address_undeliverable_on is None
    assert customer.churned_on is not None


def test_a_customer_created_churned_has_a_churn_day(client, alice, auth):
    body = {"first_name": "Grace", "last_name": "Hopper", "status": "churned"}
    assert put(client, "/api/v1/customers/CRM-9", body, auth).status_code == 201
    assert Customer.objects.get(external_id="CRM-9").churned_on is not None
