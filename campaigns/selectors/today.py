"""What the Today page shows: selectors returning small dataclasses, one per section.

An account manager sees the calls assigned to them that are due today or overdue (each in the
customer's time zone, docs/calendar-rules.md rule 4), their customers' cards waiting for approval
and their customers whose address a returned card flagged (docs/returned-mail.md). The
print room sees the approved cards grouped by mail-by date and the batches not mailed yet.
A superuser (or anyone with both sets of permissions) sees both.

Every list is bounded: at most `limit` rows are loaded, one more is asked for to know whether
there are more, and only then is the total counted, with the same filtered query on an
indexed path (the touchpoint queue index, the drafts by mail-by date). A list and its count are
always the same query, so "50 of 1,234" means what it says; its "see all" link opens the
admin changelist filtered to the same rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import urlencode

from django.db.models import Count, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Batch, Card, Touchpoint
from campaigns.models.cards import CardQuerySet
from campaigns.models.touchpoints import TouchpointQuerySet
from campaigns.statuses import UNDELIVERABLE_HOLD_REASON
from nurture import querysets
from nurture.lib import calendar
from nurture.models import Customer
from nurture.models.customers import CustomerQuerySet
from nurture.querysets import sees_all_customers

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import AnonymousUser

    User = AbstractBaseUser | AnonymousUser

T = TypeVar("T")

CALLS_SHOWN = 50
CARDS_SHOWN = 25
UNDELIVERABLE_SHOWN = 25
MAIL_BY_DATES_SHOWN = 14
BATCHES_SHOWN = 10
# Batches the print room still has work with: everything before "mailed".
BATCHES_IN_PROGRESS = ("queued", "rendering", "ready", "failed", "printed")
MESSAGE_EXCERPT = 90


def _perm(user: User, perm: str) -> bool:
    has_perm = getattr(user, "has_perm", None)
    return bool(user.is_authenticated and has_perm is not None and has_perm(perm))


def works_calls(user: User) -> bool:
    """An account manager: works on customers and their touchpoints."""
    return _perm(user, "nurture.view_customer") and _perm(user, "campaigns.view_touchpoint")


def reviews_cards(user: User) -> bool:
    return works_calls(user) and _perm(user, "campaigns.view_card")


def works_print_room(user: User) -> bool:
    """The print room: builds batches (superusers and administrators have this too)."""
    return _perm(user, "campaigns.add_batch")


# Counts stop here, like the admin's lists.
COUNT_CAP = querysets.COUNT_CAP
# The print room's queue is counted up to this many cards (mail_by_groups).
QUEUE_COUNT_CAP = COUNT_CAP
# The cards to approve are counted along the list's own order (my_drafts), which costs in
# proportion to the count: they stop at 100 ("more than 100").
DRAFTS_COUNT_CAP = 100


@dataclass(frozen=True)
class Bounded(Generic[T]):
    """The first rows of a list, how many there are in all, and where to see them all."""

    rows: list[T]
    total: int
    see_all_url: str
    # Where the count stopped; None: COUNT_CAP.
    cap: int | None = None

    @property
    def truncated(self) -> bool:
        return self.total > len(self.rows)

    @property
    def count_cap(self) -> int:
        return COUNT_CAP if self.cap is None else self.cap

    @property
    def capped(self) -> bool:
        """More rows than the cap: the total says "more than 1,000" (or the list's cap), not a number."""
        return self.total > self.count_cap

    @property
    def total_label(self) -> str:
        return f"more than {self.count_cap:,}" if self.capped else f"{self.total:,}"


def bounded(queryset: QuerySet[Any], *, limit: int, row: Callable[[Any], T], see_all_url: str) -> Bounded[T]:
    """At most `limit` rows; the total is counted only when there are more (same query, so it matches).

    Like the admin's paginator, the count stops at COUNT_CAP + 1 rows, unordered: no COUNT
    without a LIMIT, whatever the size of the lists.
    """
    objects = list(queryset[: limit + 1])
    total = len(objects) if len(objects) <= limit else querysets.capped_count(queryset, COUNT_CAP)
    return Bounded(rows=[row(obj) for obj in objects[:limit]], total=total, see_all_url=see_all_url)


def bounded_in_order(
    queryset: QuerySet[Any], *, limit: int, cap: int, row: Callable[[Any], T], see_all_url: str
) -> Bounded[T]:
    """The first `limit` rows and a count that stops at `cap` + 1, both along the list's order.

    For a list whose order is an index that PostgreSQL can only filter as it walks (my_drafts):
    an unordered count lets the planner pick a scan whose cost depends on where the rows sit in
    the table (up to a second at a million customers), while the ordered walk costs what the
    count needs. One walk gives the ids of at most `cap` + 1 rows, a second query the shown
    rows by id. No COUNT at all.
    """
    ids = list(queryset.values_list("pk", flat=True)[: cap + 1])
    shown = ids[:limit]
    objects = {obj.pk: obj for obj in queryset.filter(pk__in=shown)} if shown else {}
    # A row gone since the walk (approved meanwhile) is left out.
    rows = [row(objects[pk]) for pk in shown if pk in objects]
    return Bounded(rows=rows, total=len(ids), see_all_url=see_all_url, cap=cap)


# --- Calls -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallRow:
    touchpoint_id: int
    customer_id: int
    customer_name: str
    company: str
    phone: str
    time_zone: str
    due_on: dt.date
    days_overdue: int
    rule_name: str
    milestone_name: str
    milestone_date: dt.date
    occurs_on: dt.date
    late: bool
    snoozed_from: dt.date | None

    @property
    def reason(self) -> str:
        """Why this call: "Check-in call · Became a customer on 2025-02-24"."""
        return f"{self.rule_name} · {self.milestone_name} on {self.milestone_date.isoformat()}"


@dataclass(frozen=True)
class CallsSection:
    due_today: Bounded[CallRow]
    overdue: Bounded[CallRow]
    can_log: bool


def _call_row(touchpoint: Touchpoint, now: dt.datetime) -> CallRow:
    customer = touchpoint.customer
    local_today = calendar.local_today(now, customer.time_zone)
    milestone = touchpoint.milestone
    return CallRow(
        touchpoint_id=touchpoint.pk,
        customer_id=customer.pk,
        customer_name=customer.full_name,
        company=customer.company,
        phone=customer.phone,
        time_zone=customer.time_zone,
        due_on=touchpoint.due_on,
        days_overdue=max(0, (local_today - touchpoint.due_on).days),
        rule_name=touchpoint.rule.name,
        milestone_name=milestone.kind.name if milestone is not None else "Milestone (deleted)",
        milestone_date=touchpoint.milestone_date,
        occurs_on=touchpoint.occurs_on,
        late=touchpoint.late,
        snoozed_from=touchpoint.snoozed_from,
    )


def my_calls(user: AbstractBaseUser) -> TouchpointQuerySet:
    """Pending calls assigned to the user, of customers the user may see.

    assigned_to() keeps the queries on the (assignee, status, due_on) index; visible_to() makes
    sure that a call left assigned to someone who lost the customer does not show them the customer.
    """
    return (
        Touchpoint.objects.visible_to(user)
        .assigned_to(user)
        .calls()
        .pending()
        .select_related("customer", "rule", "milestone__kind")
        .order_by("due_on", "id")
    )


def _queue_url(queue: str) -> str:
    changelist = reverse("admin:campaigns_touchpoint_changelist")
    return f"{changelist}?{urlencode({'queue': queue, 'kind__exact': Touchpoint.Kind.CALL})}"


def calls_section(*, user: AbstractBaseUser, now: dt.datetime | None = None, limit: int | None = None) -> CallsSection:
    now = now or timezone.now()
    limit = limit or CALLS_SHOWN
    calls = my_calls(user)
    return CallsSection(
        due_today=bounded(
            calls.due_today(now), limit=limit, row=lambda tp: _call_row(tp, now), see_all_url=_queue_url("mine_today")
        ),
        overdue=bounded(
            calls.overdue(now), limit=limit, row=lambda tp: _call_row(tp, now), see_all_url=_queue_url("mine_overdue")
        ),
        can_log=_perm(user, "campaigns.change_touchpoint"),
    )


# --- Cards waiting for approval --------------------------------------------------------------


@dataclass(frozen=True)
class DraftCardRow:
    card_id: int
    customer_id: int
    recipient_name: str
    company: str
    mail_by: dt.date
    occurs_on: dt.date
    rule_name: str
    excerpt: str
    fits: bool | None
    fit_problem: str


@dataclass(frozen=True)
class CardsSection:
    drafts: Bounded[DraftCardRow]
    can_approve: bool


def _excerpt(message: str) -> str:
    text = " ".join(message.split())
    return text if len(text) <= MESSAGE_EXCERPT else text[: MESSAGE_EXCERPT - 1].rstrip() + "…"


def _draft_row(card: Card) -> DraftCardRow:
    touchpoint = card.touchpoint
    return DraftCardRow(
        card_id=card.pk,
        customer_id=touchpoint.customer_id,
        recipient_name=card.recipient_name,
        company=card.recipient_company,
        mail_by=touchpoint.due_on,
        occurs_on=touchpoint.occurs_on,
        rule_name=touchpoint.rule.name,
        excerpt=_excerpt(card.message),
        fits=card.fits,
        fit_problem=card.fit_problem,
    )


def my_drafts(user: AbstractBaseUser) -> CardQuerySet:
    """Draft cards waiting for this user's approval, soonest mail-by date first.

    Scoped by the customer's account manager as it is now, like the calls: the cards of the
    user's own customers (every customer's for those who see all customers). Not by the
    touchpoint's assignee, which follows a change of account manager only once the planner has
    re-planned the customer, and which an administrator may set to anyone: neither shows one
    manager another's customer, company or message. A print-room permission (which lets the
    card list show every card) does not widen this list either.

    Drafts of pending touchpoints only (a held, done or cancelled one cannot be mailed). The
    order is the card's own mail-by date (Card.mail_by, the touchpoint's due date), so at a
    million customers PostgreSQL walks the drafts in order on card_draft_mail_by and probes each
    one's touchpoint and customer, stopping at the rows it needs (docs/benchmarks-admin.md).
    """
    drafts = Card.objects.drafts().filter(touchpoint__status=Touchpoint.Status.PENDING)
    if not sees_all_customers(user):
        drafts = drafts.filter(touchpoint__customer__account_manager_id=user.pk)
    return drafts.select_related("touchpoint", "touchpoint__rule").order_by("mail_by", "id")


def cards_section(*, user: AbstractBaseUser, limit: int | None = None) -> CardsSection:
    """Draft cards of the user's customers (every customer's for those who see all), soonest mail-by first."""
    limit = limit or CARDS_SHOWN
    url = f"{reverse('admin:campaigns_card_changelist')}?{urlencode({'status__exact': Card.Status.DRAFT})}"
    return CardsSection(
        drafts=bounded_in_order(my_drafts(user), limit=limit, cap=DRAFTS_COUNT_CAP, row=_draft_row, see_all_url=url),
        can_approve=_perm(user, "campaigns.change_card"),
    )


# --- Addresses a returned card flagged ----------------------------------------------------------


@dataclass(frozen=True)
class UndeliverableRow:
    customer_id: int
    customer_name: str
    company: str
    since: dt.date
    held_cards: int


@dataclass(frozen=True)
class UndeliverableSection:
    customers: Bounded[UndeliverableRow]


def my_undeliverable(user: AbstractBaseUser) -> CustomerQuerySet:
    """The user's customers whose address is flagged, newest flag first (customer_manager_undeliverable)."""
    return Customer.objects.visible_to(user).undeliverable().order_by("-address_undeliverable_on", "-id")


def undeliverable_section(*, user: AbstractBaseUser, limit: int | None = None) -> UndeliverableSection:
    """Customers to give a new address: a card came back, and their cards wait (one query for the counts)."""
    limit = limit or UNDELIVERABLE_SHOWN
    url = f"{reverse('admin:nurture_customer_changelist')}?{urlencode({'address': 'undeliverable'})}"
    customers = bounded(my_undeliverable(user), limit=limit, row=lambda customer: customer, see_all_url=url)
    held = dict(
        Touchpoint.objects.filter(
            customer_id__in=[customer.pk for customer in customers.rows],
            status=Touchpoint.Status.HELD,
            hold_reason__startswith=UNDELIVERABLE_HOLD_REASON,
        )
        .values("customer_id")
        .annotate(n=Count("pk"))
        .values_list("customer_id", "n")
        .order_by()
    )
    rows = [
        UndeliverableRow(
            customer_id=customer.pk,
            customer_name=customer.full_name,
            company=customer.company,
            since=customer.address_undeliverable_on or dt.date.min,  # never empty: undeliverable()
            held_cards=held.get(customer.pk, 0),
        )
        for customer in customers.rows
    ]
    return UndeliverableSection(
        customers=Bounded(rows=rows, total=customers.total, see_all_url=customers.see_all_url, cap=customers.cap)
    )


# --- The print room --------------------------------------------------------------------------


@dataclass(frozen=True)
class MailByGroup:
    mail_by: dt.date
    cards: int
    unchecked: int
    today: dt.date
    # The last date counted when the count stopped at its cap: it may have more cards than counted.
    partial: bool = False

    @property
    def late(self) -> bool:
        return self.mail_by < self.today

    @property
    def due_today(self) -> bool:
        return self.mail_by == self.today


@dataclass(frozen=True)
class BatchRow:
    batch_id: int
    code: str
    status: str
    status_label: str
    due_by: dt.date
    card_count: int
    chunks_done: int
    chunk_count: int
    created_at: dt.datetime
    error: str

    @property
    def downloadable(self) -> bool:
        return self.status in ("ready", "printed")

    @property
    def rendering(self) -> bool:
        return self.status in ("queued", "rendering")


@dataclass(frozen=True)
class PrintRoomSection:
    groups: list[MailByGroup]
    group_total: int
    # At most QUEUE_COUNT_CAP + 1: more than the cap means "more than 1,000".
    card_total: int
    batches: Bounded[BatchRow]
    build_url: str
    # The returned mail page, for those who may record returns (campaigns.print_cards).
    returned_url: str | None = None

    @property
    def groups_truncated(self) -> bool:
        return self.group_total > len(self.groups)

    @property
    def capped(self) -> bool:
        """The queue holds more cards than were counted: the totals are lower bounds."""
        return self.card_total > QUEUE_COUNT_CAP

    @property
    def count_cap(self) -> int:
        return QUEUE_COUNT_CAP

    @property
    def card_total_label(self) -> str:
        return f"more than {QUEUE_COUNT_CAP:,}" if self.capped else f"{self.card_total:,}"

    @property
    def group_total_label(self) -> str:
        return f"{self.group_total:,} or more" if self.capped else f"{self.group_total:,}"

    @property
    def late_cards(self) -> int:
        return sum(group.cards for group in self.groups if group.late)


def _batch_row(batch: Batch) -> BatchRow:
    return BatchRow(
        batch_id=batch.pk,
        code=batch.code,
        status=batch.status,
        status_label=batch.get_status_display(),
        due_by=batch.due_by,
        card_count=batch.card_count,
        chunks_done=batch.chunks_done,
        chunk_count=batch.chunk_count,
        created_at=batch.created_at,
        error=batch.error,
    )


def mail_by_groups(*, today: dt.date, limit: int | None = None) -> tuple[list[MailByGroup], int, int]:
    """The print room's queue by mail-by date: (first `limit` dates, number of dates, number of cards).

    The queue is every approved card not yet in a batch (Card.objects.printable(), the same
    cards the "Build a batch" page takes); the print room works for every customer, and this
    shows dates and counts only, no customer.

    Only the queue's first QUEUE_COUNT_CAP + 1 cards by mail-by date are counted, like every count
    of the admin: the query reads at most that many cards along an index (card_approved_mail_by),
    however large the backlog. When the queue is longer, the number of cards is QUEUE_COUNT_CAP + 1
    ("more than 1,000"), the dates are the soonest ones, exact, and the last one is marked partial.
    """
    limit = limit or MAIL_BY_DATES_SHOWN
    # The card's own mail-by date (its touchpoint's due date, kept in step) orders the walk; the
    # groups are by the touchpoint's due date, as the batch builder selects them.
    first = Card.objects.printable().order_by("mail_by", "pk").values("pk")[: QUEUE_COUNT_CAP + 1]
    counts = (
        Card.objects.filter(pk__in=first)
        .values("touchpoint__due_on")
        .annotate(
            cards=Count("pk"),
            unchecked=Count("pk", filter=Q(fits__isnull=True)),
        )
        .order_by("touchpoint__due_on")
    )
    # One row per mail-by date: a few dozen (the planning horizon and what is late), so one query
    # gives the shown dates and both totals.
    rows = list(counts)
    date_total, card_total = len(rows), sum(row["cards"] for row in rows)
    capped = card_total > QUEUE_COUNT_CAP
    groups = [
        MailByGroup(
            mail_by=row["touchpoint__due_on"],
            cards=row["cards"],
            unchecked=row["unchecked"],
            today=today,
            partial=capped and index == len(rows) - 1,
        )
        for index, row in enumerate(rows[:limit])
    ]
    return groups, date_total, card_total


def print_room_section(
    *, today: dt.date | None = None, limit: int | None = None, records_returns: bool = False
) -> PrintRoomSection:
    today = today or timezone.localdate()
    limit = limit or BATCHES_SHOWN
    groups, group_total, card_total = mail_by_groups(today=today)
    batches = Batch.objects.filter(status__in=BATCHES_IN_PROGRESS).order_by("-created_at", "-id")
    see_all = reverse("admin:campaigns_batch_changelist")
    return PrintRoomSection(
        groups=groups,
        group_total=group_total,
        card_total=card_total,
        batches=bounded(batches, limit=limit, row=_batch_row, see_all_url=see_all),
        build_url=reverse("admin:campaigns_batch_build"),
        returned_url=reverse("admin:campaigns_card_returned") if records_returns else None,
    )


# --- The page --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TodayPage:
    today: dt.date
    calls: CallsSection | None
    cards: CardsSection | None
    print_room: PrintRoomSection | None
    undeliverable: UndeliverableSection | None = None

    @property
    def sections(self) -> Sequence[object]:
        sections = (self.calls, self.cards, self.undeliverable, self.print_room)
        return [section for section in sections if section is not None]


def today_page(*, user: AbstractBaseUser, now: dt.datetime | None = None) -> TodayPage:
    """Everything the Today page shows for this user, picked by their permissions."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    return TodayPage(
        today=today,
        calls=calls_section(user=user, now=now) if works_calls(user) else None,
        cards=cards_section(user=user) if reviews_cards(user) else None,
        print_room=(
            print_room_section(today=today, records_returns=_perm(user, "campaigns.print_cards"))
            if works_print_room(user)
            else None
        ),
        undeliverable=undeliverable_section(user=user) if works_calls(user) else None,
    )
