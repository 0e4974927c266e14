"""What people do with a touchpoint: log a call's outcome, snooze it, skip it.

Every transition starts from "pending" and is a conditional UPDATE
(``... WHERE id = %s AND status = 'pending'``): when two people act on the same touchpoint at
once, the database lets exactly one of them through and the other gets a TouchpointError,
without locks. The bulk versions, used by the admin actions, are all-or-nothing: if any
selected touchpoint cannot make the transition, none changes.

QuerySet.update() sends no signals and does not touch auto_now fields, so updated_at is set
here explicitly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import models, transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

from campaigns.models import Card, Touchpoint
from campaigns.services.reactions import react_to_outcome
from campaigns.services.referral_thanks import referrals_thank
from campaigns.services.webhooks import touchpoint_events
from nurture.lib import calendar

PENDING = Touchpoint.Status.PENDING
# How many offending touchpoints an error message names before it says "and N more".
_NAMED_IN_ERRORS = 5


class TouchpointError(ValueError):
    """The touchpoint cannot make this transition; the message says why, for a person."""


def describe(touchpoint: Touchpoint) -> str:
    """A touchpoint as a person recognises it: "Call for Ada Lovelace due 2025-03-10"."""
    return f"{touchpoint.get_kind_display()} for {touchpoint.customer} due {touchpoint.due_on.isoformat()}"


def _state(touchpoint: Touchpoint) -> str:
    """Why a touchpoint is no longer pending, e.g. "already done (reached) by bob"."""
    state = touchpoint.get_status_display().lower()
    if touchpoint.status == Touchpoint.Status.DONE and touchpoint.outcome:
        state += f" ({touchpoint.get_outcome_display().lower()})"
    if touchpoint.completed_by is not None:
        state += f" by {touchpoint.completed_by.get_username()}"
    return f"already {state}"


def _fresh(touchpoint: Touchpoint) -> Touchpoint:
    current: Touchpoint = Touchpoint.objects.select_related("customer", "completed_by").get(pk=touchpoint.pk)
    return current


def _reload(touchpoint: Touchpoint) -> Touchpoint:
    touchpoint.refresh_from_db()
    return touchpoint


def _clean_outcome(outcome: str) -> str:
    if outcome not in Touchpoint.Outcome.values:
        choices = ", ".join(Touchpoint.Outcome.values)
        raise TouchpointError(f"Unknown outcome {outcome!r}; expected one of {choices}.")
    return outcome


def _clean_reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise TouchpointError("A reason is required to skip a touchpoint.")
    max_length = Touchpoint._meta.get_field("skip_reason").max_length or 0
    if len(reason) > max_length:
        raise TouchpointError(f"The reason is {len(reason)} characters long; at most {max_length} fit.")
    return reason


def _snooze_problem(*, due_on: dt.date, time_zone: str, until: dt.date, now: dt.datetime) -> str | None:
    """Why `until` is not a valid new due date, or None. "Today" is the customer's (rule 4)."""
    if until <= due_on:
        return f"the new date {until.isoformat()} is not after the due date {due_on.isoformat()}"
    today = calendar.local_today(now, time_zone)
    if until < today:
        return f"the new date {until.isoformat()} is before today ({today.isoformat()} for the customer)"
    return None


def _done_fields(*, outcome: str, notes: str, by: AbstractBaseUser, now: dt.datetime) -> dict[str, Any]:
    return {
        "status": Touchpoint.Status.DONE,
        "outcome": outcome,
        "notes": notes,
        "completed_at": now,
        "completed_by": by,
        "updated_at": now,
    }


def _skip_fields(*, reason: str, by: AbstractBaseUser, now: dt.datetime) -> dict[str, Any]:
    return {
        "status": Touchpoint.Status.SKIPPED,
        "skip_reason": reason,
        "completed_at": now,
        "completed_by": by,
        "updated_at": now,
    }


def _move_cards(*, ids: Sequence[int], until: dt.date) -> None:
    """A card's mail-by date is its touchpoint's due date (Card.mail_by): it moves with a snooze."""
    Card.objects.filter(touchpoint_id__in=ids).update(mail_by=until)


