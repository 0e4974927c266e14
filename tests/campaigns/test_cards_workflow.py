"""Cards from drafting to approval: merged messages, address snapshots, fit, cancelling, the admin."""

from __future__ import annotations

import datetime as dt
import importlib
from typing import Any
from unittest.mock import Mock

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

from campaigns.forms import RuleForm
from campaigns.models import Card, CardDesign, Rule, Touchpoint
from campaigns.printing.messages import MERGE_FIELDS, MESSAGE_MAX_LENGTH, MessageTemplateError
from campaigns.services import cards as cards_service
from campaigns.services.cards import (
    DEFAULT_MESSAGE_TEMPLATE,
    CardError,
    card_approve,
    card_bulk_approve,
    card_update_message,
    cards_cancel_for_inactive_touchpoints,
    cards_check_fit,
    cards_design_changed,
    cards_draft_missing,
    cards_follow_touchpoints,
    rule_validate_message_template,
)
from nurture.lib.customer_scope import CustomerScope
from nurture.models import Customer, Milestone
from tests.factories import (
    make_account_manager,
    make_card_manager,
    make_customer,
    make_rule,
    make_touchpoint,
    make_user,
)

D = dt.date
MAIL_BY = D(2025, 3, 10)
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

TEMPLATE = (
    "Dear {{ first_name }} {{ last_name }},\n\n{{ years_as_customer }} year{{ years_as_customer|pluralize }} "
    "with {{ company|default:'you' }} since {{ milestone_date }}.\n\n{{ signature }}"
)
SHORT = "Dear Ada,\n\nthank you for a wonderful year.\n\nAlice"
# Under the length limit (MESSAGE_MAX_LENGTH), but longer than any card's panel holds.
TOO_LONG = "This message goes on and on. " * 33


# --- Helpers shared with test_batches.py and test_batch_worker.py -------------------------------


def design(slug: str = "anniversary-a6") -> CardDesign:
    return CardDesign.objects.get(slug=slug)


def card_rule(**fields: Any) -> Rule:
    defaults: dict[str, Any] = {"card_design": design(), "message_template": TEMPLATE, "card_lead_days": 3}
    defaults.update(fields)
    return make_rule(action="card", **defaults)


def card_touchpoint(*, customer: Customer | None = None, rule: Rule | None = None, due_on: dt.date = MAIL_BY):
    customer = customer or make_customer(
        first_name="Ada",
        last_name="Lovelace",
        company="Engines Ltd",
        address_line1="1 Analytical Way",
        city="London",
        postal_code="N1 1AA",
        country="GB",
    )
    return make_touchpoint(customer=customer, rule=rule or card_rule(), kind="card", due_on=due_on)


def make_card(
    *,
    status: str = "approved",
    fits: bool | None = True,
    message: str = SHORT,
    due_on: dt.date = MAIL_BY,
    customer: Customer | None = None,
    rule: Rule | None = None,
    card_design: CardDesign | None = None,
    **fields: Any,
) -> Card:
    """A card row made directly, as drafting would leave it (no fit check, no merge)."""
    touchpoint = card_touchpoint(customer=customer, rule=rule, due_on=due_on)
    c = touchpoint.customer
    return Card.objects.create(
        touchpoint=touchpoint,
        design=card_design or design(),
        message=message,
        fits=fits,
        status=status,
        recipient_name=c.full_name,
        recipient_company=c.company,
        address_line1=c.address_line1,
        city=c.city,
        postal_code=c.postal_code,
        country=c.country,
        **fields,
    )


# --- Drafting ---------------------------------------------------------------------------------


