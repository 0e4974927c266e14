"""The referral admin in a browser: an account manager adds a referral (a guard refused on its
field first), qualifies it now, and voids another with a reason; the customer page lists them."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from nurture.models import Referral
from nurture.services.referrals import referral_create
from tests.browser.conftest import log_in
from tests.factories import make_customer

pytestmark = pytest.mark.django_db(transaction=True)


def choose(page, field: str, customer) -> None:
    """Name a customer by id in a raw id field (as the lookup popup fills it)."""
    page.fill(f"#id_{field}", str(customer.pk))


def test_an_account_manager_adds_qualifies_and_voids_referrals(page, live_server, account_manager, settings):
    settings.NURTURE_REFERRAL_REVIEW_DAYS = 14
    for codename in ("view_referral", "add_referral", "change_referral"):
        account_manager.user_permissions.add(Permission.objects.get(codename=codename))
    ada = make_customer(first_name="Ada", last_name="Lovelace", account_manager=account_manager)
    grace = make_customer(first_name="Grace", last_name="Hopper", account_manager=account_manager)
    other = referral_create(
        referrer=ada, referred=make_customer(last_name="Babbage", account_manager=account_manager), source="admin"
    )

    log_in(page, live_server.url, account_manager.username, "/admin/nurture/referral/add/")
    choose(page, "referrer", ada)
    choose(page, "referred", ada)
    page.click("input[name=_save]")
    page.wait_for_selector(".errorlist")
    assert "a customer cannot refer themselves" in page.inner_text(".field-referrer")
    choose(page, "referred", grace)
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")
    referral = Referral.objects.get(referred=grace)
    assert (referral.referrer, referral.status, referral.source) == (ada, "pending", "admin")

    # Qualify the new one now: the review period is skipped.
    page.check(f"input[name=_selected_action][value='{referral.pk}']")
    page.select_option("select[name=action]", "qualify_now")
    page.click("button[name=index]")
    page.wait_for_selector(".messagelist .success")
    assert "1 referral(s) qualified" in page.inner_text(".messagelist")
    referral.refresh_from_db()
    assert referral.status == "qualified" and referral.milestone is not None

    # Void the other: without a reason nothing happens, with one it is void.
    page.check(f"input[name=_selected_action][value='{other.pk}']")
    page.select_option("select[name=action]", "void")
    page.click("button[name=index]")
    page.wait_for_selector(".messagelist .error")
    assert "reason is required" in page.inner_text(".messagelist")
    page.check(f"input[name=_selected_action][value='{other.pk}']")
    page.select_option("select[name=action]", "void")
    page.fill("input[name=reason]", "Already a lead of ours")
    page.click("button[name=index]")
    page.wait_for_selector(".messagelist .success")
    other.refresh_from_db()
    assert (other.status, other.void_reason) == ("void", "Already a lead of ours")

    # Ada's page lists the referrals she made.
    page.goto(f"{live_server.url}/admin/nurture/customer/{ada.pk}/change/")
    made = page.locator("#referrals-made")
    made.wait_for()
    assert "Hopper" in made.inner_text() and "qualified" in made.inner_text()
