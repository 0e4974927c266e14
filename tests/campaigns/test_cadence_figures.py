"""The cadence page's journey figures from the nightly job's stored figures: equal to the live
counts of the same day for every role, read without touching the touchpoints, and counted live
when the figures are not stored (selectors/cadence_figures.py)."""

from __future__ import annotations

import datetime as dt
import importlib
from typing import Any

import pytest
import time_machine
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from campaigns.models import Batch, Cadence, DailyFigure, ReportDay, Rule
from campaigns.selectors.cadence_figures import cadence_stage_figures, cadence_step_figures
from campaigns.selectors.journey_map import step_figures, step_figures_by_manager
from campaigns.selectors.reports import journey_steps
from campaigns.selectors.reports import stages as stages_report
from campaigns.selectors.reports.base import day_bounds
from campaigns.selectors.stages import customers_per_stage, recent_stage_moves, stage_moves
from campaigns.services.report_figures import report_figures_record
from nurture.models import StaffProfile
from nurture.querysets import account_managers_seen_by
from tests.campaigns.test_journey_map import cadence_with_stages, card, done
from tests.factories import make_account_manager, make_customer, make_touchpoint, make_user

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)
TODAY = NOW.date()
DAY = dt.timedelta(days=1)


@pytest.fixture(autouse=True)
def _frozen() -> Any:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture(autouse=True)
def _short_backfill(settings: Any) -> None:
    # Enough days for the page's 30 days of moves; the other reports need not go back a year.
    settings.NURTURE_REPORT_BACKFILL_DAYS = 40


@pytest.fixture
def people() -> dict[str, Any]:
    """Who looks at the page: account managers, a lead with a team, administrators."""
    alice = make_account_manager("alice", groups=["Account managers"])
    bob = make_account_manager("bob", groups=["Account managers"])
    lead = make_account_manager("lead", groups=["Account managers"])
    StaffProfile.objects.create(user=bob, lead=lead)
    return {
        "alice": alice,
        "bob": bob,
        "lead": lead,
        "idle": make_account_manager("idle"),  # an account manager without customers
        "root": make_user("root", superuser=True),
        "all-seeing": make_user("all-seeing", perms=["nurture.view_all_customers"]),
    }


@pytest.fixture
def journey(people: dict[str, Any]) -> tuple[Cadence, dict[str, Rule]]:
    """A cadence whose touchpoints cover every figure, for customers of alice, bob, the lead and of nobody."""
    cadence, _, rules = cadence_with_stages()
    rules["loose"] = Rule.objects.create(cadence=cadence, slug="m-loose", name="No stage call", action="call")
    batch = Batch.objects.create(due_by=TODAY, status="mailed", card_count=3)
    sequence = iter(range(1, 100))
    managers = [people["alice"], people["alice"], people["bob"], people["lead"], None]
    for index, manager in enumerate(managers):
        customer = make_customer(account_manager=manager)
        shift = index * DAY
        done(customer, rules["congrats"], at=NOW - 60 * DAY + shift)  # entered long ago
        done(customer, rules["welcome"], at=NOW - 20 * DAY + shift, due_on=TODAY - 25 * DAY)  # late
        if index % 2 == 0:
            # onboarding -> adoption in the last 30 days; the card mailed, one of them returned
            follow = done(customer, rules["follow"], at=NOW - 5 * DAY - shift)
            card(follow, "returned" if index == 0 else "mailed", batch, next(sequence))
        if index == 1:
            done(customer, rules["loose"], at=NOW - 3 * DAY, outcome="no_answer")  # -> No stage
        if index == 2:
            done(customer, rules["anniversary"], at=NOW - 40 * DAY)  # before the period
        make_touchpoint(customer=customer, rule=rules["welcome"], due_on=TODAY - (index + 1) * DAY)  # overdue
        make_touchpoint(customer=customer, rule=rules["anniversary"], kind="card", due_on=TODAY + 30 * DAY)
        make_touchpoint(customer=customer, rule=rules["loose"], due_on=TODAY, status="skipped", skip_reason="away")
        make_touchpoint(
            customer=customer, rule=rules["loose"], due_on=TODAY, status="held", hold_reason="frequency cap"
        )
        make_touchpoint(
            customer=customer, rule=rules["welcome"], due_on=TODAY, status="cancelled", cancel_reason="rule edited"
        )
        # Done today, after the day's start: in the steps' figures, not yet in the stages' of today.
        done(customer, rules["welcome"], at=NOW - dt.timedelta(hours=1), outcome="voicemail")
    return cadence, rules


