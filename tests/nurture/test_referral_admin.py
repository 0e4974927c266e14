"""The referral admin (client): adding one with the guards on their fields, scoping to the account
manager, the actions (all or nothing), the customer page's referrals and the advocate filter."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.urls import reverse

from campaigns.models import Activity
from nurture.models import Customer, Referral
from nurture.services.referrals import referral_create
from tests.factories import ACCOUNT_MANAGER_PERMISSIONS, make_customer, make_user, messages_of

pytestmark = pytest.mark.django_db
REFERRAL_PERMISSIONS = [
    *ACCOUNT_MANAGER_PERMISSIONS,
    "nurture.view_referral",
    "nurture.add_referral",
    "nurture.change_referral",
]
CHANGELIST = "admin:nurture_referral_changelist"


@pytest.fixture
def manager(client: Any) -> Any:
    user = make_user("ann", perms=REFERRAL_PERMISSIONS)
    client.force_login(user)
    return user


def add(client: Any, referrer: Customer, referred: Customer) -> Any:
    return client.post(reverse("admin:nurture_referral_add"), {"referrer": referrer.pk, "referred": referred.pk})


def test_adding_a_referral_checks_the_guards_on_their_fields(client, manager, settings):
    settings.NURTURE_REFERRAL_REVIEW_DAYS = 14
    ada = make_customer(account_manager=manager, email="ada@example.com")
    twin = make_customer(account_manager=manager, email="ADA@example.com")
    grace = make_customer(account_manager=manager)
    response = add(client, ada, ada)
    assert response.status_code == 200
    assert "a customer cannot refer themselves" in str(response.context["adminform"].form.errors["referrer"])
    response = add(client, ada, twin)
    assert "another customer already has the e-mail address" in str(
        response.context["adminform"].form.errors["referred"]
    )
    response = add(client, ada, grace)
    assert response.status_code == 302
    referral = Referral.objects.get()
    assert (referral.referrer, referral.referred, referral.source, referral.status) == (ada, grace, "admin", "pending")
    response = add(client, twin, grace)
    assert "already referred by another customer" in str(response.context["adminform"].form.errors["referred"])


def test_an_account_manager_sees_and_picks_only_their_customers(client, manager):
    other = make_user("ben", perms=REFERRAL_PERMISSIONS)
    mine = referral_create(referrer=make_customer(account_manager=manager), referred=make_customer(), source="admin")
    theirs = referral_create(referrer=make_customer(account_manager=other), referred=make_customer(), source="admin")
    listing = client.get(reverse(CHANGELIST))
    assert [r.pk for r in listing.context["cl"].result_list] == [mine.pk]
    assert client.get(reverse("admin:nurture_referral_change", args=[theirs.pk])).status_code == 404
    response = add(client, make_customer(account_manager=manager), make_customer(account_manager=other))
    assert "referred" in response.context["adminform"].form.errors  # not a choice of theirs


def test_the_actions_are_all_or_nothing_and_void_needs_a_reason(client, manager, settings):
    settings.NURTURE_REFERRAL_REVIEW_DAYS = 14
    referrer = make_customer(account_manager=manager)
    pending = referral_create(referrer=referrer, referred=make_customer(), source="admin")
    settings.NURTURE_REFERRAL_REVIEW_DAYS = 0
    qualified = referral_create(referrer=referrer, referred=make_customer(), source="admin")
    url = reverse(CHANGELIST)
    both = {"_selected_action": [pending.pk, qualified.pk], "index": 0}
    response = client.post(url, {**both, "action": "qualify_now"}, follow=True)
    assert any("Nothing was qualified" in m for m in messages_of(response))
    pending.refresh_from_db()
    assert pending.status == "pending"
    response = client.post(url, {"_selected_action": [pending.pk], "action": "qualify_now", "index": 0}, follow=True)
    assert any("1 referral(s) qualified" in m for m in messages_of(response))
    response = client.post(url, {**both, "action": "void", "reason": ""}, follow=True)
    assert any("reason is required" in m for m in messages_of(response))
    response = client.post(url, {**both, "action": "void", "reason": "Test leads"}, follow=True)
    assert any("2 referral(s) voided" in m for m in messages_of(response))
    assert set(Referral.objects.values_list("status", "void_reason")) == {("void", "Test leads")}
    # The customer page lists the referrals they made.
    page = client.get(reverse("admin:nurture_customer_change", args=[referrer.pk]))
    assert 'id="referrals-made"' in page.content.decode()
    assert pending.referred.full_name in page.content.decode()


def test_the_advocate_filter(superuser_client):
    now = dt.datetime(2026, 5, 4, 10, tzinfo=dt.UTC)

    def answer(customer: Customer, score: int, days_ago: int) -> None:
        Activity.objects.create(customer=customer, channel="nps", score=score, occurred_at=now - dt.timedelta(days_ago))

    promoter, lapsed, referrer, one_referral, nobody = (make_customer(last_name=n) for n in "ABCDE")
    answer(promoter, 6, 30)
    answer(promoter, 9, 1)
    answer(lapsed, 10, 30)
    answer(lapsed, 6, 1)  # the latest answer counts
    for _ in range(2):
        referral_create(referrer=referrer, referred=make_customer(last_name="Z"), source="admin")
    referral_create(referrer=one_referral, referred=make_customer(last_name="Z"), source="admin")
    void = referral_create(referrer=one_referral, referred=make_customer(last_name="Z"), source="admin")
    Referral.objects.filter(pk=void.pk).update(status="void", voided_at=now, void_reason="x")
    url = reverse("admin:nurture_customer_changelist")
    advocates = superuser_client.get(url, {"advocate": "yes"}).context["cl"].result_list
    assert sorted(c.last_name for c in advocates) == ["A", "C"]
    others = superuser_client.get(url, {"advocate": "no"}).context["cl"].result_list
    assert {"B", "D", "E"} <= {c.last_name for c in others} and not {"A", "C"} & {c.last_name for c in others}
    assert nobody.pk in {c.pk for c in others}
