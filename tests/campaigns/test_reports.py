"""The stock reports: their figures, who sees which, and how past figures stay put."""

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from campaigns.models import Batch, Card, CardDesign, DailyFigure, ReportDay, Touchpoint
from campaigns.selectors.reports import REPORTS
from campaigns.selectors.reports.base import ReportError, resolve_filters
from campaigns.services.report_figures import report_day_record, report_figures_record
from nurture.models import Customer, Milestone, MilestoneKind, StaffProfile
from tests.factories import make_account_manager, make_customer, make_touchpoint, make_user

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 3, 16)  # a Monday
NOW = dt.datetime(2026, 3, 16, 12, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture(autouse=True)
def short_backfill(settings):
    # The tests' data starts in January 2026: the job's first run need not look further back.
    settings.NURTURE_REPORT_BACKFILL_DAYS = 100


def at(day: dt.date, hour: int = 12) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)


def done(manager: Any, *, due_on: dt.date, on: dt.date, outcome: str = "reached", **fields: Any) -> Touchpoint:
    customer = fields.pop("customer", None) or make_customer(account_manager=manager, country="US")
    return make_touchpoint(
        customer=customer,
        due_on=due_on,
        assignee=manager,
        status="done",
        outcome=outcome,
        completed_at=at(on),
        **fields,
    )


def build(name: str, viewer: Any = None, *, record: bool = True, **filters: Any):
    """The report as a viewer sees it, after the nightly job wrote the figures (unless record=False)."""
    if record:
        report_figures_record(today=TODAY)
    return REPORTS[name].build(resolve_filters(viewer=viewer, today=TODAY, **filters))


def table(report, index: int = 0) -> dict[str, dict[str, Any]]:
    """A report's table as {first cell: {column key: value}}."""
    rows = report.tables[index].records()
    first = report.tables[index].columns[0][0]
    return {str(row[first]): row for row in rows}


# --- On time ----------------------------------------------------------------------------------------


def test_on_time_counts_business_days_after_the_due_date(alice):
    friday = dt.date(2026, 3, 6)
    done(alice, due_on=friday, on=dt.date(2026, 3, 11))  # Wednesday: the third business day after
    done(alice, due_on=friday, on=dt.date(2026, 3, 12))  # Thursday: the fourth, late
    done(alice, due_on=dt.date(2026, 3, 2), on=dt.date(2026, 3, 2))  # the day itself
    done(alice, due_on=dt.date(2026, 2, 2), on=dt.date(2026, 2, 20))  # February, late

    report = build("on-time", start=dt.date(2026, 2, 1), end=TODAY)

    months = table(report)
    assert (months["Mar 2026"]["done"], months["Mar 2026"]["on_time"]) == (3, 2)
    assert months["Mar 2026"]["share_on_time"] == pytest.approx(2 / 3, abs=1e-4)
    assert (months["Feb 2026"]["done"], months["Feb 2026"]["on_time"]) == (1, 0)
    assert report.chart is not None
    assert report.chart.series[0].values == [row["share_on_time"] for row in report.tables[0].records()]


def test_on_time_uses_the_setting(alice, settings):
    settings.NURTURE_REPORT_ON_TIME_BUSINESS_DAYS = 0
    done(alice, due_on=dt.date(2026, 3, 6), on=dt.date(2026, 3, 9))

    months = table(build("on-time", start=dt.date(2026, 3, 1), end=TODAY))

    assert (months["Mar 2026"]["done"], months["Mar 2026"]["on_time"]) == (1, 0)


# --- Outcomes ------------------------------------------------------------------------------------------


def test_outcomes_are_counted_by_type_and_month(alice):
    for outcome in ("reached", "reached", "voicemail", "at_risk"):
        done(alice, due_on=dt.date(2026, 3, 2), on=dt.date(2026, 3, 3), outcome=outcome)
    done(alice, due_on=dt.date(2026, 1, 5), on=dt.date(2026, 1, 6), outcome="no_answer")

    months = table(build("outcomes", start=dt.date(2026, 1, 1), end=TODAY))

    assert {k: months["Mar 2026"][k] for k in ("reached", "voicemail", "no_answer", "at_risk", "total")} == {
        "reached": 2,
        "voicemail": 1,
        "no_answer": 0,
        "at_risk": 1,
        "total": 4,
    }
    assert months["Jan 2026"]["no_answer"] == 1
    assert months["Feb 2026"]["total"] == 0


