"""Cards: drafting them from card touchpoints, editing and approving their message.

Drafting runs after every planner chunk (``cards_draft_missing``): each pending card touchpoint
of an active customer without a card gets one, with the rule's message template merged and the
customer's address copied, approved at once when the rule says so. It loads touchpoints a page
at a time with everything the message needs and writes a page with one ``bulk_create``; the
OneToOne on the touchpoint with ``ignore_conflicts`` makes it safe to run twice or concurrently.

Drafting does not check whether the message fits the inside panel: that is a WeasyPrint layout,
tens of milliseconds a card, and a planner chunk may draft thousands. It leaves ``fits`` empty
and, once its transaction commits, queues ``check_card_fits`` tasks on the render queue. An edit
or an approval checks the fit there and then, and a batch checks any card still unchecked before
it takes it: a message that does not fit is flagged and never printed cut. A check whose task was
never queued (Redis down after the commit: nurture/publishing.py) leaves the card unchecked, which
is its own record of the work owed: ``cards_check_fit_overdue`` (Beat, every five minutes, on the
render queue: campaigns.tasks.check_overdue_card_fits) checks the open cards still unchecked
FIT_CHECK_OVERDUE_AFTER after their last change.

"Approved" means ready to print, so a card whose message is found not to fit goes back to draft
(a check constraint holds this); editing an approved card's message keeps it approved when the
new message fits. Every transition is a conditional UPDATE on the card's status, so two people
clicking at once cannot both win, and a card in a batch never changes here.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import models, transaction
from django.db.models import Min
from django.utils import timezone

from campaigns import signals
from campaigns.models import Card, CardDesign, Rule, Touchpoint
from campaigns.printing import (
    MESSAGE_MAX_LENGTH,
    DesignSpec,
    FitResult,
    MessageTemplateError,
    check_fit,
    check_template,
    merge_fields,
    render_message,
    too_long_message,
)
from campaigns.statuses import CARD_OPEN
from nurture.lib.customer_scope import CustomerScope
from nurture.models import Customer, Milestone

log = logging.getLogger(__name__)

DRAFT = Card.Status.DRAFT
APPROVED = Card.Status.APPROVED
# The message of a card rule with no template of its own.
# The default scope of the set-based card services.
EVERYONE = CustomerScope.everyone()
DEFAULT_MESSAGE_TEMPLATE = "Dear {{ first_name }},\n\nthank you for being with us.\n\n{{ signature }}"
# Touchpoints loaded (with their customer, rule, design and milestone) and drafted per query.
DRAFT_PAGE_SIZE = 500
# Cards whose fit is recorded by one UPDATE (cards_check_fit).
FIT_UPDATE_PAGE = 5000
# Cards approved per page by card_bulk_approve (and fit-checked per page by batch_create): the
# memory of a bulk action stays the same for a hundred cards or a hundred thousand, because no
# list of every id is held and no query carries more than a page of ids.
BULK_PAGE_SIZE = 2000
# An open card still unchecked this long after its last change lost its check's task (or never had
# one queued): the recovery checks it. Longer than a check waits behind a print run on the queue.
FIT_CHECK_OVERDUE_AFTER = dt.timedelta(minutes=10)
# Cards the recovery checks per run at most (tens of milliseconds of layout per distinct message).
FIT_CHECK_OVERDUE_PAGE = 1000
# How many offending cards a message names before it says "and N more".
_NAMED_IN_ERRORS = 5
_FIT_PROBLEM_MAX = Card._meta.get_field("fit_problem").max_length or 300


class CardError(ValueError):
    """The card cannot make this change; the message says why, for a person."""


@dataclass
class ApprovalResult:
    approved: int = 0
    problems: list[str] = field(default_factory=list)


# --- Reading helpers ------------------------------------------------------------------------


def describe(card: Card) -> str:
    """A card as a person recognises it: "card for Ada Lovelace due 2025-03-10"."""
    return f"card for {card.recipient_name} due {card.touchpoint.due_on.isoformat()}"


def _state(card: Card) -> str:
    if card.status == APPROVED and card.approved_by is not None:
        return f"already approved by {card.approved_by.get_username()}"
    if card.status == APPROVED:
        return "already approved"
    if card.batch_id is not None:
        return f"already {card.get_status_display().lower()} ({card.sequence_code})"
    return f"{card.get_status_display().lower()}"


def _fresh(pk: int) -> Card:
    card: Card = Card.objects.select_related("touchpoint", "design", "approved_by").get(pk=pk)
    return card


def listing(problems: Sequence[str]) -> str:
    named = "; ".join(problems[:_NAMED_IN_ERRORS])
    rest = len(problems) - _NAMED_IN_ERRORS
    return f"{named}; and {rest} more" if rest > 0 else named


def clean_message(message: str) -> str:
    """Newlines normalised, trailing spaces and blank lines at both ends removed."""
    lines = message.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip("\n")


def account_manager_name(user: Any) -> str:
    if user is None:
        return ""
    full = f"{user.first_name} {user.last_name}".strip()
    return full or str(user.get_username())


def fallback_design() -> CardDesign | None:
    """The design of a card rule that names none: the first active built-in design."""
    design: CardDesign | None = (
        CardDesign.objects.filter(active=True).exclude(artwork=CardDesign.Artwork.UPLOADED).order_by("pk").first()
    )
    return design


def spec_for(design: CardDesign, cache: dict[int, DesignSpec] | None = None) -> DesignSpec:
    if cache is None:
        return design.spec()
    if design.pk not in cache:
        cache[design.pk] = design.spec()
    return cache[design.pk]


def _check_fit(message: str, spec: DesignSpec) -> FitResult:
    """The fit of a message; one longer than MESSAGE_MAX_LENGTH (a card from before the limit)
    does not fit and is never laid out, so a fit check's layout is always bounded."""
    if len(message) > MESSAGE_MAX_LENGTH:
        return FitResult(fits=False, problem=too_long_message(len(message)))
    return check_fit(message, spec)