def test_drafting_merges_the_message_and_copies_the_address(alice):
    alice.first_name, alice.last_name = "Alice", "Smith"
    alice.save()
    customer = make_customer(
        first_name="Ada",
        last_name="Lovelace",
        company="Engines Ltd",
        address_line1="1 Analytical Way",
        address_line2="Floor 2",
        city="London",
        postal_code="N1 1AA",
        country="GB",
        account_manager=alice,
    )
    touchpoint = card_touchpoint(customer=customer, due_on=D(2025, 3, 10))
    Touchpoint.objects.filter(pk=touchpoint.pk).update(occurs_on=D(2025, 3, 13))
    became = customer.milestones.get().date

    assert cards_draft_missing(today=D(2025, 3, 1)) == 1

    card = Card.objects.get()
    years = D(2025, 3, 13).year - became.year - ((became.month, became.day) > (3, 13))
    assert card.message == (
        f"Dear Ada Lovelace,\n\n{years} years with Engines Ltd since {became.day} {became:%B %Y}.\n\nAlice Smith"
    )
    assert (card.status, card.design.slug, card.fits, card.message_edited) == ("draft", "anniversary-a6", None, False)
    assert (card.recipient_name, card.recipient_company) == ("Ada Lovelace", "Engines Ltd")
    assert (card.address_line1, card.address_line2, card.city, card.postal_code, card.country) == (
        "1 Analytical Way",
        "Floor 2",
        "London",
        "N1 1AA",
        "GB",
    )
    # The snapshot stays as drafted when the customer moves.
    Customer.objects.filter(pk=customer.pk).update(city="Bristol")
    card.refresh_from_db()
    assert card.city == "London"


def test_drafting_twice_drafts_each_card_once():
    card_touchpoint()
    card_touchpoint()

    assert cards_draft_missing() == 2
    assert cards_draft_missing() == 0
    assert Card.objects.count() == 2


def test_drafting_loads_touchpoints_a_page_at_a_time_not_one_query_per_card(django_assert_max_num_queries):
    rule = card_rule()
    for _ in range(30):
        card_touchpoint(rule=rule, customer=make_customer(account_manager=make_account_manager()))

    with django_assert_max_num_queries(10):
        assert cards_draft_missing() == 30


def test_drafting_is_scoped_to_the_customers_given():
    first, second = card_touchpoint(), card_touchpoint()

    assert cards_draft_missing(scope=CustomerScope.of([second.customer_id])) == 1
    assert cards_draft_missing(scope=CustomerScope.id_range(first.customer_id, first.customer_id)) == 1
    assert set(Card.objects.values_list("touchpoint_id", flat=True)) == {first.pk, second.pk}


def test_an_auto_approve_rule_approves_its_cards_as_they_are_drafted():
    card_touchpoint(rule=card_rule(auto_approve=True))

    cards_draft_missing()

    card = Card.objects.get()
    assert card.status == "approved"
    assert card.approved_by is None
    assert card.approved_at is not None


def test_a_rule_without_design_or_template_gets_the_first_built_in_design_and_the_default_message():
    card_touchpoint(rule=card_rule(card_design=None, message_template=""))

    cards_draft_missing()

    card = Card.objects.get()
    assert card.design == CardDesign.objects.filter(active=True).exclude(artwork="uploaded").order_by("pk").first()
    assert card.message.startswith("Dear Ada,")
    assert "thank you for being with us" in DEFAULT_MESSAGE_TEMPLATE


def test_only_pending_card_touchpoints_of_active_customers_get_cards():
    paused = card_touchpoint(customer=make_customer(status="paused"))
    card_touchpoint(customer=make_customer(status="do_not_contact"))
    done = card_touchpoint()
    Touchpoint.objects.filter(pk=done.pk).update(status="skipped", skip_reason="no")
    make_touchpoint(kind="call")
    wanted = card_touchpoint()

    assert cards_draft_missing() == 1
    assert Card.objects.get().touchpoint == wanted
    # A paused customer's card is drafted once they are active again.
    Customer.objects.filter(pk=paused.customer_id).update(status="active")
    assert cards_draft_missing() == 1


