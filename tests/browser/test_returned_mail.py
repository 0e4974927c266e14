"""Returned mail in the browser: the print room scans codes, checks and records them; the account
manager finds the flagged address on Today and on the customer's page."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Batch, Card, CardDesign, Touchpoint
from nurture.models import Customer
from tests.browser.conftest import log_in, with_password
from tests.factories import PRINT_ROOM_PERMISSIONS, make_customer, make_touchpoint, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def mailed_card(customer: Customer, batch: Batch, sequence: int) -> Card:
    touchpoint = make_touchpoint(customer=customer, kind="card", due_on=timezone.localdate(), status="done")
    return Card.objects.create(
        touchpoint=touchpoint,
        design=CardDesign.objects.exclude(artwork="uploaded").order_by("pk")[0],
        message="Dear Grace,\n\nhappy anniversary!",
        status="mailed",
        fits=True,
        batch=batch,
        sequence=sequence,
        recipient_name=customer.full_name,
        **customer.address.as_dict(),
    )


def test_the_print_room_records_returned_cards_and_the_account_manager_sees_the_flag(
    page, live_server, account_manager
):
    with_password(make_user("printer", perms=PRINT_ROOM_PERMISSIONS))
    today = timezone.localdate()
    address = {"address_line1": "1 Navy Way", "city": "Arlington", "postal_code": "22202", "country": "US"}
    grace = make_customer(first_name="Grace", last_name="Hopper", account_manager=account_manager, **address)
    alan = make_customer(first_name="Alan", last_name="Turing", account_manager=account_manager, **address)
    batch = Batch.objects.create(due_by=today, status="mailed", mailed_at=timezone.now(), card_count=2)
    returned = mailed_card(grace, batch, 1)
    mailed_card(alan, batch, 2)
    waiting = make_touchpoint(customer=grace, kind="card", due_on=today + dt.timedelta(days=20))

    # The print room: from Today to the returned mail page; a scanner types each code and Enter.
    log_in(page, live_server.url, "printer")
    page.click("#record-returned-mail")
    page.wait_for_selector("#id_codes")
    page.fill("#id_codes", f"b{batch.pk}-1\nB{batch.pk}-001\n")
    page.click("#check-returned")
    line = page.locator(f'#returned-check tr[data-code="B{batch.pk}-001"]')
    line.wait_for()
    assert "will be flagged undeliverable" in line.inner_text()
    assert page.locator("#returned-check tr.returned-line").count() == 1  # scanned twice, counted once
    returned.refresh_from_db()
    assert returned.status == "mailed"  # the check wrote nothing

    page.click("#record-returned")
    page.wait_for_selector(".messagelist .success")
    assert "Recorded 1 returned card" in page.inner_text(".messagelist")
    returned.refresh_from_db()
    assert returned.status == "returned"
    assert Touchpoint.objects.get(pk=waiting.pk).status == "held"

    # A code that is no card: named, and nothing recorded.
    page.fill("#id_codes", f"B{batch.pk}-002 B{batch.pk}-077")
    page.click("#check-returned")
    page.wait_for_selector("#returned-problems")
    assert f"B{batch.pk}-077: no card has this code" in page.inner_text("#returned-problems")
    assert page.locator("#record-returned").count() == 0

    # The account manager: the flag on Today, and on the customer's page.
    page.context.clear_cookies()
    log_in(page, live_server.url, "alice")
    row = page.locator(f'#undeliverable-list tr[data-customer="{grace.pk}"]')
    row.wait_for()
    assert page.inner_text("#count-undeliverable") == "1"
    assert row.locator("td.num").inner_text() == "1"  # one card held
    assert page.locator(f'#undeliverable-list tr[data-customer="{alan.pk}"]').count() == 0
    row.get_by_role("link", name="Change the address…").click()
    page.wait_for_selector("#address-undeliverable")
    assert "Undeliverable since" in page.inner_text("#address-undeliverable")
    assert page.locator("#journey-undeliverable").count() == 1
    assert page.locator('.journey-event[data-state="returned"]').count() == 1
    assert reverse("admin:nurture_customer_change", args=[grace.pk]) in page.url