# --- Templates --------------------------------------------------------------------------------


def rule_validate_message_template(*, source: str) -> None:
    """Raise MessageTemplateError naming the syntax error or the unknown merge field."""
    check_template(source)


# --- Drafting --------------------------------------------------------------------------------


def _became_customer_dates(customer_ids: Iterable[int]) -> dict[int, dt.date]:
    rows = (
        Milestone.objects.filter(customer_id__in=list(customer_ids), kind__slug="became_customer")
        .values("customer_id")
        .annotate(first=Min("date"))
        .values_list("customer_id", "first")
    )
    return dict(rows)


def _message(
    *, template: str, touchpoint: Touchpoint, manager: Any, became_on: dt.date | None, today: dt.date
) -> tuple[str, str]:
    """The merged message, or ("", why) when the rule's template cannot be rendered."""
    customer = touchpoint.customer
    fields = merge_fields(
        first_name=customer.first_name,
        last_name=customer.last_name,
        company=customer.company,
        became_customer_on=became_on,
        milestone_date=touchpoint.milestone_date,
        # The card is read on the day it targets: years are counted to then (or today, when late).
        today=max(today, touchpoint.occurs_on),
        account_manager_name=account_manager_name(manager),
        # The signature line is the account manager's name (messages.DEFAULT_SIGNATURE without one).
        signature=account_manager_name(manager),
    )
    try:
        return clean_message(render_message(template, fields)), ""
    except MessageTemplateError as exc:
        return "", f"The message could not be made from the rule's template ({exc}): write the message by hand."