def _snooze_fields(*, until: dt.date, now: dt.datetime) -> dict[str, Any]:
    # Evaluated by the database against the row as it was: the first snooze keeps the
    # original due date, later ones leave it alone.
    return {"snoozed_from": Coalesce(models.F("snoozed_from"), models.F("due_on")), "due_on": until, "updated_at": now}


# --- One touchpoint ----------------------------------------------------------------------


def touchpoint_log_outcome(
    *, touchpoint: Touchpoint, outcome: str, notes: str = "", by: AbstractBaseUser
) -> Touchpoint:
    """Record how a pending call went; it becomes done. Returns the touchpoint, reloaded."""
    outcome = _clean_outcome(outcome)
    if touchpoint.kind != Touchpoint.Kind.CALL:
        raise TouchpointError(f"{describe(touchpoint)}: only calls have an outcome.")
    now = timezone.now()
    with transaction.atomic():
        claimed = Touchpoint.objects.filter(pk=touchpoint.pk, status=PENDING, kind=Touchpoint.Kind.CALL).update(
            **_done_fields(outcome=outcome, notes=notes.strip(), by=by, now=now)
        )
        if claimed:
            react_to_outcome(touchpoint=touchpoint, now=now)
            touchpoint_events([touchpoint.pk], outcome=True)
            referrals_thank(touchpoint_ids=[touchpoint.pk], now=now)
    if not claimed:
        current = _fresh(touchpoint)
        raise TouchpointError(f"{describe(current)} is {_state(current)}: its outcome was not logged again.")
    return _reload(touchpoint)


def touchpoint_snooze(
    *, touchpoint: Touchpoint, until: dt.date, by: AbstractBaseUser, now: dt.datetime | None = None
) -> Touchpoint:
    """Move a pending touchpoint's due date later. snoozed_from keeps the date first planned.

    `until` must be after the current due date and not before the customer's today.
    """
    current = _fresh(touchpoint)
    if current.status != PENDING:
        raise TouchpointError(f"{describe(current)} is {_state(current)}: only pending touchpoints can be snoozed.")
    problem = _snooze_problem(
        due_on=current.due_on, time_zone=current.customer.time_zone, until=until, now=now or timezone.now()
    )
    if problem:
        raise TouchpointError(f"{describe(current)} cannot be snoozed: {problem}.")
    # due_on in the condition as well: a snooze someone else made meanwhile is not overwritten.
    with transaction.atomic():
        claimed = Touchpoint.objects.filter(pk=current.pk, status=PENDING, due_on=current.due_on).update(
            **_snooze_fields(until=until, now=timezone.now())
        )
        if claimed:
            _move_cards(ids=[current.pk], until=until)
    if not claimed:
        current = _fresh(touchpoint)
        raise TouchpointError(f"{describe(current)} was changed by someone else meanwhile; nothing was snoozed.")
    return _reload(touchpoint)


def touchpoint_skip(*, touchpoint: Touchpoint, reason: str, by: AbstractBaseUser) -> Touchpoint:
    """Close a pending touchpoint without doing it, saying why."""
    reason = _clean_reason(reason)
    now = timezone.now()
    claimed = Touchpoint.objects.filter(pk=touchpoint.pk, status=PENDING).update(
        **_skip_fields(reason=reason, by=by, now=now)
    )
    if not claimed:
        current = _fresh(touchpoint)
        raise TouchpointError(f"{describe(current)} is {_state(current)}: it was not skipped.")
    return _reload(touchpoint)


# --- Many touchpoints at once (admin actions) -----------------------------------------------


def _ids(touchpoints: Iterable[Touchpoint] | models.QuerySet[Touchpoint]) -> list[int]:
    if isinstance(touchpoints, models.QuerySet):
        return list(touchpoints.values_list("pk", flat=True))
    return [touchpoint.pk for touchpoint in touchpoints]