# --- Cards -------------------------------------------------------------------------------------------


def card(manager: Any, *, approved_on: dt.date | None, status: str = "approved", **fields: Any) -> Card:
    touchpoint = make_touchpoint(customer=make_customer(account_manager=manager), kind="card", assignee=manager)
    return Card.objects.create(
        touchpoint=touchpoint,
        design=CardDesign.objects.order_by("pk")[0],
        message="Dear Ada",
        status=status,
        fits=True,
        recipient_name="Ada",
        approved_at=at(approved_on) if approved_on else None,
        **fields,
    )


def test_cards_are_counted_when_approved_and_returned(alice):
    card(alice, approved_on=dt.date(2026, 2, 10))
    card(alice, approved_on=dt.date(2026, 3, 2))
    card(alice, approved_on=None, status="draft")

    months = table(build("cards", start=dt.date(2026, 2, 1), end=TODAY))

    assert (months["Feb 2026"]["approved"], months["Mar 2026"]["approved"]) == (1, 1)
    assert months["Mar 2026"]["returned"] == 0


# --- Coverage ----------------------------------------------------------------------------------------


def test_coverage_counts_customers_untouched_for_30_60_and_90_days_with_the_list(alice):
    recent = make_customer(account_manager=alice, last_name="Recent")
    done(alice, customer=recent, due_on=dt.date(2026, 3, 1), on=dt.date(2026, 3, 2))
    stale = make_customer(account_manager=alice, last_name="Stale")
    done(alice, customer=stale, due_on=dt.date(2026, 1, 20), on=dt.date(2026, 1, 20))  # 55 days ago
    never = make_customer(account_manager=alice, last_name="Never")
    make_customer(account_manager=alice, last_name="Held", holdout=True)  # the holdout is left out
    make_customer(account_manager=alice, last_name="Gone", status=Customer.Status.CHURNED)

    report = build("coverage", viewer=alice)

    row = table(report)["All"]
    assert (row["customers"], row["untouched_30"], row["untouched_60"], row["untouched_90"]) == (3, 2, 1, 1)
    listed = [r["name"] for r in report.tables[1].records()]
    assert listed == [never.full_name, stale.full_name]
    assert report.chart is not None and report.chart.series[0].values == [2, 1, 1]


# --- Workload ----------------------------------------------------------------------------------------


def test_workload_counts_open_and_recent_work_per_manager(alice, bob):
    for due_on in (dt.date(2026, 3, 13), dt.date(2026, 3, 16), dt.date(2026, 3, 22), dt.date(2026, 3, 23)):
        make_touchpoint(customer=make_customer(account_manager=alice), due_on=due_on, assignee=alice)
    done(alice, due_on=dt.date(2026, 3, 10), on=dt.date(2026, 3, 12))  # 4 days ago
    done(alice, due_on=dt.date(2026, 2, 20), on=dt.date(2026, 2, 25))  # 19 days ago
    make_touchpoint(customer=make_customer(account_manager=bob), due_on=dt.date(2026, 3, 1), assignee=bob)

    rows = table(build("workload"))

    alice_row = rows["alice"]
    assert [alice_row[k] for k in ("overdue", "due_this_week", "later", "done_7", "done_30")] == [1, 2, 1, 1, 2]
    assert rows["bob"]["overdue"] == 1


# --- Retention ---------------------------------------------------------------------------------------


def renewals(manager: Any, *, on: dt.date, nurtured: tuple[int, int], holdout: tuple[int, int]) -> None:
    kind = MilestoneKind.objects.get(slug="renewal")
    for is_holdout, (total, kept) in ((False, nurtured), (True, holdout)):
        for n in range(total):
            status = Customer.Status.ACTIVE if n < kept else Customer.Status.CHURNED
            customer = make_customer(account_manager=manager, holdout=is_holdout, status=status)
            Milestone.objects.create(customer=customer, kind=kind, date=on)


