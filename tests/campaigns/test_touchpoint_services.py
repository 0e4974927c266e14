"""Touchpoint transitions: log an outcome, snooze, skip; one at a time and in bulk."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from campaigns.models import Touchpoint
from campaigns.services.touchpoints import (
    TouchpointError,
    touchpoint_bulk_log_outcome,
    touchpoint_bulk_skip,
    touchpoint_bulk_snooze,
    touchpoint_log_outcome,
    touchpoint_skip,
    touchpoint_snooze,
)
from tests.factories import NOON_UTC, make_customer, make_touchpoint

D = dt.date

pytestmark = pytest.mark.django_db


@pytest.fixture
def user(alice):
    """Who acts in these tests."""
    return alice


# --- Logging an outcome ------------------------------------------------------------------


def test_it_logs_an_outcome(user):
    touchpoint = make_touchpoint()

    with time_machine.travel(NOON_UTC, tick=False):
        result = touchpoint_log_outcome(touchpoint=touchpoint, outcome="reached", notes="  Happy. ", by=user)

    touchpoint.refresh_from_db()
    assert result.status == touchpoint.status == Touchpoint.Status.DONE
    assert touchpoint.outcome == "reached"
    assert touchpoint.notes == "Happy."
    assert touchpoint.completed_at == NOON_UTC
    assert touchpoint.completed_by == user
    assert touchpoint.updated_at == NOON_UTC


def test_the_second_click_fails_and_keeps_the_first_outcome(user, bob):
    touchpoint = make_touchpoint()
    # Two people opened the same pending call.
    first = Touchpoint.objects.get(pk=touchpoint.pk)
    second = Touchpoint.objects.get(pk=touchpoint.pk)

    touchpoint_log_outcome(touchpoint=first, outcome="reached", by=user)
    with pytest.raises(TouchpointError, match=r"already done \(reached\) by alice"):
        touchpoint_log_outcome(touchpoint=second, outcome="no_answer", by=bob)

    touchpoint.refresh_from_db()
    assert touchpoint.outcome == "reached"
    assert touchpoint.completed_by == user


@pytest.mark.parametrize("status", ["skipped", "cancelled"])
def test_it_logs_no_outcome_for_a_closed_call(user, status):
    touchpoint = make_touchpoint(status=status, skip_reason="x", cancel_reason="x")

    with pytest.raises(TouchpointError, match=f"already {status}"):
        touchpoint_log_outcome(touchpoint=touchpoint, outcome="reached", by=user)


def test_it_logs_no_outcome_for_a_card(user):
    touchpoint = make_touchpoint(kind="card")

    with pytest.raises(TouchpointError, match="only calls have an outcome"):
        touchpoint_log_outcome(touchpoint=touchpoint, outcome="reached", by=user)
    touchpoint.refresh_from_db()
    assert touchpoint.status == "pending"


def test_it_rejects_an_unknown_outcome(user):
    touchpoint = make_touchpoint()

    with pytest.raises(TouchpointError, match="Unknown outcome 'maybe'"):
        touchpoint_log_outcome(touchpoint=touchpoint, outcome="maybe", by=user)


# --- Snoozing ------------------------------------------------------------------------------


def test_it_snoozes_and_remembers_the_first_due_date(user):
    touchpoint = make_touchpoint(due_on=D(2025, 3, 10))

    with time_machine.travel(NOON_UTC, tick=False):
        touchpoint_snooze(touchpoint=touchpoint, until=D(2025, 3, 12), by=user)
        touchpoint_snooze(touchpoint=touchpoint, until=D(2025, 3, 20), by=user)

    touchpoint.refresh_from_db()
    assert touchpoint.due_on == D(2025, 3, 20)
    assert touchpoint.snoozed_from == D(2025, 3, 10)
    assert touchpoint.status == "pending"


@pytest.mark.parametrize("until", [D(2025, 3, 10), D(2025, 3, 9)])
def test_it_snoozes_only_to_a_later_date(user, until):
    touchpoint = make_touchpoint(due_on=D(2025, 3, 10))

    with time_machine.travel(NOON_UTC, tick=False), pytest.raises(TouchpointError, match="is not after the due date"):
        touchpoint_snooze(touchpoint=touchpoint, until=until, by=user)


def test_it_does_not_snooze_an_overdue_touchpoint_into_the_past(user):
    touchpoint = make_touchpoint(due_on=D(2025, 3, 1))

    with time_machine.travel(NOON_UTC, tick=False):
        with pytest.raises(TouchpointError, match=r"before today \(2025-03-10 for the customer\)"):
            touchpoint_snooze(touchpoint=touchpoint, until=D(2025, 3, 5), by=user)
        touchpoint_snooze(touchpoint=touchpoint, until=D(2025, 3, 10), by=user)

    touchpoint.refresh_from_db()
    assert touchpoint.due_on == D(2025, 3, 10)


def test_today_for_snoozing_is_the_customers_today(user):
    # At noon UTC on 10 March it is already 11 March on Kiritimati (UTC+14).
    customer = make_customer(time_zone="Pacific/Kiritimati")
    touchpoint = make_touchpoint(customer=customer, due_on=D(2025, 3, 1))

    with time_machine.travel(NOON_UTC, tick=False), pytest.raises(TouchpointError, match="2025-03-11 for the customer"):
        touchpoint_snooze(touchpoint=touchpoint, until=D(2025, 3, 10), by=user)


def test_it_does_not_snooze_a_done_touchpoint(user):
    touchpoint = make_touchpoint(status="done", outcome="reached")

    with pytest.raises(TouchpointError, match="only pending touchpoints can be snoozed"):
        touchpoint_snooze(touchpoint=touchpoint, until=D(2030, 1, 1), by=user)


# --- Skipping ------------------------------------------------------------------------------


def test_it_skips_with_a_reason(user):
    touchpoint = make_touchpoint()

    touchpoint_skip(touchpoint=touchpoint, reason=" Customer on leave ", by=user)

    touchpoint.refresh_from_db()
    assert touchpoint.status == "skipped"
    assert touchpoint.skip_reason == "Customer on leave"
    assert touchpoint.completed_by == user


@pytest.mark.parametrize("reason", ["", "   "])
def test_it_requires_a_reason_to_skip(user, reason):
    touchpoint = make_touchpoint()

    with pytest.raises(TouchpointError, match="A reason is required"):
        touchpoint_skip(touchpoint=touchpoint, reason=reason, by=user)


def test_it_rejects_a_reason_too_long_to_store(user):
    with pytest.raises(TouchpointError, match="at most 200 fit"):
        touchpoint_skip(touchpoint=make_touchpoint(), reason="x" * 201, by=user)


def test_it_does_not_skip_twice(user):
    touchpoint = make_touchpoint()
    stale = Touchpoint.objects.get(pk=touchpoint.pk)
    touchpoint_skip(touchpoint=touchpoint, reason="on leave", by=user)

    with pytest.raises(TouchpointError, match="already skipped by alice"):
        touchpoint_skip(touchpoint=stale, reason="again", by=user)


# --- In bulk: all or nothing -----------------------------------------------------------------


def test_bulk_log_outcome_changes_every_selected_call(user):
    touchpoints = [make_touchpoint() for _ in range(3)]

    count = touchpoint_bulk_log_outcome(
        touchpoints=Touchpoint.objects.filter(pk__in=[t.pk for t in touchpoints]), outcome="voicemail", by=user
    )

    assert count == 3
    assert set(Touchpoint.objects.values_list("status", "outcome", "completed_by")) == {("done", "voicemail", user.pk)}


def test_bulk_log_outcome_changes_nothing_when_one_is_not_pending(user):
    pending = [make_touchpoint() for _ in range(2)]
    done = make_touchpoint(status="done", outcome="reached", completed_by=user)

    with pytest.raises(TouchpointError, match=r"Nothing was changed: Call for .* is already done \(reached\) by alice"):
        touchpoint_bulk_log_outcome(touchpoints=[*pending, done], outcome="no_answer", by=user)

    assert [Touchpoint.objects.get(pk=t.pk).status for t in pending] == ["pending", "pending"]
    assert Touchpoint.objects.get(pk=done.pk).outcome == "reached"


def test_bulk_log_outcome_refuses_cards(user):
    call, card = make_touchpoint(), make_touchpoint(kind="card")

    with pytest.raises(TouchpointError, match="is not a call"):
        touchpoint_bulk_log_outcome(touchpoints=[call, card], outcome="reached", by=user)
    assert Touchpoint.objects.get(pk=call.pk).status == "pending"


def test_bulk_log_outcome_loses_a_race_as_a_whole(user):
    # Selected while pending; another user logs one of them before our UPDATE runs.
    touchpoints = [make_touchpoint() for _ in range(3)]
    Touchpoint.objects.filter(pk=touchpoints[1].pk).update(status="done", outcome="reached")

    with pytest.raises(TouchpointError, match="Nothing was changed"):
        touchpoint_bulk_log_outcome(touchpoints=touchpoints, outcome="no_answer", by=user)
    assert Touchpoint.objects.filter(outcome="no_answer").count() == 0


def test_bulk_error_names_five_and_counts_the_rest(user):
    done = [make_touchpoint(status="done", outcome="reached") for _ in range(7)]

    with pytest.raises(TouchpointError, match=r"; and 2 more\.$"):
        touchpoint_bulk_skip(touchpoints=done, reason="x", by=user)


def test_bulk_snooze_all_or_nothing(user):
    early, late = make_touchpoint(due_on=D(2025, 3, 10)), make_touchpoint(due_on=D(2025, 3, 20))

    with time_machine.travel(NOON_UTC, tick=False):
        with pytest.raises(TouchpointError, match=r"Nothing was snoozed: .* is not after the due date 2025-03-20"):
            touchpoint_bulk_snooze(touchpoints=[early, late], until=D(2025, 3, 15), by=user)
        assert Touchpoint.objects.get(pk=early.pk).due_on == D(2025, 3, 10)

        assert touchpoint_bulk_snooze(touchpoints=[early, late], until=D(2025, 3, 25), by=user) == 2

    assert set(Touchpoint.objects.values_list("due_on", "snoozed_from")) == {
        (D(2025, 3, 25), D(2025, 3, 10)),
        (D(2025, 3, 25), D(2025, 3, 20)),
    }


def test_bulk_skip_all_or_nothing(user):
    pending, cancelled = make_touchpoint(), make_touchpoint(status="cancelled", cancel_reason="rule disabled")

    with pytest.raises(TouchpointError, match="already cancelled"):
        touchpoint_bulk_skip(touchpoints=Touchpoint.objects.all(), reason="no budget", by=user)
    assert Touchpoint.objects.get(pk=pending.pk).status == "pending"

    assert touchpoint_bulk_skip(touchpoints=[pending], reason="no budget", by=user) == 1
    assert Touchpoint.objects.get(pk=pending.pk).skip_reason == "no budget"
    assert Touchpoint.objects.get(pk=cancelled.pk).status == "cancelled"
