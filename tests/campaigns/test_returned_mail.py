"""Returned mail: recording returned cards by their codes, the undeliverable flag, held and released cards."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.urls import reverse

from campaigns.models import Batch, Card, CardDesign, Touchpoint
from campaigns.selectors.journey import customer_journey
from campaigns.selectors.today import today_page
from campaigns.services import planning
from campaigns.services.cards import cards_draft_missing, cards_follow_touchpoints
from campaigns.services.returns import (
    ReturnedMailError,
    cards_record_returned,
    cards_undo_returned,
    parse_sequence_codes,
    returned_cards_check,
)
from nurture.lib.customer_scope import CustomerScope
from nurture.models import Customer
from nurture.services.importing import import_customers
from tests.factories import (
    PRINT_ROOM_PERMISSIONS,
    make_account_manager,
    make_customer,
    make_touchpoint,
    make_user,
    messages_of,
)

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)
TODAY = NOW.date()
ADDRESS = {"address_line1": "1 Navy Way", "city": "Arlington", "postal_code": "22202", "country": "US"}


@pytest.fixture(autouse=True)
def _frozen() -> Any:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def printer(db: None) -> Any:
    """The print room as its role has it (campaigns.print_cards records returns)."""
    return make_user("printer", perms=PRINT_ROOM_PERMISSIONS)


def design() -> CardDesign:
    return CardDesign.objects.exclude(artwork="uploaded").order_by("pk")[0]


def card_for(customer: Customer, *, status: str, batch: Batch | None = None, sequence: int | None = None, **tp) -> Card:
    tp_status = "done" if status in ("mailed", "returned") else "pending"
    touchpoint = make_touchpoint(customer=customer, kind="card", due_on=tp.pop("due_on", TODAY), status=tp_status)
    return Card.objects.create(
        touchpoint=touchpoint,
        design=design(),
        message="Dear Grace,\n\nhappy anniversary!",
        status=status,
        fits=True,
        batch=batch,
        sequence=sequence,
        returned_at=NOW if status == "returned" else None,
        recipient_name=customer.full_name,
        **customer.address.as_dict(),
    )


def mailed_batch(*customers: Customer) -> tuple[Batch, list[Card]]:
    batch = Batch.objects.create(
        due_by=TODAY, status="mailed", mailed_at=NOW - dt.timedelta(days=5), card_count=len(customers)
    )
    cards = [card_for(c, status="mailed", batch=batch, sequence=n) for n, c in enumerate(customers, start=1)]
    return batch, cards


def grace(**fields: Any) -> Customer:
    manager = fields.pop("account_manager", None) or make_account_manager()
    return make_customer(
        **{"first_name": "Grace", "last_name": "Hopper", "account_manager": manager, **ADDRESS, **fields}
    )


# --- Reading the codes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("B12-034", ["B12-034"]),
        ("b12-34\n", ["B12-034"]),
        ("B12-034\r\nB12-035,B3-001 ; 3-2", ["B12-034", "B12-035", "B3-001", "B3-002"]),
        ("B12-034 b12-034 B12-34", ["B12-034"]),
    ],
)
def test_codes_are_read_as_typed_or_scanned(text, codes):
    parsed, problems, _ = parse_sequence_codes(text)

    assert [code.code for code in parsed] == codes
    assert problems == []


def test_a_token_that_is_not_a_code_is_named():
    parsed, problems, _ = parse_sequence_codes("B12-034 hello B12")

    assert [code.code for code in parsed] == ["B12-034"]
    assert problems == [
        "hello: not a sequence code (they look like B12-034)",
        "B12: not a sequence code (they look like B12-034)",
    ]


# --- Recording ------------------------------------------------------------------------------------


def test_a_returned_card_flags_the_address_and_holds_the_customers_pending_cards(printer):
    customer = grace()
    batch, (card,) = mailed_batch(customer)
    waiting = card_for(customer, status="approved", due_on=TODAY + dt.timedelta(days=20))
    call = make_touchpoint(customer=customer, due_on=TODAY + dt.timedelta(days=3))

    result = cards_record_returned(codes=f"b{batch.pk}-1", by=printer)

    card.refresh_from_db()
    customer.refresh_from_db()
    assert (card.status, card.returned_at) == ("returned", NOW)
    assert customer.address_undeliverable_on == TODAY
    held = Touchpoint.objects.get(pk=waiting.touchpoint_id)
    assert (held.status, held.hold_reason) == ("held", f"address undeliverable since {TODAY.isoformat()}")
    assert Touchpoint.objects.get(pk=call.pk).status == "pending"  # calls go on
    assert (result.returned, result.customers_flagged, result.cards_held) == (1, 1, 1)
    assert not Card.objects.printable().filter(pk=waiting.pk).exists()


def test_recording_is_all_or_nothing_and_names_each_problem_by_code(printer):
    customer, other = grace(), grace(last_name="Murray")
    batch, (mailed, _) = mailed_batch(customer, other)
    printed = Batch.objects.create(due_by=TODAY, status="printed", card_count=1)
    card_for(grace(last_name="Printed"), status="printed", batch=printed, sequence=1)
    cards_record_returned(codes=f"B{batch.pk}-2", by=printer)

    codes = f"B{batch.pk}-001 B{printed.pk}-001 B{batch.pk}-002 B999-001"
    with pytest.raises(ReturnedMailError) as error:
        cards_record_returned(codes=codes, by=printer)

    assert error.value.problems == [
        f"B{printed.pk}-001: not mailed yet (printed), so it cannot have come back",
        f"B{batch.pk}-002: already recorded as returned ({TODAY.isoformat()})",
        "B999-001: no card has this code",
    ]
    mailed.refresh_from_db()
    customer.refresh_from_db()
    assert mailed.status == "mailed"  # the good code was not recorded either
    assert customer.address_undeliverable_on is None


def test_an_empty_form_says_what_to_do():
    check = returned_cards_check(codes="  \n ")

    assert not check.ok
    assert check.problems == ["no sequence codes: type or scan the codes printed on the returned cards"]


def test_a_card_that_came_back_from_an_old_address_does_not_flag_the_new_one(printer):
    customer = grace()
    batch, (card,) = mailed_batch(customer)
    customer.address_line1 = "2 New Street"
    customer.save()

    check = returned_cards_check(codes=f"B{batch.pk}-001")
    cards_record_returned(codes=f"B{batch.pk}-001", by=printer)

    assert check.lines[0].flags_address is False
    card.refresh_from_db()
    customer.refresh_from_db()
    assert card.status == "returned"
    assert customer.address_undeliverable_on is None


def test_a_second_return_keeps_the_first_date(printer):
    customer = grace()
    batch, _ = mailed_batch(customer, customer)
    cards_record_returned(codes=f"B{batch.pk}-001", by=printer)

    with time_machine.travel(NOW + dt.timedelta(days=2), tick=False):
        cards_record_returned(codes=f"B{batch.pk}-002", by=printer)

    customer.refresh_from_db()
    assert customer.address_undeliverable_on == TODAY


# --- Held everywhere until the address changes ----------------------------------------------------


def test_the_planner_holds_new_cards_and_drafting_skips_a_flagged_customer():
    customer = grace(address_undeliverable_on=TODAY)
    touchpoint = make_touchpoint(customer=customer, kind="card", due_on=TODAY + dt.timedelta(days=30))

    assert cards_draft_missing(scope=CustomerScope.of([customer.pk]), check_fit_later=False) == 0
    planning.plan_customers([customer.pk])

    touchpoint.refresh_from_db()
    assert touchpoint.status == "held"
    assert touchpoint.hold_reason.startswith("address undeliverable since")


def test_a_card_in_a_batch_not_mailed_yet_is_withdrawn_when_its_address_is_flagged(printer):
    customer = grace()
    batch, _ = mailed_batch(customer)
    printed = Batch.objects.create(due_by=TODAY, status="printed", card_count=1)
    pile = card_for(customer, status="printed", batch=printed, sequence=1)

    cards_record_returned(codes=f"B{batch.pk}-001", by=printer)

    assert list(Card.objects.filter(batch=printed).withdrawn()) == [pile]


def test_a_new_address_in_the_admin_clears_the_flag_and_releases_the_cards_with_the_new_address(
    printer, superuser_client, django_capture_on_commit_callbacks
):
    customer = grace()
    batch, _ = mailed_batch(customer)
    waiting = card_for(customer, status="approved", due_on=TODAY + dt.timedelta(days=20))
    cards_record_returned(codes=f"B{batch.pk}-001", by=printer)
    url = reverse("admin:nurture_customer_change", args=[customer.pk])
    form = superuser_client.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name != "tags"}
    data.update(
        {
            "address_line1": "2 New Street",
            "milestones-TOTAL_FORMS": "0",
            "milestones-INITIAL_FORMS": "0",
            "touchpoints-TOTAL_FORMS": "0",
            "touchpoints-INITIAL_FORMS": "0",
        }
    )
    data["account_manager"] = customer.account_manager_id

    with django_capture_on_commit_callbacks() as callbacks:
        response = superuser_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    customer.refresh_from_db()
    assert customer.address_undeliverable_on is None
    assert callbacks  # the re-plan is queued after the commit: here, the task's work in this process
    planning.plan_customers([customer.pk])
    cards_follow_touchpoints(scope=CustomerScope.of([customer.pk]))

    waiting.refresh_from_db()
    assert Touchpoint.objects.get(pk=waiting.touchpoint_id).status == "pending"
    assert waiting.address_line1 == "2 New Street"
    assert Card.objects.printable().filter(pk=waiting.pk).exists()


def test_a_save_that_does_not_change_the_address_keeps_the_flag():
    customer = grace(address_undeliverable_on=TODAY)
    customer.phone = "+1 555 0100"
    customer.save()
    Customer.objects.get(pk=customer.pk).save(update_fields=["phone"])

    customer.refresh_from_db()
    assert customer.address_undeliverable_on == TODAY


def test_a_save_with_update_fields_that_changes_the_address_clears_the_flag():
    customer = Customer.objects.only("pk", "address_undeliverable_on").get(pk=grace(address_undeliverable_on=TODAY).pk)
    customer.city = "Boston"
    customer.save(update_fields=["city"])

    customer.refresh_from_db()
    assert (customer.city, customer.address_undeliverable_on) == ("Boston", None)


def test_a_new_address_in_a_csv_import_clears_the_flag():
    manager = make_account_manager("importer")
    customer = grace(external_id="C-1", account_manager=manager, address_undeliverable_on=TODAY)
    same = grace(external_id="C-2", last_name="Same", account_manager=manager, address_undeliverable_on=TODAY)
    header = "external_id,first_name,last_name,address_line1,city,postal_code,country,account_manager\n"
    rows = (
        "C-1,Grace,Hopper,9 Elm Road,Arlington,22202,US,importer\n"
        "C-2,Grace,Same,1 Navy Way,Arlington,22202,US,importer\n"
    )

    import_customers(data=(header + rows).encode())

    customer.refresh_from_db()
    same.refresh_from_db()
    assert customer.address_undeliverable_on is None
    assert same.address_undeliverable_on == TODAY


# --- Undo -----------------------------------------------------------------------------------------


def test_a_return_recorded_by_mistake_is_undone_and_the_cards_released(printer):
    customer = grace()
    batch, (card,) = mailed_batch(customer)
    waiting = card_for(customer, status="approved", due_on=TODAY + dt.timedelta(days=20))
    cards_record_returned(codes=f"B{batch.pk}-001", by=printer)

    result = cards_undo_returned(codes=f"B{batch.pk}-001", by=printer)

    card.refresh_from_db()
    customer.refresh_from_db()
    assert (card.status, card.returned_at) == ("mailed", None)
    assert customer.address_undeliverable_on is None
    assert Touchpoint.objects.get(pk=waiting.touchpoint_id).status == "pending"
    assert result.customers_flagged == 1


def test_undoing_a_card_that_was_not_returned_changes_nothing(printer):
    customer = grace()
    batch, (card,) = mailed_batch(customer)

    with pytest.raises(ReturnedMailError, match="not recorded as returned"):
        cards_undo_returned(codes=f"B{batch.pk}-001", by=printer)

    card.refresh_from_db()
    assert card.status == "mailed"


# --- What people see ------------------------------------------------------------------------------


def test_the_account_manager_sees_the_flag_on_today_and_on_the_journey(printer):
    manager = make_account_manager("alice")
    customer = grace(account_manager=manager)
    other = grace(last_name="Elsewhere")  # another manager's customer
    batch, _ = mailed_batch(customer, other)
    card_for(customer, status="approved", due_on=TODAY + dt.timedelta(days=20))
    cards_record_returned(codes=f"B{batch.pk}-001 B{batch.pk}-002", by=printer)

    page = today_page(user=manager)
    journey = customer_journey(customer=Customer.objects.get(pk=customer.pk))

    assert page.undeliverable is not None
    assert [(row.customer_id, row.since, row.held_cards) for row in page.undeliverable.customers.rows] == [
        (customer.pk, TODAY, 1)
    ]
    assert journey.undeliverable_since == TODAY
    assert journey.summary.cards_returned == 1
    assert "returned" in [event.state for event in journey.events]


def test_the_returned_mail_page_checks_then_records(printer, client):
    customer = grace()
    batch, (card,) = mailed_batch(customer)
    client.force_login(printer)
    url = reverse("admin:campaigns_card_returned")

    checked = client.post(url, {"codes": f"b{batch.pk}-1\nb{batch.pk}-1\n", "check": "1"})
    card.refresh_from_db()
    assert card.status == "mailed"  # a check writes nothing
    assert [line.code for line in checked.context["check"].lines] == [f"B{batch.pk}-001"]
    assert checked.context["check"].duplicates == 1

    recorded = client.post(url, {"codes": f"b{batch.pk}-1", "record": "1"}, follow=True)
    card.refresh_from_db()
    assert card.status == "returned"
    assert any("Recorded 1 returned card" in message for message in messages_of(recorded))


def test_the_returned_mail_page_shows_the_problems_and_records_nothing(printer, client):
    customer = grace()
    batch, (card,) = mailed_batch(customer)
    client.force_login(printer)

    response = client.post(
        reverse("admin:campaigns_card_returned"), {"codes": f"B{batch.pk}-001 B{batch.pk}-009", "record": "1"}
    )

    assert response.status_code == 200
    assert response.context["check"].problems == [f"B{batch.pk}-009: no card has this code"]
    card.refresh_from_db()
    assert card.status == "mailed"


def test_only_the_print_room_records_returned_mail(alice_client):
    assert alice_client.get(reverse("admin:campaigns_card_returned")).status_code == 403