def _listing(problems: Sequence[str]) -> str:
    named = "; ".join(problems[:_NAMED_IN_ERRORS])
    rest = len(problems) - _NAMED_IN_ERRORS
    return f"{named}; and {rest} more" if rest > 0 else named


def _blockers(ids: Sequence[int], *, calls_only: bool = False) -> list[str]:
    rows = Touchpoint.objects.filter(pk__in=ids).select_related("customer", "completed_by").order_by("due_on", "pk")
    problems = []
    for row in rows:
        if row.status != PENDING:
            problems.append(f"{describe(row)} is {_state(row)}")
        elif calls_only and row.kind != Touchpoint.Kind.CALL:
            problems.append(f"{describe(row)} is not a call")
    return problems


def _update_all(ids: Sequence[int], condition: models.Q, fields: dict[str, Any], *, calls_only: bool = False) -> int:
    """UPDATE every id that meets the condition, or none: raises TouchpointError naming the rest."""
    with transaction.atomic():
        updated = Touchpoint.objects.filter(condition, pk__in=ids).update(**fields)
        if updated != len(ids):
            # Read inside the transaction, after our UPDATE waited for any competing one.
            problems = _blockers(ids, calls_only=calls_only) or ["some were changed by someone else meanwhile"]
            # Raising rolls the UPDATE back.
            raise TouchpointError(f"Nothing was changed: {_listing(problems)}.")
    return updated


def touchpoint_bulk_log_outcome(
    *,
    touchpoints: Iterable[Touchpoint] | models.QuerySet[Touchpoint],
    outcome: str,
    notes: str = "",
    by: AbstractBaseUser,
) -> int:
    """Log the same outcome for every selected call, or for none. Returns how many."""
    outcome = _clean_outcome(outcome)
    ids = _ids(touchpoints)
    now = timezone.now()
    with transaction.atomic():
        count = _update_all(
            ids,
            models.Q(status=PENDING, kind=Touchpoint.Kind.CALL),
            _done_fields(outcome=outcome, notes=notes.strip(), by=by, now=now),
            calls_only=True,
        )
        for touchpoint in Touchpoint.objects.filter(pk__in=ids):
            react_to_outcome(touchpoint=touchpoint, now=now)
        touchpoint_events(ids, outcome=True)
        referrals_thank(touchpoint_ids=ids, now=now)
    return count


def touchpoint_bulk_snooze(
    *,
    touchpoints: Iterable[Touchpoint] | models.QuerySet[Touchpoint],
    until: dt.date,
    by: AbstractBaseUser,
    now: dt.datetime | None = None,
) -> int:
    """Snooze every selected touchpoint to `until`, or none. Returns how many."""
    ids = _ids(touchpoints)
    now = now or timezone.now()
    rows = Touchpoint.objects.filter(pk__in=ids).select_related("customer", "completed_by").order_by("due_on", "pk")
    problems = []
    for row in rows:
        if row.status != PENDING:
            problems.append(f"{describe(row)} is {_state(row)}")
            continue
        problem = _snooze_problem(due_on=row.due_on, time_zone=row.customer.time_zone, until=until, now=now)
        if problem:
            problems.append(f"{describe(row)}: {problem}")
    if problems:
        raise TouchpointError(f"Nothing was snoozed: {_listing(problems)}.")
    # The conditions checked above hold in the UPDATE too, or it is rolled back.
    with transaction.atomic():
        count = _update_all(
            ids, models.Q(status=PENDING, due_on__lt=until), _snooze_fields(until=until, now=timezone.now())
        )
        _move_cards(ids=ids, until=until)
    return count


def touchpoint_bulk_skip(
    *,
    touchpoints: Iterable[Touchpoint] | models.QuerySet[Touchpoint],
    reason: str,
    by: AbstractBaseUser,
) -> int:
    """Skip every selected touchpoint with the same reason, or none. Returns how many."""
    reason = _clean_reason(reason)
    ids = _ids(touchpoints)
    now = timezone.now()
    return _update_all(ids, models.Q(status=PENDING), _skip_fields(reason=reason, by=by, now=now))