def _draft(
    touchpoint: Touchpoint,
    *,
    rule: Rule,
    manager: Any,
    design: CardDesign,
    became_on: dt.date | None,
    today: dt.date,
    now: dt.datetime,
) -> Card:
    customer: Customer = touchpoint.customer
    message, problem = _message(
        template=rule.message_template.strip() or DEFAULT_MESSAGE_TEMPLATE,
        touchpoint=touchpoint,
        manager=manager,
        became_on=became_on,
        today=today,
    )
    approve = rule.auto_approve and not problem
    return Card(
        touchpoint=touchpoint,
        mail_by=touchpoint.due_on,
        design=design,
        message=message,
        fits=False if problem else None,
        fit_problem=problem[:_FIT_PROBLEM_MAX],
        status=APPROVED if approve else DRAFT,
        approved_at=now if approve else None,
        recipient_name=customer.full_name,
        recipient_company=customer.company,
        **customer.address.as_dict(),
    )


def _fill(cache: dict[Any, Any], queryset: models.QuerySet[Any], pks: Iterable[int | None]) -> None:
    """Load into `cache` the rows of `pks` it does not hold yet: rules and managers repeat a lot."""
    missing = {pk for pk in pks if pk is not None and pk not in cache}
    if missing:
        cache.update((row.pk, row) for row in queryset.filter(pk__in=missing))


def _undrafted(scope: CustomerScope) -> models.QuerySet[Touchpoint]:
    return Touchpoint.objects.filter(
        scope.q(),
        kind=Touchpoint.Kind.CARD,
        status=Touchpoint.Status.PENDING,
        customer__status=Customer.Status.ACTIVE,
        # A card waits for a new address (the planner holds its touchpoint; this covers the gap).
        customer__address_undeliverable_on__isnull=True,
        card__isnull=True,
    )


def cards_draft_missing(
    *,
    scope: CustomerScope = EVERYONE,
    today: dt.date | None = None,
    check_fit_later: bool = True,
) -> int:
    """Draft a card for every pending card touchpoint in scope that has none. Returns how many.

    Paused, churned and do-not-contact customers get no card, nor customers whose address is
    flagged undeliverable (until it changes).
    With check_fit_later, the new cards' fit checks are queued when the transaction commits.
    """
    today = today or timezone.localdate()
    if scope.is_empty:
        return 0
    undrafted = _undrafted(scope).select_related("customer")
    rules: dict[int, Rule] = {}
    managers: dict[int | None, Any] = {}
    default_design: CardDesign | None = None
    created = 0
    after = 0
    while True:
        page = list(undrafted.filter(pk__gt=after).order_by("pk")[:DRAFT_PAGE_SIZE])
        if not page:
            break
        after = page[-1].pk
        _fill(rules, Rule.objects.select_related("card_design"), (tp.rule_id for tp in page))
        _fill(managers, get_user_model().objects.all(), (tp.customer.account_manager_id for tp in page))
        became = _became_customer_dates({tp.customer_id for tp in page})
        now = timezone.now()
        cards = []
        for touchpoint in page:
            rule = rules[touchpoint.rule_id]
            design = rule.card_design
            if design is None:
                default_design = default_design or fallback_design()
                design = default_design
            if design is None:
                log.warning("no active card design: touchpoint %s gets no card yet", touchpoint.pk)
                continue
            cards.append(
                _draft(
                    touchpoint,
                    rule=rule,
                    manager=managers.get(touchpoint.customer.account_manager_id),
                    design=design,
                    became_on=became.get(touchpoint.customer_id),
                    today=today,
                    now=now,
                )
            )
        page_ids = [tp.pk for tp in page]
        before = Card.objects.filter(touchpoint_id__in=page_ids).count()
        Card.objects.bulk_create(cards, ignore_conflicts=True)
        created += Card.objects.filter(touchpoint_id__in=page_ids).count() - before
    if created and check_fit_later:
        transaction.on_commit(partial(enqueue_fit_checks, scope=scope))
    return created


def enqueue_fit_checks(*, scope: CustomerScope = EVERYONE) -> int:
    """Queue check_card_fits tasks for the unchecked open cards in scope. Returns how many cards."""
    ids = list(Card.objects.unchecked().in_scope(scope).order_by("pk").values_list("pk", flat=True))
    signals.cards_need_fit_check.send(sender=Card, card_ids=ids)
    return len(ids)


# --- Fit --------------------------------------------------------------------------------------


