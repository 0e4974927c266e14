"""A change stamped before the last sweep began, but committed after it read, is still planned."""

import datetime as dt

import pytest

from campaigns.models import PlannerRun, Touchpoint
from campaigns.services import planning
from nurture.models import Customer, Milestone, MilestoneKind

UTC = dt.UTC
D = dt.date(2026, 11, 23)  # a Monday

pytestmark = pytest.mark.django_db


def at(day: dt.date, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=UTC)


def test_a_late_committed_customer_from_before_the_last_sweep_is_planned_by_the_next():
    planning.plan(now=at(D, 12))
    last = PlannerRun.objects.completed_sweeps().get()
    # A customer written by SQL that does not announce itself, stamped a few minutes before that
    # sweep began (its transaction started then) but visible only now: the sweep never saw it.
    stamp = last.started_at - dt.timedelta(minutes=3)
    ada = Customer.objects.create(first_name="Ada", last_name="Lovelace", country="US", time_zone="UTC")
    Milestone.objects.create(customer=ada, kind=MilestoneKind.objects.get(slug="became_customer"), date=D)
    Customer.objects.filter(pk=ada.pk).update(updated_at=stamp)
    Milestone.objects.filter(customer=ada).update(updated_at=stamp)
    assert not Touchpoint.objects.filter(customer=ada).exists()

    planning.plan(now=last.started_at + dt.timedelta(hours=1))

    assert Touchpoint.objects.filter(customer=ada, rule__slug="welcome-call").exists()


def test_changes_long_before_the_last_sweep_are_not_replanned_over_the_whole_window():
    planning.plan(now=at(D, 12))
    last = PlannerRun.objects.completed_sweeps().get()
    window = planning.sweep_window(now=last.started_at + dt.timedelta(hours=1), horizon_days=30)
    assert window.changed_since is not None
    assert last.started_at - window.changed_since == planning.CHANGE_MARGIN