def start_of(day: dt.date) -> dt.datetime:
    return day_bounds(day)[0]


def moves_of(moves: list[Any]) -> dict[tuple[str, str, bool], int]:
    return {(move.from_stage, move.to_stage, move.entered): move.moves for move in moves}


def live_stage_counts(cadence: Cadence, user: Any, day: dt.date) -> list[tuple[str, int]]:
    """Customers per stage at the start of `day`, counted live (what the stored day describes)."""
    as_of = start_of(day) - dt.timedelta(microseconds=1)
    return [(row.stage, row.customers) for row in customers_per_stage(cadence=cadence, user=user, as_of=as_of)]


def live_moves(cadence: Cadence, user: Any, day: dt.date) -> dict[tuple[str, str, bool], int]:
    """The moves of the 30 days before `day`, counted live."""
    return moves_of(stage_moves(cadence=cadence, user=user, start=start_of(day - 30 * DAY), end=start_of(day)))


# --- Stored equals live ------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["root", "all-seeing", "alice", "bob", "lead", "idle"])
def test_the_stored_figures_equal_the_live_counts_of_the_same_day_for_each_role(journey, people, who):
    cadence, _ = journey
    user = people[who]
    report_figures_record(today=TODAY)

    steps = cadence_step_figures(cadence=cadence, user=user)
    stages = cadence_stage_figures(cadence=cadence, user=user)

    assert steps.day == TODAY and stages.day == TODAY and stages.moves_stored
    assert steps.figures == step_figures(cadence=cadence, user=user, today=TODAY)
    assert [(row.stage, row.customers) for row in stages.counts] == live_stage_counts(cadence, user, TODAY)
    assert moves_of(stages.moves) == live_moves(cadence, user, TODAY)
    assert (stages.moves_from, stages.moves_to) == (TODAY - 30 * DAY, TODAY - DAY)


def test_each_role_sees_what_it_saw_live_an_account_manager_their_own_a_lead_too(journey, people):
    cadence, rules = journey
    report_figures_record(today=TODAY)

    def welcome(who: str) -> tuple[int, int, int]:
        figures = cadence_step_figures(cadence=cadence, user=people[who]).figures[rules["welcome"].pk]
        return figures.planned, figures.late, figures.voicemail

    # Each customer: one overdue welcome call planned, one done late, one done today with voicemail.
    assert welcome("alice") == (2, 2, 2)
    assert welcome("bob") == (1, 1, 1)
    # Exactly as the page counted live (visible_to): a lead sees their own customers, not their team's.
    assert welcome("lead") == (1, 1, 1)
    assert welcome("root") == welcome("all-seeing") == (5, 5, 5)  # with the customer of nobody
    assert cadence_step_figures(cadence=cadence, user=people["idle"]).figures == {}
    assert account_managers_seen_by(people["lead"]) == frozenset({people["lead"].pk})
    assert account_managers_seen_by(people["root"]) is None
    alice_stages = cadence_stage_figures(cadence=cadence, user=people["alice"])
    assert [(row.stage, row.customers) for row in alice_stages.counts] == [
        ("onboarding", 0),
        ("adoption", 1),
        ("renewal", 0),
        ("No stage", 1),
    ]
    root_stages = cadence_stage_figures(cadence=cadence, user=people["root"])
    assert sum(row.customers for row in root_stages.counts) == 5


def test_the_nightly_job_stores_each_rules_figures_per_account_manager(journey, people):
    _, rules = journey
    report_figures_record(today=TODAY)

    stored = DailyFigure.objects.filter(report=journey_steps.NAME, day=TODAY)
    follow = rules["follow"].pk
    assert stored.get(manager_id=people["alice"].pk, key=f"{follow}:mailed").value == 1
    assert stored.get(manager_id=people["alice"].pk, key=f"{follow}:returned").value == 1
    assert stored.get(manager_id=0, key=f"{follow}:mailed").value == 1  # the customer of nobody
    assert not stored.filter(key__endswith=":cancelled").exists()
    by_manager = step_figures_by_manager(today=TODAY)
    assert sum(figures.get("on_time", 0) for (_, rule), figures in by_manager.items() if rule == follow) == 3
    # Written once a night: another run the same day writes nothing.
    assert report_figures_record(today=TODAY)[journey_steps.NAME] == 0