def _fit_fields(fits: bool, problem: str, now: dt.datetime) -> dict[str, Any]:
    fields: dict[str, Any] = {"fits": fits, "fit_problem": problem[:_FIT_PROBLEM_MAX], "updated_at": now}
    if not fits:
        # An approved card whose message does not fit is not ready to print: back to draft.
        fields.update(status=DRAFT, approved_by=None, approved_at=None)
    return fields


def cards_check_fit(
    *,
    card_ids: Sequence[int],
    recheck: bool = False,
    layouts: dict[tuple[str, int], FitResult] | None = None,
) -> int:
    """Check open cards' messages against their design's inside panel. Returns how many were checked.

    Only cards not checked yet, unless recheck. The UPDATE is conditional on the message
    checked, so an edit made meanwhile is not flagged with the old message's result.
    `layouts` keeps the fit of each (message, design) across calls, so a caller checking page
    after page lays out each distinct message once.
    """
    qs = Card.objects.open().filter(pk__in=list(card_ids))
    if not recheck:
        qs = qs.filter(fits__isnull=True)
    # Cards with the same message and design fit alike (the layout is deterministic): each distinct
    # message is laid out once and its cards updated together. A seasonal batch of thousands of
    # cards has as many layouts as distinct messages, not as cards.
    same: dict[tuple[str, int], list[int]] = {}
    for pk, message, design_id in qs.order_by("pk").values_list("pk", "message", "design_id").iterator(2000):
        same.setdefault((message, design_id), []).append(pk)
    designs = CardDesign.objects.in_bulk({design_id for _, design_id in same})
    specs: dict[int, DesignSpec] = {}
    layouts = {} if layouts is None else layouts
    checked = 0
    for (message, design_id), ids in same.items():
        if (message, design_id) not in layouts:
            layouts[message, design_id] = _check_fit(message, spec_for(designs[design_id], specs))
        result = layouts[message, design_id]
        for start in range(0, len(ids), FIT_UPDATE_PAGE):
            page = Card.objects.filter(
                pk__in=ids[start : start + FIT_UPDATE_PAGE], status__in=CARD_OPEN, message=message, design_id=design_id
            )
            if not recheck:
                # Still unchecked: a second check running at once (the task and the recovery) counts each card once.
                page = page.filter(fits__isnull=True)
            checked += page.update(**_fit_fields(result.fits, result.problem, timezone.now()))
    return checked


@dataclass(frozen=True)
class OverdueFitChecks:
    checked: int
    more: bool  # more overdue cards than a page: the next run goes on

    def as_dict(self) -> dict[str, Any]:
        return {"checked": self.checked, "more": self.more}


def cards_check_fit_overdue(
    *,
    now: dt.datetime | None = None,
    after: dt.timedelta = FIT_CHECK_OVERDUE_AFTER,
    limit: int = FIT_CHECK_OVERDUE_PAGE,
) -> OverdueFitChecks:
    """Check the open cards unchecked for longer than `after` (their check's task was lost), the
    oldest ids first, a page at a time (index card_unchecked). The check writes only where the card
    is still unchecked, so a run twice, or beside the late task, checks each card once."""
    cutoff = (now or timezone.now()) - after
    ids = list(
        Card.objects.unchecked().filter(updated_at__lt=cutoff).order_by("pk").values_list("pk", flat=True)[: limit + 1]
    )
    checked = cards_check_fit(card_ids=ids[:limit])
    if checked:
        log.info("checked the fit of %d card(s) whose check was lost", checked)
    return OverdueFitChecks(checked=checked, more=len(ids) > limit)


def cards_design_changed(*, design: CardDesign) -> int:
    """A design's layout changed: its open cards' fit must be checked again. Returns how many."""
    reset = (
        Card.objects.open()
        .filter(design=design)
        .exclude(fits=False, message="")
        .update(fits=None, fit_problem="", updated_at=timezone.now())
    )
    if reset:
        ids = list(Card.objects.unchecked().filter(design=design).values_list("pk", flat=True))
        transaction.on_commit(partial(_enqueue_ids, ids))
    return reset