def test_retention_compares_the_nurtured_with_the_holdout(alice):
    renewals(alice, on=dt.date(2026, 1, 15), nurtured=(40, 36), holdout=(35, 21))

    report = build("retention", start=dt.date(2026, 1, 1), end=TODAY)

    rows = table(report)
    assert (rows["Nurtured"]["customers"], rows["Nurtured"]["retained"]) == (40, 36)
    assert rows["Nurtured"]["rate"] == pytest.approx(0.9)
    assert (rows["Holdout"]["customers"], rows["Holdout"]["retained"]) == (35, 21)
    difference = rows["Difference (nurtured - holdout)"]
    assert difference["rate"] == pytest.approx(0.3)
    assert 0 < difference["ci_low"] < 0.3 < difference["ci_high"]
    assert not any("too few" in note for note in report.notes)
    assert any("not counted yet" in note for note in report.notes)  # the last 30 days


def test_retention_says_when_a_group_is_too_small(alice):
    renewals(alice, on=dt.date(2026, 1, 15), nurtured=(40, 30), holdout=(5, 2))

    report = build("retention", start=dt.date(2026, 1, 1), end=dt.date(2026, 1, 31))

    assert any("holdout group has 5" in note and "too few to conclude" in note for note in report.notes)


def test_a_renewal_counts_as_it_was_n_days_after_it(alice):
    renewals(alice, on=dt.date(2026, 1, 15), nurtured=(2, 2), holdout=(0, 0))
    report_figures_record(today=TODAY)
    Customer.objects.update(status=Customer.Status.CHURNED)  # churned long after

    rows = table(build("retention", start=dt.date(2026, 1, 1), end=dt.date(2026, 1, 31)))

    assert (rows["Nurtured"]["customers"], rows["Nurtured"]["retained"]) == (2, 2)


# --- Who sees what -----------------------------------------------------------------------------------


@pytest.fixture
def lead(alice: Any, bob: Any) -> Any:
    """Alice's lead; Bob is not in the team."""
    lead = make_account_manager("lena")
    StaffProfile.objects.create(user=alice, lead=lead)
    return lead


def test_each_viewer_sees_their_own_their_team_or_everyone(alice, bob, lead, superuser):
    done(alice, due_on=dt.date(2026, 3, 2), on=dt.date(2026, 3, 2))
    done(bob, due_on=dt.date(2026, 3, 2), on=dt.date(2026, 3, 2))
    done(bob, due_on=dt.date(2026, 3, 2), on=dt.date(2026, 3, 2))
    done(lead, due_on=dt.date(2026, 3, 2), on=dt.date(2026, 3, 2))

    def total(viewer: Any, **filters: Any) -> int:
        return sum(row["done"] for row in build("on-time", viewer=viewer, **filters).tables[0].records())

    assert total(alice) == 1
    assert total(bob) == 2
    assert total(lead) == 2  # the lead and Alice
    assert total(superuser) == 4
    assert total(superuser, manager="bob") == 2
    assert total(lead, manager="alice") == 1


def test_a_viewer_cannot_filter_by_a_manager_they_may_not_see(alice, bob, lead):
    with pytest.raises(ReportError, match="no account manager 'bob'"):
        resolve_filters(viewer=lead, manager="bob", today=TODAY)
    with pytest.raises(ReportError, match="no account manager 'lena'"):
        resolve_filters(viewer=alice, manager="lena", today=TODAY)


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"start": dt.date(2026, 3, 10), "end": dt.date(2026, 3, 1)}, "starts"),
        ({"start": dt.date(2020, 1, 1), "end": TODAY}, "at most 731"),
        ({"kind": "no-such-kind"}, "no milestone kind 'no-such-kind'"),
    ],
)
def test_bad_filters_are_named(filters, message):
    with pytest.raises(ReportError, match=message):
        resolve_filters(viewer=None, today=TODAY, **filters)


def test_the_kind_filter_keeps_one_milestone_kind(alice):
    done(alice, due_on=dt.date(2026, 3, 2), on=dt.date(2026, 3, 2))  # became_customer (the factory's rule)

    assert table(build("on-time", kind="became_customer", start=dt.date(2026, 3, 1)))["Mar 2026"]["done"] == 1
    assert table(build("on-time", kind="birthday", start=dt.date(2026, 3, 1)))["Mar 2026"]["done"] == 0