def test_the_job_keeps_a_week_of_the_steps_figures(journey):
    for back in range(10, -1, -1):
        report_figures_record(today=TODAY - back * DAY)

    kept = sorted(ReportDay.objects.of(journey_steps.NAME).values_list("day", flat=True))
    assert kept == [TODAY - n * DAY for n in range(journey_steps.KEEP_DAYS - 1, -1, -1)]
    assert set(DailyFigure.objects.filter(report=journey_steps.NAME).values_list("day", flat=True)) == set(kept)
    # The reports' days are history: none of them is deleted.
    assert ReportDay.objects.of(stages_report.NAME).filter(day__lt=TODAY - 10 * DAY).exists()


# --- Read without the touchpoints ----------------------------------------------------------------


@pytest.mark.parametrize("who", ["root", "alice"])
def test_the_cadence_page_and_its_svg_read_no_touchpoint_when_the_figures_are_stored(client, journey, people, who):
    cadence, rules = journey
    report_figures_record(today=TODAY)
    client.force_login(people[who])

    with CaptureQueriesContext(connection) as queries:
        page = client.get(reverse("admin:campaigns_cadence_change", args=[cadence.pk]))
        svg = client.get(reverse("admin:campaigns_cadence_journey_map", args=[cadence.pk]))

    assert page.status_code == 200 and svg.status_code == 200
    assert not [q["sql"] for q in queries.captured_queries if "campaigns_touchpoint" in q["sql"]]
    html = page.content.decode()
    assert 'id="journey-map-source" data-stored="true"' in html
    assert f"As they stood on {TODAY}" in html
    assert f'data-day="{TODAY}"' in html and f"At the start of {TODAY}" in html
    assert f"Moves between stages, {TODAY - 30 * DAY} to {TODAY - DAY}" in html
    late = step_figures(cadence=cadence, user=people[who], today=TODAY)[rules["welcome"].pk].late
    assert f'data-rule="{rules["welcome"].pk}"' in html and f'<td class="num late">{late}</td>' in html
    assert f"As they stood on {TODAY}" in svg.content.decode()


# --- Counted live when nothing is stored ---------------------------------------------------------


def test_without_stored_figures_the_page_counts_live_and_says_so(client, journey, people):
    cadence, _ = journey
    root = people["root"]
    client.force_login(root)

    steps = cadence_step_figures(cadence=cadence, user=root)
    stages = cadence_stage_figures(cadence=cadence, user=root)
    page = client.get(reverse("admin:campaigns_cadence_change", args=[cadence.pk])).content.decode()

    assert steps.day is None and stages.day is None and not stages.moves_stored
    assert steps.figures == step_figures(cadence=cadence, user=root)
    # Live, now: the touchpoints done today count too.
    assert [(row.stage, row.customers) for row in stages.counts] == [
        (row.stage, row.customers) for row in customers_per_stage(cadence=cadence, user=root)
    ]
    assert moves_of(stages.moves) == moves_of(recent_stage_moves(cadence=cadence, user=root))
    assert 'data-stored="false"' in page and "Counted live" in page
    assert "Moves between stages, last 30 days" in page


def test_figures_older_than_yesterday_are_not_shown_but_yesterdays_are(journey, people):
    cadence, _ = journey
    root = people["root"]
    report_figures_record(today=TODAY - 2 * DAY)

    assert cadence_step_figures(cadence=cadence, user=root).day is None
    assert cadence_stage_figures(cadence=cadence, user=root).day is None

    report_figures_record(today=TODAY - DAY)  # before tonight's run: yesterday's are read
    steps = cadence_step_figures(cadence=cadence, user=root)
    stages = cadence_stage_figures(cadence=cadence, user=root)
    assert steps.day == stages.day == TODAY - DAY
    assert steps.figures == step_figures(cadence=cadence, user=root, today=TODAY - DAY)
    assert [(row.stage, row.customers) for row in stages.counts] == live_stage_counts(cadence, root, TODAY - DAY)
    assert moves_of(stages.moves) == live_moves(cadence, root, TODAY - DAY)