def _enqueue_ids(ids: Sequence[int]) -> None:
    signals.cards_need_fit_check.send(sender=Card, card_ids=list(ids))


# --- One card ---------------------------------------------------------------------------------


def card_update_message(*, card: Card, message: str, by: AbstractBaseUser) -> Card:
    """Replace a draft or approved card's message and check that it fits. Returns the card, reloaded.

    The message is marked as edited by hand. An approved card stays approved when the new
    message fits and goes back to draft when it does not. A message longer than
    MESSAGE_MAX_LENGTH is refused before its fit is checked, so the layout stays bounded.
    """
    message = clean_message(message)
    if not message:
        raise CardError("The message is empty.")
    if len(message) > MESSAGE_MAX_LENGTH:
        raise CardError(too_long_message(len(message)))
    current = _fresh(card.pk)
    if current.status not in CARD_OPEN:
        raise CardError(f"The {describe(current)} is {_state(current)}: its message can no longer change.")
    result = _check_fit(message, spec_for(current.design))
    now = timezone.now()
    fields = {"message": message, "message_edited": True, **_fit_fields(result.fits, result.problem, now)}
    updated = Card.objects.filter(pk=card.pk, status__in=CARD_OPEN, batch__isnull=True).update(**fields)
    if not updated:
        current = _fresh(card.pk)
        raise CardError(f"The {describe(current)} is {_state(current)}: its message was not changed.")
    log.info("card %s: message edited by %s (fits: %s)", card.pk, by.get_username(), result.fits)
    card.refresh_from_db()
    return card


def card_approve(*, card: Card, by: AbstractBaseUser) -> Card:
    """Approve a draft card for printing. Refused when its message does not fit."""
    current = _fresh(card.pk)
    if current.status != DRAFT:
        raise CardError(f"The {describe(current)} is {_state(current)}: it was not approved again.")
    if current.fits is None:
        cards_check_fit(card_ids=[current.pk])
        current = _fresh(card.pk)
    if current.fits is False:
        raise CardError(f"The {describe(current)} cannot be approved: {current.fit_problem or 'it does not fit'}.")
    updated = Card.objects.filter(pk=card.pk, status=DRAFT, fits=True, message=current.message).update(
        status=APPROVED, approved_by=by, approved_at=timezone.now(), updated_at=timezone.now()
    )
    if not updated:
        current = _fresh(card.pk)
        raise CardError(
            f"The {describe(current)} was changed by someone else meanwhile ({_state(current)}): it was not approved."
        )
    card.refresh_from_db()
    return card


# --- Many cards (admin actions) ---------------------------------------------------------------


def pk_pages(cards: Iterable[Card] | models.QuerySet[Card], size: int | None = None) -> Iterator[list[int]]:
    """The cards' ids, a page at a time in id order (a queryset is read page by page, by id,
    so no list of every id is held: each page is read when the previous one is done)."""
    size = size or BULK_PAGE_SIZE
    if not isinstance(cards, models.QuerySet) or cards.query.is_sliced:
        ids = sorted(card.pk for card in cards)
        for start in range(0, len(ids), size):
            yield ids[start : start + size]
        return
    pks = cards.order_by("pk").values_list("pk", flat=True)
    after = 0
    while page := list(pks.filter(pk__gt=after)[:size]):
        yield page
        after = page[-1]


