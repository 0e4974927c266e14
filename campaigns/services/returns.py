"""Returned mail: the print room records the cards that came back undeliverable.

The print room types or scans the sequence codes printed outside each card's trim and on its
label (``B12-034``), many at once. ``returned_cards_check`` reads them and says, code by code,
what recording them would do; ``cards_record_returned`` does it, all or nothing, in one
transaction:

- each card becomes "returned" (with the time);
- its customer's address is flagged undeliverable (``Customer.address_undeliverable_on``, the
  day), unless the address has changed since the card was mailed: then the card came back from
  an old address, and the new one is given its chance;
- the customer's pending cards are held, "address undeliverable since <date>"
  (campaigns.services.holds), and the planner holds every later one, until the address changes.

A code that is not a card, a card not mailed yet, or one already returned is a problem named by
its code; with any problem nothing is written. ``cards_undo_returned`` reverses a return recorded
by mistake: the card is mailed again, and the customer's flag is lifted when no other returned
card from the same address holds it.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from campaigns.models import Card
from campaigns.services import holds
from nurture.lib.address import Address
from nurture.lib.customer_scope import CustomerScope
from nurture.models import Customer

log = logging.getLogger(__name__)

# A code as printed (B12-034), as typed (b12-34) or without its B (12-034).
SEQUENCE_CODE = re.compile(r"B?(?P<batch>\d{1,18})-(?P<sequence>\d{1,9})", re.IGNORECASE)
# Scanners type the code and Enter; people use spaces, commas or semicolons.
_SEPARATORS = re.compile(r"[\s,;]+")
# More codes than this in one go is a mistake (a pasted file), not a day's returned mail.
MAX_CODES = 2000


class ReturnedMailError(ValueError):
    """Nothing was recorded; `problems` names each code that stopped it and why."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"Nothing was recorded: {'; '.join(problems)}.")


@dataclass(frozen=True)
class ParsedCode:
    text: str
    batch_id: int
    sequence: int

    @property
    def code(self) -> str:
        """The code as the card carries it: B12-034."""
        return f"B{self.batch_id}-{self.sequence:03d}"


@dataclass(frozen=True)
class ReturnLine:
    """One card as recording it would change it."""

    code: str
    card_id: int
    recipient_name: str
    mailed_on: dt.date | None
    customer_id: int
    # The customer's address is still the one on the card: it gets flagged.
    flags_address: bool
    # The customer's address was flagged already (by another returned card).
    already_flagged: bool


@dataclass
class ReturnCheck:
    lines: list[ReturnLine] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    duplicates: int = 0

    @property
    def ok(self) -> bool:
        return bool(self.lines) and not self.problems


@dataclass(frozen=True)
class ReturnResult:
    returned: int
    customers_flagged: int
    cards_held: int
    codes: list[str]


def parse_sequence_codes(text: str) -> tuple[list[ParsedCode], list[str], int]:
    """The codes in `text`, each once in the order given: (codes, problems, duplicates dropped)."""
    codes: list[ParsedCode] = []
    problems: list[str] = []
    seen: set[tuple[int, int]] = set()
    duplicates = 0
    for token in _SEPARATORS.split(text.strip()):
        if not token:
            continue
        match = SEQUENCE_CODE.fullmatch(token)
        if match is None:
            problems.append(f"{token[:40]}: not a sequence code (they look like B12-034)")
            continue
        key = (int(match["batch"]), int(match["sequence"]))
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        codes.append(ParsedCode(text=token, batch_id=key[0], sequence=key[1]))
    if len(codes) > MAX_CODES:
        problems.append(f"{len(codes):,} codes: record at most {MAX_CODES:,} at a time")
    return codes, problems, duplicates


def _cards(codes: list[ParsedCode]) -> dict[tuple[int, int], Card]:
    """The cards of the codes, in one query (an OR of (batch, sequence) pairs on their unique index)."""
    if not codes:
        return {}
    condition = Q()
    for parsed in codes:
        condition |= Q(batch_id=parsed.batch_id, sequence=parsed.sequence)
    cards = Card.objects.filter(condition).select_related("touchpoint__customer", "batch")
    return {(card.batch_id, card.sequence): card for card in cards if card.batch_id and card.sequence}


def _problem(card: Card | None, code: str) -> str | None:
    if card is None:
        return f"{code}: no card has this code"
    if card.status == Card.Status.RETURNED:
        when = timezone.localdate(card.returned_at).isoformat() if card.returned_at else "earlier"
        return f"{code}: already recorded as returned ({when})"
    if card.status != Card.Status.MAILED:
        return f"{code}: not mailed yet ({card.get_status_display().lower()}), so it cannot have come back"
    return None


