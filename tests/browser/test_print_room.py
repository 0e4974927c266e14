"""The print room: build a batch from Today, download its PDF; customers stay out of reach."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from campaigns.models import Batch, Card, CardDesign
from config.celery import app as celery_app
from tests.browser.conftest import log_in
from tests.factories import make_account_manager, make_customer, make_touchpoint

pytestmark = pytest.mark.django_db(transaction=True)


def approved_card(*, mail_by: dt.date, last_name: str) -> Card:
    customer = make_customer(
        first_name="Grace",
        last_name=last_name,
        account_manager=make_account_manager(),
        address_line1="1 Navy Way",
        city="Arlington",
        postal_code="22202",
        country="US",
    )
    touchpoint = make_touchpoint(customer=customer, kind="card", due_on=mail_by)
    return Card.objects.create(
        touchpoint=touchpoint,
        design=CardDesign.objects.exclude(artwork="uploaded").order_by("pk")[0],
        message="Dear Grace,\n\nhappy anniversary!",
        status="approved",
        fits=True,
        recipient_name=customer.full_name,
        address_line1=customer.address_line1,
        city=customer.city,
        postal_code=customer.postal_code,
        country=customer.country,
    )


def test_the_print_room_builds_a_batch_from_today_and_downloads_its_pdf(page, live_server, print_room, monkeypatch):
    # Render in the web process (no worker in this test): the render tasks run when the batch commits.
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    mail_by = timezone.localdate() + dt.timedelta(days=2)
    cards = [approved_card(mail_by=mail_by, last_name=name) for name in ("Hopper", "Murray")]

    log_in(page, live_server.url, "printer")

    group = page.locator(f'#to-print tr[data-mail-by="{mail_by.isoformat()}"]')
    group.wait_for()
    assert group.get_attribute("data-cards") == "2"
    assert page.inner_text("#count-to-print") == "2"
    assert page.locator("#calls").count() == 0  # no calls for the print room

    group.get_by_role("button", name="Batch up to here…").click()
    page.wait_for_selector("#qualifying-count")
    assert page.inner_text("#qualifying-count") == "2"
    page.click("input[name=build]")
    page.wait_for_url("**/admin/campaigns/batch/*/change/")
    batch = Batch.objects.get()
    assert batch.status == "ready", batch.error
    assert set(Card.objects.filter(pk__in=[c.pk for c in cards]).values_list("batch", flat=True)) == {batch.pk}

    page.goto(live_server.url + reverse("today"))
    ready = page.locator(f'#batches tr[data-batch="{batch.pk}"]')
    ready.wait_for()
    assert ready.get_attribute("data-status") == "ready"
    assert page.inner_text("#count-to-print") == "0"
    with page.expect_download() as download:
        ready.get_by_role("link", name="Cards PDF").click()
    pdf = download.value
    assert pdf.suggested_filename == f"B{batch.pk}-cards.pdf"
    with open(pdf.path(), "rb") as file:
        reader = PdfReader(io.BytesIO(file.read()))
    assert len(reader.pages) >= 2


def test_a_print_room_user_cannot_open_a_customer(page, live_server, print_room):
    customer = make_customer(first_name="Private", last_name="Person", account_manager=make_account_manager())

    log_in(page, live_server.url, "printer")
    page.wait_for_selector("#to-print")
    assert page.locator("#nav-sidebar a", has_text="Customers").count() == 0

    response = page.goto(live_server.url + reverse("admin:nurture_customer_change", args=[customer.pk]))

    assert response is not None and response.status in (403, 404)
    assert "Private Person" not in page.content()
    response = page.goto(live_server.url + reverse("admin:nurture_customer_changelist"))
    assert response is not None and response.status == 403