def test_a_broken_template_in_the_database_drafts_a_flagged_card_that_cannot_be_approved():
    rule = card_rule()
    Rule.objects.filter(pk=rule.pk).update(message_template="Dear {{ nickname }}", auto_approve=True)
    card_touchpoint(rule=Rule.objects.get(pk=rule.pk))

    cards_draft_missing()

    card = Card.objects.get()
    assert (card.status, card.fits, card.message) == ("draft", False, "")
    assert "nickname" in card.fit_problem
    with pytest.raises(CardError, match="cannot be approved"):
        card_approve(card=card, by=make_user())


def test_drafting_queues_the_fit_checks_when_its_transaction_commits(django_capture_on_commit_callbacks, monkeypatch):
    delay = Mock()
    monkeypatch.setattr("campaigns.tasks.check_card_fits.apply_async", delay)
    card_touchpoint()

    with django_capture_on_commit_callbacks(execute=True):
        cards_draft_missing()

    assert [call.args[0] for call in delay.call_args_list] == [([Card.objects.get().pk],)]


# --- Templates --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "named"),
    [
        ("Dear {{ nickname }},", "nickname"),
        ("Dear {{ first_name|shout }},", "shout"),
        ("Dear {% if first_name %}{{ first_name }},", "endif"),
        ("Dear {{ first_name.upper }},", "first_name.upper"),
    ],
)
def test_a_bad_template_is_refused_with_the_field_named(source, named):
    with pytest.raises(MessageTemplateError, match=named):
        rule_validate_message_template(source=source)

    form = RuleForm(data={**_rule_form_data(), "message_template": source})
    assert not form.is_valid()
    assert named in str(form.errors["message_template"])


def test_a_good_template_passes_the_rule_form():
    form = RuleForm(data=_rule_form_data())
    assert form.is_valid(), form.errors


@pytest.mark.parametrize(
    ("source", "named"),
    [
        ("{% if first_name %}" * 500 + "x" + "{% endif %}" * 500, "characters long; at most 5,000"),
        ("{% if first_name %}" * 11 + "x" + "{% endif %}" * 11, "nested more than 10 deep"),
        ("Dear {{ first_name }}, " + "blah " * 1200, "characters long; at most 5,000"),
        ("{{ full_name }} of {{ company }}, " * 100, "would be 3,899 characters long; a card carries at most 1,000"),
    ],
    ids=["500-levels-deep", "11-levels-deep", "huge-template", "huge-output"],
)
def test_a_pathological_template_is_a_form_error_naming_the_problem(source, named):
    form = RuleForm(data={**_rule_form_data(), "message_template": source})

    assert not form.is_valid()
    assert named in str(form.errors["message_template"])


def test_the_rule_form_lists_every_merge_field_in_its_help_text():
    help_text = str(RuleForm().fields["message_template"].help_text)

    for name in MERGE_FIELDS:
        assert "{{ " + name + " }}" in help_text
    assert '"2 years"' in help_text and '"21st"' in help_text


def _rule_form_data() -> dict[str, Any]:
    rule = card_rule()
    return {
        "cadence": rule.cadence_id,
        "slug": "new-card",
        "name": "New card",
        "action": "card",
        "offset_amount": 6,
        "offset_unit": "months",
        "business_day_policy": "none",
        "card_lead_days": 3,
        "card_design": design().pk,
        "message_template": TEMPLATE,
        "active": True,
    }


# --- Editing and approving ----------------------------------------------------------------------


def test_editing_a_message_marks_it_edited_and_checks_that_it_fits():
    card = make_card(status="draft", fits=None)

    card_update_message(card=card, message="Dear Ada,\r\n\r\nhappy anniversary!  \r\n\r\nAlice\r\n", by=make_user())

    card.refresh_from_db()
    assert card.message == "Dear Ada,\n\nhappy anniversary!\n\nAlice"
    assert (card.message_edited, card.fits, card.status) == (True, True, "draft")