# --- The daily figures -------------------------------------------------------------------------------


def test_past_figures_never_move_when_todays_data_changes(alice):
    late = done(alice, due_on=dt.date(2026, 3, 2), on=dt.date(2026, 3, 10))
    report_figures_record(today=TODAY)
    before = table(build("on-time", start=dt.date(2026, 3, 1)))["Mar 2026"]

    # A customer deleted, a touchpoint rewritten in the past, another one backdated: history stays.
    Touchpoint.objects.filter(pk=late.pk).update(completed_at=at(dt.date(2026, 3, 3)))
    done(alice, due_on=dt.date(2026, 3, 2), on=dt.date(2026, 3, 4))

    after = table(build("on-time", start=dt.date(2026, 3, 1)))["Mar 2026"]
    assert after == before


def test_today_is_counted_live(alice):
    report_figures_record(today=TODAY)
    done(alice, due_on=TODAY, on=TODAY)

    assert table(build("on-time", start=dt.date(2026, 3, 1)))["Mar 2026"]["done"] == 1


def test_the_job_writes_each_day_once(alice):
    done(alice, due_on=dt.date(2026, 3, 2), on=dt.date(2026, 3, 2))

    first = report_figures_record(today=TODAY)
    second = report_figures_record(today=TODAY)

    assert first["on-time"] > 0 and first["workload"] == 1
    assert all(days == 0 for days in second.values())
    assert DailyFigure.objects.filter(report="on-time", day=dt.date(2026, 3, 2), key="done").get().value == 1
    # A claim already taken writes nothing (another run got there first).
    assert not report_day_record(definition=REPORTS["on-time"], day=dt.date(2026, 3, 2))
    assert ReportDay.objects.filter(report="on-time", day=dt.date(2026, 3, 2)).count() == 1


def test_old_days_without_figures_are_reported_missing_not_scanned(alice):
    done(alice, due_on=dt.date(2026, 3, 2), on=dt.date(2026, 3, 2))

    report = build("on-time", start=dt.date(2026, 3, 1), record=False)

    assert table(report)["Mar 2026"]["done"] == 0
    assert any("have no figures yet" in note for note in report.notes)


def test_the_nightly_job_is_in_the_beat_schedule():
    task = PeriodicTask.objects.get(task="campaigns.tasks.record_report_figures")
    assert task.enabled and task.crontab is not None


def test_a_user_without_a_role_sees_nothing(db):
    nobody = make_user("nobody")
    report = build("on-time", viewer=nobody)
    assert all(row["done"] == 0 for row in report.tables[0].records())
    assert timezone.now() == NOW


def test_cards_per_batch_mailed_for_everyone_and_for_an_account_manager(alice, bob, superuser):
    batch = Batch.objects.create(
        due_by=dt.date(2026, 3, 5), status="mailed", card_count=3, printed_at=at(dt.date(2026, 3, 4))
    )
    Batch.objects.filter(pk=batch.pk).update(created_at=at(dt.date(2026, 3, 3)), mailed_at=at(dt.date(2026, 3, 5)))
    for sequence, (manager, status) in enumerate([(alice, "mailed"), (alice, "returned"), (bob, "mailed")], start=1):
        card(
            manager,
            approved_on=dt.date(2026, 3, 2),
            status=status,
            batch=batch,
            sequence=sequence,
            returned_at=at(dt.date(2026, 3, 12)) if status == "returned" else None,
        )

    everyone = build("cards", viewer=superuser, start=dt.date(2026, 3, 1))
    mine = build("cards", viewer=alice, start=dt.date(2026, 3, 1))

    def batch_row(report):
        (row,) = report.tables[1].records()
        return [row[k] for k in ("batch", "mailed_on", "mailed", "returned")]

    assert batch_row(everyone) == [f"B{batch.pk}", "2026-03-05", 3, 1]
    assert batch_row(mine) == [f"B{batch.pk}", "2026-03-05", 2, 1]
    months = table(everyone)["Mar 2026"]
    assert [months[k] for k in ("approved", "printed", "mailed", "returned")] == [3, 3, 3, 1]