def test_a_cadence_not_counted_on_the_stored_day_is_counted_live(journey, people):
    cadence, _ = journey
    root = people["root"]
    Cadence.objects.filter(pk=cadence.pk).update(active=False)
    report_figures_record(today=TODAY)  # the stages report keeps active cadences only
    Cadence.objects.filter(pk=cadence.pk).update(active=True)

    stages = cadence_stage_figures(cadence=cadence, user=root)

    assert stages.day is None  # not the stored day's empty figures
    assert sum(row.customers for row in stages.counts) == 5
    # The steps' figures are kept for every cadence, active or not.
    assert cadence_step_figures(cadence=cadence, user=root).day == TODAY


def test_moves_are_counted_live_for_the_same_days_when_one_of_them_lacks_the_cadence(journey, people):
    cadence, _ = journey
    alice = people["alice"]
    report_figures_record(today=TODAY)
    DailyFigure.objects.filter(
        report=stages_report.NAME, day=TODAY - 4 * DAY, key=stages_report.key_counted(cadence.pk)
    ).delete()

    stages = cadence_stage_figures(cadence=cadence, user=alice)

    assert stages.day == TODAY and not stages.moves_stored
    assert moves_of(stages.moves) == live_moves(cadence, alice, TODAY)
    assert any(move.customers for move in stages.moves)  # live: with distinct customers


def test_days_before_the_first_completed_touchpoint_hold_no_moves_of_any_cadence(people):
    # A young installation: the job writes the days before the first completion as empty, naming no
    # cadence; they still count as stored (nothing moved then).
    cadence, _, rules = cadence_with_stages()
    customer = make_customer(account_manager=people["alice"])
    done(customer, rules["congrats"], at=NOW - 6 * DAY)
    done(customer, rules["follow"], at=NOW - 2 * DAY)
    report_figures_record(today=TODAY)
    assert not DailyFigure.objects.filter(report=stages_report.NAME, day=TODAY - 20 * DAY).exists()

    stages = cadence_stage_figures(cadence=cadence, user=people["alice"])

    assert stages.moves_stored
    assert moves_of(stages.moves) == {
        ("(entered the journey)", "onboarding", True): 1,
        ("onboarding", "adoption", False): 1,
    }
    assert moves_of(stages.moves) == live_moves(cadence, people["alice"], TODAY)


def test_each_stored_stages_day_names_the_active_cadences_it_counted(journey):
    cadence, _ = journey
    dormant = Cadence.objects.create(name="Dormant", active=False, anchor_kind=cadence.anchor_kind)

    report_figures_record(today=TODAY)

    counted = DailyFigure.objects.filter(report=stages_report.NAME, day=TODAY, manager_id=0)
    assert counted.get(key=stages_report.key_counted(cadence.pk)).value == 1
    assert not counted.filter(key=stages_report.key_counted(dormant.pk)).exists()


# --- The upgrade ---------------------------------------------------------------------------------


def test_the_migration_names_the_active_cadences_on_the_days_stored_before_it(journey, people):
    cadence, _ = journey
    inactive = Cadence.objects.create(name="Dormant", active=False, anchor_kind=cadence.anchor_kind)
    report_figures_record(today=TODAY)
    DailyFigure.objects.filter(report=stages_report.NAME, key__endswith=":counted").delete()  # as before it
    assert not cadence_stage_figures(cadence=cadence, user=people["root"]).moves_stored

    migration = importlib.import_module("campaigns.migrations.0028_stages_days_name_their_cadences")
    migration.name_the_cadences(apps, None)
    migration.name_the_cadences(apps, None)  # twice: nothing written twice

    stages = cadence_stage_figures(cadence=cadence, user=people["root"])
    assert stages.day == TODAY and stages.moves_stored
    counted = DailyFigure.objects.filter(report=stages_report.NAME, key=stages_report.key_counted(cadence.pk))
    assert counted.count() == ReportDay.objects.of(stages_report.NAME).count()
    assert not DailyFigure.objects.filter(key=stages_report.key_counted(inactive.pk)).exists()