def returned_cards_check(*, codes: str) -> ReturnCheck:
    """What recording these codes would do, and what stops it. Writes nothing."""
    parsed, problems, duplicates = parse_sequence_codes(codes)
    check = ReturnCheck(problems=problems, duplicates=duplicates)
    if not parsed and not problems:
        check.problems.append("no sequence codes: type or scan the codes printed on the returned cards")
        return check
    cards = _cards(parsed)
    for code in parsed:
        card = cards.get((code.batch_id, code.sequence))
        problem = _problem(card, code.code)
        if problem is not None or card is None:
            check.problems.append(problem or code.code)
            continue
        customer = card.touchpoint.customer
        batch = card.batch
        check.lines.append(
            ReturnLine(
                code=code.code,
                card_id=card.pk,
                recipient_name=card.recipient_name,
                mailed_on=timezone.localdate(batch.mailed_at) if batch is not None and batch.mailed_at else None,
                customer_id=customer.pk,
                flags_address=Address.of(card) == customer.address,
                already_flagged=customer.address_undeliverable_on is not None,
            )
        )
    return check


def cards_record_returned(*, codes: str, by: AbstractBaseUser, now: dt.datetime | None = None) -> ReturnResult:
    """Record the cards of `codes` as returned, flag their addresses and hold the customers' cards.

    All or nothing: raises ReturnedMailError naming every code that cannot be recorded, and then
    nothing is written. The card's status changes with a conditional UPDATE (mailed -> returned),
    so two people recording the same card at once cannot both succeed.
    """
    now = now or timezone.now()
    today = timezone.localdate(now)
    with transaction.atomic():
        check = returned_cards_check(codes=codes)
        if check.problems:
            raise ReturnedMailError(check.problems)
        card_ids = [line.card_id for line in check.lines]
        returned = Card.objects.filter(pk__in=card_ids, status=Card.Status.MAILED).update(
            status=Card.Status.RETURNED, returned_at=now, updated_at=now
        )
        if returned != len(card_ids):
            # Someone else recorded (or changed) one of them meanwhile: roll back and say which.
            raise ReturnedMailError(returned_cards_check(codes=codes).problems or ["the cards changed meanwhile"])
        to_flag = sorted({line.customer_id for line in check.lines if line.flags_address})
        # Bumping updated_at makes the planner's next sweep look at these customers again.
        flagged = Customer.objects.filter(pk__in=to_flag, address_undeliverable_on__isnull=True).update(
            address_undeliverable_on=today, updated_at=now
        )
        held = holds.apply_undeliverable_addresses(now=now, scope=CustomerScope.of(to_flag))
    log.info(
        "returned mail recorded by %s: %d cards, %d addresses flagged, %d cards held",
        by.get_username(),
        returned,
        flagged,
        held,
    )
    return ReturnResult(
        returned=returned, customers_flagged=flagged, cards_held=held, codes=[line.code for line in check.lines]
    )


def _still_returned_from(customer_ids: Iterable[int], undone: set[int]) -> set[int]:
    """Customers with another returned card to the address they have now: their flag stays."""
    keep: set[int] = set()
    others = (
        Card.objects.returned()
        .filter(touchpoint__customer_id__in=list(customer_ids))
        .exclude(pk__in=undone)
        .select_related("touchpoint__customer")
    )
    for card in others:
        if Address.of(card) == card.touchpoint.customer.address:
            keep.add(card.touchpoint.customer_id)
    return keep


def cards_undo_returned(*, codes: str, by: AbstractBaseUser, now: dt.datetime | None = None) -> ReturnResult:
    """Reverse returns recorded by mistake: the cards are mailed again, all or nothing.

    A customer's flag is lifted when no other returned card came back from their current
    address, and the cards held for it are released (the same step the planner takes when an
    address changes).
    """
    now = now or timezone.now()
    parsed, problems, _ = parse_sequence_codes(codes)
    if not parsed and not problems:
        raise ReturnedMailError(["no sequence codes: type or scan the codes of the cards to put back"])
    with transaction.atomic():
        cards = _cards(parsed)
        lines: list[Card] = []
        for code in parsed:
            card = cards.get((code.batch_id, code.sequence))
            if card is None:
                problems.append(f"{code.code}: no card has this code")
            elif card.status != Card.Status.RETURNED:
                problems.append(f"{code.code}: not recorded as returned ({card.get_status_display().lower()})")
            else:
                lines.append(card)
        if problems:
            raise ReturnedMailError(problems)
        ids = {card.pk for card in lines}
        undone = Card.objects.filter(pk__in=ids, status=Card.Status.RETURNED).update(
            status=Card.Status.MAILED, returned_at=None, updated_at=now
        )
        if undone != len(ids):
            raise ReturnedMailError(["the cards changed meanwhile: check them again"])
        customer_ids = {card.touchpoint.customer_id for card in lines}
        lift = sorted(customer_ids - _still_returned_from(customer_ids, ids))
        lifted = Customer.objects.filter(pk__in=lift, address_undeliverable_on__isnull=False).update(
            address_undeliverable_on=None, updated_at=now
        )
        holds.release_deliverable_addresses(now=now, scope=CustomerScope.of(lift))
    log.info("returns undone by %s: %d cards, %d flags lifted", by.get_username(), undone, lifted)
    return ReturnResult(
        returned=undone, customers_flagged=lifted, cards_held=0, codes=[card.sequence_code for card in lines]
    )