def card_bulk_approve(*, cards: Iterable[Card] | models.QuerySet[Card], by: AbstractBaseUser) -> ApprovalResult:
    """Approve every selected draft whose message fits; the others are reported, not approved.

    Unlike the touchpoint actions this is not all-or-nothing: each card's approval stands on its
    own, and one message that does not fit should not hold back a hundred that do. So the cards
    are checked and approved a page at a time (BULK_PAGE_SIZE), each page in its own transaction:
    a seasonal run of a hundred thousand drafts takes the memory of one page.
    """
    layouts: dict[tuple[str, int], FitResult] = {}
    approved = 0
    problems: list[tuple[dt.date, int, str]] = []
    for ids in pk_pages(cards):
        cards_check_fit(card_ids=ids, layouts=layouts)
        now = timezone.now()
        with transaction.atomic():
            approved += Card.objects.filter(pk__in=ids, status=DRAFT, fits=True).update(
                status=APPROVED, approved_by=by, approved_at=now, updated_at=now
            )
            rows = (
                Card.objects.filter(pk__in=ids)
                .exclude(status=APPROVED, approved_at=now)
                .select_related("touchpoint", "approved_by")
            )
            for row in rows:
                if row.status == DRAFT and row.fits is False:
                    problem = f"the {describe(row)} does not fit: {row.fit_problem or 'shorten the message'}"
                elif row.status != DRAFT:
                    problem = f"the {describe(row)} is {_state(row)}"
                else:
                    continue
                problems.append((row.touchpoint.due_on, row.pk, problem))
    # The problems read in due order across the pages, as one list.
    return ApprovalResult(approved=approved, problems=[text for _, _, text in sorted(problems)])


# --- Cancelling -------------------------------------------------------------------------------


def cards_cancel_for_inactive_touchpoints(*, scope: CustomerScope = EVERYONE) -> int:
    """Cancel draft and approved cards that must not be printed any more. Returns how many.

    Their touchpoint was cancelled or skipped, or their customer became do-not-contact or churned.
    A paused customer's cards stay as they are (batches leave them out until the customer is
    active again), because their touchpoints stay pending and would otherwise never get a card.
    Cards already in a batch are never changed here: see CardQuerySet.withdrawn().
    """
    if scope.is_empty:
        return 0
    stale = (
        Card.objects.open()
        .in_scope(scope)
        .filter(
            models.Q(touchpoint__status__in=[Touchpoint.Status.CANCELLED, Touchpoint.Status.SKIPPED])
            | models.Q(touchpoint__customer__status__in=[Customer.Status.DO_NOT_CONTACT, Customer.Status.CHURNED])
        )
    )
    ids = list(stale.order_by().values_list("pk", flat=True))
    cancelled = 0
    for start in range(0, len(ids), 5000):
        # status again: a card batched meanwhile is left to the print room.
        cancelled += Card.objects.filter(pk__in=ids[start : start + 5000], status__in=CARD_OPEN).update(
            status=Card.Status.CANCELLED, updated_at=timezone.now()
        )
    return cancelled


def cards_sync_mail_by(*, scope: CustomerScope = EVERYONE) -> int:
    """Set each open card's mail-by date to its touchpoint's due date where they differ. Returns how many.

    Drafting sets it and a snooze moves it (services.touchpoints); this repairs what neither saw:
    cards drafted by the previous release during an upgrade, or a due date changed by hand in the
    database. Runs after every planner chunk, on the chunk's customers.
    """
    if scope.is_empty:
        return 0
    stale = (
        Card.objects.open()
        .in_scope(scope)
        .filter(models.Q(mail_by__isnull=True) | ~models.Q(mail_by=models.F("touchpoint__due_on")))
    )
    ids = list(stale.order_by().values_list("pk", flat=True))
    due_on = models.Subquery(Touchpoint.objects.filter(pk=models.OuterRef("touchpoint_id")).values("due_on")[:1])
    synced = 0
    for start in range(0, len(ids), 5000):
        synced += Card.objects.filter(pk__in=ids[start : start + 5000]).update(mail_by=due_on)
    return synced


def cards_follow_touchpoints(
    *,
    scope: CustomerScope = EVERYONE,
    today: dt.date | None = None,
) -> tuple[int, int]:
    """After planning: withdraw the cards that lost their basis, draft the missing ones.

    Returns (withdrawn, drafted).
    """
    withdrawn = cards_cancel_for_inactive_touchpoints(scope=scope)
    cards_sync_mail_by(scope=scope)
    return withdrawn, cards_draft_missing(scope=scope, today=today)