def test_an_approved_card_stays_approved_when_its_new_message_fits():
    card = make_card(status="approved", fits=True)

    card_update_message(card=card, message="Dear Ada,\n\nwarmest wishes.\n\nAlice", by=make_user())

    card.refresh_from_db()
    assert (card.status, card.fits) == ("approved", True)


def test_a_message_that_does_not_fit_is_flagged_and_its_card_goes_back_to_draft():
    approver = make_user()
    card = make_card(status="approved", fits=True, approved_by=approver)

    card_update_message(card=card, message=TOO_LONG, by=make_user())

    card.refresh_from_db()
    assert (card.status, card.fits, card.approved_by) == ("draft", False, None)
    assert "shorten it by about" in card.fit_problem
    assert card.message == TOO_LONG.strip()  # flagged, never cut
    with pytest.raises(CardError, match="cannot be approved: The message needs"):
        card_approve(card=card, by=approver)


def no_layout(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("a message over the length limit was laid out")


def test_a_message_over_the_length_limit_is_refused_before_any_layout(monkeypatch):
    monkeypatch.setattr(cards_service, "check_fit", no_layout)
    card = make_card(status="approved", fits=True)

    with pytest.raises(CardError, match="1,001 characters long; a card carries at most 1,000"):
        card_update_message(card=card, message="x" * (MESSAGE_MAX_LENGTH + 1), by=make_user())

    card.refresh_from_db()
    assert (card.message, card.status, card.message_edited) == (SHORT, "approved", False)
    # At the limit it is laid out as usual (and found too long for the panel).
    monkeypatch.undo()
    card_update_message(card=card, message="word " * (MESSAGE_MAX_LENGTH // 5), by=make_user())
    card.refresh_from_db()
    assert (card.fits, card.status) == (False, "draft")


def test_a_card_from_before_the_limit_is_flagged_without_layout(monkeypatch):
    monkeypatch.setattr(cards_service, "check_fit", no_layout)
    card = make_card(status="approved", fits=None, message="x" * 5000)

    assert cards_check_fit(card_ids=[card.pk]) == 1

    card.refresh_from_db()
    assert (card.fits, card.status) == (False, "draft")
    assert card.fit_problem == "The message is 5,000 characters long; a card carries at most 1,000."


def test_a_template_making_a_message_over_the_limit_drafts_a_flagged_card():
    rule = card_rule()
    Rule.objects.filter(pk=rule.pk).update(message_template="{{ full_name }} {{ company }} " * 60, auto_approve=True)
    card_touchpoint(rule=Rule.objects.get(pk=rule.pk))

    cards_draft_missing()

    card = Card.objects.get()
    assert (card.status, card.fits, card.message) == ("draft", False, "")
    assert "a card carries at most 1,000" in card.fit_problem


def test_approving_checks_the_fit_first_and_records_who(alice):
    card = make_card(status="draft", fits=None)

    card_approve(card=card, by=alice)

    card.refresh_from_db()
    assert (card.status, card.fits, card.approved_by) == ("approved", True, alice)
    assert card.approved_at is not None


def test_a_second_approval_of_the_same_card_is_refused(alice, bob):
    card = make_card(status="draft", fits=True)
    stale = Card.objects.get(pk=card.pk)

    card_approve(card=card, by=alice)
    with pytest.raises(CardError, match="already approved by alice"):
        card_approve(card=stale, by=bob)
    assert Card.objects.get(pk=card.pk).approved_by == alice


def test_a_card_in_a_batch_cannot_be_edited():
    from campaigns.services.batches import batch_create

    card = make_card()
    batch_create(due_by=D(2025, 3, 31), sheet="card", labels="l7160", by=None, enqueue=False)

    with pytest.raises(CardError, match=r"in a batch \(B\d+-001\)"):
        card_update_message(card=card, message="Changed", by=make_user())
    assert Card.objects.get(pk=card.pk).message == SHORT


def test_bulk_approval_approves_what_fits_and_names_the_rest():
    fitting = make_card(status="draft", fits=None)
    long = make_card(status="draft", fits=None, message=TOO_LONG, customer=make_customer(first_name="Bo"))
    already = make_card(status="approved")

    result = card_bulk_approve(cards=Card.objects.all(), by=make_user())

    assert result.approved == 1
    assert Card.objects.get(pk=fitting.pk).status == "approved"
    assert Card.objects.get(pk=long.pk).status == "draft"
    assert len(result.problems) == 2
    assert any("does not fit" in problem for problem in result.problems)
    assert any("already approved" in problem for problem in result.problems)
    assert Card.objects.get(pk=already.pk).approved_at is None


def test_bulk_approval_goes_page_by_page_with_one_layout_per_message(monkeypatch):
    # Pages of two: seven cards take four pages, and the problems still read in due order.
    monkeypatch.setattr(cards_service, "BULK_PAGE_SIZE", 2)
    layouts = Mock(wraps=cards_service._check_fit)
    monkeypatch.setattr(cards_service, "_check_fit", layouts)
    fitting = [make_card(status="draft", fits=None, customer=make_customer(first_name=f"F{n}")) for n in range(4)]
    late = make_card(
        status="draft", fits=None, message=TOO_LONG, due_on=D(2025, 4, 1), customer=make_customer(first_name="Lu")
    )
    early = make_card(
        status="draft", fits=None, message=TOO_LONG, due_on=D(2025, 3, 1), customer=make_customer(first_name="Ea")
    )
    make_card(status="approved", due_on=D(2025, 3, 20), customer=make_customer(first_name="Al"))

    result = card_bulk_approve(cards=Card.objects.all(), by=make_user())

    assert result.approved == 4
    assert {card.pk for card in fitting} <= set(Card.objects.filter(status="approved").values_list("pk", flat=True))
    assert Card.objects.get(pk=late.pk).status == Card.objects.get(pk=early.pk).status == "draft"
    # In due order across the pages: early (1 March), the approved one (20 March), late (1 April).
    assert len(result.problems) == 3
    assert result.problems[0].startswith(f"the {cards_service.describe(early)} does not fit")
    assert "already approved" in result.problems[1]
    assert result.problems[2].startswith(f"the {cards_service.describe(late)} does not fit")
    # Two distinct messages (SHORT, TOO_LONG) across four pages: two layouts, not one per page.
    assert layouts.call_count == 2


def test_the_fit_check_leaves_a_message_edited_meanwhile_alone(monkeypatch):
    card = make_card(status="draft", fits=None)
    real = cards_service._check_fit

    def edit_during_check(message, spec):
        Card.objects.filter(pk=card.pk).update(message="Edited meanwhile")
        return real(message, spec)

    monkeypatch.setattr(cards_service, "_check_fit", edit_during_check)

    assert cards_check_fit(card_ids=[card.pk]) == 0
    assert Card.objects.get(pk=card.pk).fits is None


def test_changing_a_designs_typeface_checks_its_cards_again(django_capture_on_commit_callbacks, monkeypatch):
    delay = Mock()
    monkeypatch.setattr("campaigns.tasks.check_card_fits.apply_async", delay)
    card = make_card(status="approved", fits=True)

    with django_capture_on_commit_callbacks(execute=True):
        assert cards_design_changed(design=card.design) == 1

    assert Card.objects.get(pk=card.pk).fits is None
    assert [call.args[0] for call in delay.call_args_list] == [([card.pk],)]


# --- Cancelling ---------------------------------------------------------------------------------


def test_cards_of_cancelled_or_skipped_touchpoints_and_uncontactable_customers_are_cancelled():
    cancelled = make_card()
    Touchpoint.objects.filter(pk=cancelled.touchpoint_id).update(status="cancelled", cancel_reason="rule edited")
    skipped = make_card(status="draft")
    Touchpoint.objects.filter(pk=skipped.touchpoint_id).update(status="skipped", skip_reason="no")
    dnc = make_card(customer=make_customer(status="do_not_contact"))
    paused = make_card(customer=make_customer(status="paused"))
    fine = make_card()

    assert cards_cancel_for_inactive_touchpoints() == 3

    statuses = dict(Card.objects.values_list("pk", "status"))
    assert statuses == {
        cancelled.pk: "cancelled",
        skipped.pk: "cancelled",
        dnc.pk: "cancelled",
        paused.pk: "approved",
        fine.pk: "approved",
    }


def test_after_planning_cards_follow_their_touchpoints_in_scope():
    withdrawn = make_card(status="draft")
    Touchpoint.objects.filter(pk=withdrawn.touchpoint_id).update(status="cancelled", cancel_reason="rule edited")
    undrafted = card_touchpoint()
    elsewhere = card_touchpoint()
    scope = [withdrawn.touchpoint.customer_id, undrafted.customer_id]

    assert cards_follow_touchpoints(scope=CustomerScope.of(scope)) == (1, 1)

    assert Card.objects.get(pk=withdrawn.pk).status == "cancelled"
    assert Card.objects.filter(touchpoint=undrafted).count() == 1
    assert not Card.objects.filter(touchpoint=elsewhere).exists()
    assert cards_follow_touchpoints(scope=CustomerScope.of(scope)) == (0, 0)  # a second run changes nothing


def test_cancelling_is_scoped_and_leaves_batched_cards_to_the_print_room():
    from campaigns.services.batches import batch_create

    batched = make_card()
    batch_create(due_by=D(2025, 3, 31), sheet="card", labels="l7160", by=None, enqueue=False)
    other = make_card()
    for card in (batched, other):
        Touchpoint.objects.filter(pk=card.touchpoint_id).update(status="cancelled", cancel_reason="x")

    assert cards_cancel_for_inactive_touchpoints(scope=CustomerScope.of([batched.touchpoint.customer_id])) == 0
    assert cards_cancel_for_inactive_touchpoints(scope=CustomerScope.of([other.touchpoint.customer_id])) == 1
    assert Card.objects.get(pk=batched.pk).status == "batched"


# --- Admin ----------------------------------------------------------------------------------------


def test_the_card_and_design_pages_load(superuser_client):
    card = make_card()
    for model in (Card, CardDesign):
        info = (model._meta.app_label, model._meta.model_name)
        assert superuser_client.get(reverse("admin:{}_{}_changelist".format(*info))).status_code == 200
    assert superuser_client.get(reverse("admin:campaigns_card_change", args=[card.pk])).status_code == 200
    assert superuser_client.get(reverse("admin:campaigns_carddesign_change", args=[card.design_id])).status_code == 200
    assert superuser_client.get(reverse("admin:campaigns_card_add")).status_code == 403
    assert Card in admin.site._registry


def test_an_account_manager_sees_and_edits_only_their_customers_cards(client):
    alice, bob = make_card_manager("alice"), make_card_manager("bob")
    mine = make_card(status="draft", fits=None, customer=make_customer(account_manager=alice))
    theirs = make_card(customer=make_customer(account_manager=bob))
    client.force_login(alice)

    response = client.get(reverse("admin:campaigns_card_changelist"))
    assert {obj.pk for obj in response.context["cl"].result_list} == {mine.pk}
    assert client.get(reverse("admin:campaigns_card_change", args=[theirs.pk])).status_code == 404

    response = client.post(
        reverse("admin:campaigns_card_change", args=[mine.pk]),
        {"message": "Dear Ada,\n\nall the best.\n\nAlice", "approve": "on"},
    )
    assert response.status_code == 302, response.content[:2000]
    mine.refresh_from_db()
    assert (mine.message, mine.message_edited, mine.status, mine.approved_by) == (
        "Dear Ada,\n\nall the best.\n\nAlice",
        True,
        "approved",
        alice,
    )


def test_the_card_page_refuses_a_message_over_the_limit_as_a_form_error(superuser_client):
    card = make_card(status="draft", fits=True)

    response = superuser_client.post(
        reverse("admin:campaigns_card_change", args=[card.pk]), {"message": "Dear Ada, " * 150}
    )

    assert response.status_code == 200
    assert "The message is 1,499 characters long; a card carries at most 1,000." in str(
        response.context["adminform"].form.errors["message"]
    )
    assert 'maxlength="1000"' in response.content.decode()
    assert Card.objects.get(pk=card.pk).message == SHORT


def test_the_approve_action_reports_what_it_could_not_approve(superuser_client):
    good = make_card(status="draft", fits=True)
    bad = make_card(status="draft", fits=False, fit_problem="The message needs 16 cm", customer=make_customer())

    response = superuser_client.post(
        reverse("admin:campaigns_card_changelist"),
        {"action": "approve_cards", "_selected_action": [good.pk, bad.pk]},
        follow=True,
    )

    messages = [str(m) for m in response.context["messages"]]
    assert "Approved 1 card." in messages
    assert any("does not fit: The message needs 16 cm" in m for m in messages)


def test_a_design_preview_renders_as_png_and_pdf(superuser_client):
    pk = design().pk

    png = superuser_client.get(reverse("admin:campaigns_carddesign_preview_png", args=[pk]) + "?page=2")
    pdf = superuser_client.get(reverse("admin:campaigns_carddesign_preview_pdf", args=[pk]))

    assert (png.status_code, png["Content-Type"]) == (200, "image/png")
    assert png.content.startswith(b"\x89PNG")
    assert (pdf.status_code, pdf["Content-Type"]) == (200, "application/pdf")
    assert pdf.content.startswith(b"%PDF")


def test_design_previews_need_the_view_permission(staff_client):
    assert staff_client.get(reverse("admin:campaigns_carddesign_preview_png", args=[design().pk])).status_code == 403


# --- The built-in templates read as a person would write them ---------------------------------------

OLD_ANNIVERSARY = (
    "Dear {{ first_name }},\n\nhappy anniversary! {{ years_as_customer }} year(s) "
    "together, and we are grateful for every one of them.\n\n{{ signature }}"
)
migration = importlib.import_module("campaigns.migrations.0011_readable_merge_fields")


def test_the_built_in_anniversary_card_says_2nd_anniversary_and_2_years():
    rule = Rule.objects.get(slug="anniversary-card")
    assert "year(s)" not in rule.message_template
    touchpoint = card_touchpoint(rule=rule)
    Milestone.objects.filter(pk=touchpoint.milestone_id).update(date=D(2023, 3, 13))
    Touchpoint.objects.filter(pk=touchpoint.pk).update(milestone_date=D(2023, 3, 13), occurs_on=D(2025, 3, 13))

    cards_draft_missing(today=D(2025, 3, 1))

    message = Card.objects.get().message
    assert "happy 2nd anniversary! Thank you for 2 years together" in message, message


def test_the_migration_changes_only_rules_still_holding_the_old_built_in_text():
    builtin = Rule.objects.get(slug="anniversary-card")
    Rule.objects.filter(pk=builtin.pk).update(message_template=OLD_ANNIVERSARY)
    edited = card_rule(message_template=OLD_ANNIVERSARY.replace("happy anniversary", "many happy returns"))

    migration.readable(apps, None)

    new = migration.TEMPLATES[0][1]
    assert Rule.objects.get(pk=builtin.pk).message_template == new
    assert Rule.objects.get(pk=edited.pk).message_template.startswith("Dear {{ first_name }},\n\nmany happy returns")

    migration.as_before(apps, None)

    assert Rule.objects.get(pk=builtin.pk).message_template == OLD_ANNIVERSARY
    assert "many happy returns" in Rule.objects.get(pk=edited.pk).message_template
