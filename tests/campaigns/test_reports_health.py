"""The health and stages reports: their figures, who sees which, the exports, and the demo's scores."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import importlib
import io
import json
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.models import (
    Cadence,
    DailyFigure,
    HealthBandChange,
    HealthMeasure,
    HealthSnapshot,
    ReportDay,
    Rule,
    Stage,
)
from campaigns.selectors.reports import REPORTS
from campaigns.selectors.reports import health as health_report
from campaigns.selectors.reports.base import ReportError, resolve_filters
from campaigns.services.health import _store_band_totals, health_override_create, health_score_day
from campaigns.services.report_figures import report_figures_record
from nurture.lib.csvsafe import restore
from nurture.models import Customer, MilestoneKind, StaffProfile
from tests.factories import current_score, make_account_manager, make_customer, make_touchpoint

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 3, 16)
NOW = dt.datetime(2026, 3, 16, 12, tzinfo=dt.UTC)
START = dt.date(2026, 3, 1)


@pytest.fixture(autouse=True)
def frozen_clock() -> Any:
    with time_machine.travel(NOW, tick=False):
        yield


def build(name: str, viewer: Any = None, **filters: Any) -> Any:
    filters.setdefault("start", START)
    return REPORTS[name].build(resolve_filters(viewer=viewer, today=TODAY, **filters))


def table(report: Any, index: int = 0) -> dict[str, dict[str, Any]]:
    rows = report.tables[index].records()
    first = report.tables[index].columns[0][0]
    return {str(row[first]): row for row in rows}


def scored(customer: Customer, day: dt.date, score: int | None, band: str) -> HealthSnapshot:
    measure = HealthMeasure.objects.order_by("position", "id").first()
    assert measure is not None
    points = [] if score is None else [{"measure": measure.pk, "points": score}]
    return HealthSnapshot.objects.create(
        customer=customer, date=day, score=score, computed=score, band=band, details=points
    )


def moved(customer: Customer, day: dt.date, from_band: str, to_band: str) -> HealthBandChange:
    return HealthBandChange.objects.create(customer=customer, date=day, from_band=from_band, to_band=to_band)


@pytest.fixture
def bands(alice: Any, bob: Any) -> dict[str, Customer]:
    """alice: two red, one green, one scored without data; bob: one yellow; nobody's: one green.
    Snapshots on the 10th (the period's last scored day) and older ones on the 2nd."""
    people = {
        "a-red-1": (alice, 30, "red"),
        "a-red-2": (alice, 45, "red"),
        "a-green": (alice, 90, "green"),
        "a-none": (alice, None, ""),
        "b-yellow": (bob, 60, "yellow"),
        "nobody-green": (None, 80, "green"),
    }
    customers = {}
    for external_id, (manager, score, band) in people.items():
        customer = make_customer(external_id=external_id, account_manager=manager)
        scored(customer, dt.date(2026, 3, 2), 80, "green")
        scored(customer, dt.date(2026, 3, 10), score, band)
        customers[external_id] = customer
    moved(customers["a-red-1"], dt.date(2026, 3, 10), "green", "red")
    moved(customers["a-red-2"], dt.date(2026, 3, 10), "green", "red")
    moved(customers["b-yellow"], dt.date(2026, 3, 10), "green", "yellow")
    moved(customers["b-yellow"], dt.date(2026, 2, 10), "yellow", "green")  # before the period
    return customers


# --- Health: figures ---------------------------------------------------------------------------------


def test_health_counts_customers_per_band_per_manager_on_the_last_scored_day(bands):
    report = build("health")

    rows = table(report)
    assert {k: rows["alice"][k] for k in ("red", "yellow", "green", "not_scored")} == {
        "red": 2,
        "yellow": 0,
        "green": 1,
        "not_scored": 1,
    }
    assert (rows["bob"]["yellow"], rows["bob"]["green"]) == (1, 0)
    assert rows["(no account manager)"]["green"] == 1
    assert "2026-03-10" in report.notes[0]
    # The chart has the numbers of the first table, one series per band.
    assert report.chart is not None
    assert [series.name for series in report.chart.series] == ["Red", "Yellow", "Green", "Not scored"]
    assert report.chart.series[0].values == [float(row["red"]) for row in report.tables[0].records()]


def test_health_counts_movement_between_bands_in_the_period(bands):
    moves = {(row["from_band"], row["to_band"]): row["changes"] for row in build("health").tables[1].records()}

    assert moves[("green", "red")] == 2
    assert moves[("green", "yellow")] == 1
    assert moves[("yellow", "green")] == 0  # February: outside the period
    assert ("red", "red") not in moves


def test_health_reads_the_stored_snapshots_so_a_past_period_never_moves(bands):
    before = build("health", end=dt.date(2026, 3, 5))
    # Later scoring (a new day, changed scores) does not touch the period that ended on the 5th.
    scored(bands["a-green"], dt.date(2026, 3, 12), 10, "red")
    HealthSnapshot.objects.filter(date=dt.date(2026, 3, 10)).update(band="red")
    after = build("health", end=dt.date(2026, 3, 5))

    assert after.tables == before.tables
    assert table(after)["alice"]["green"] == 4  # everyone was green on the 2nd


def test_health_with_no_scores_says_so(alice):
    report = build("health", viewer=alice)

    assert table(report)["alice"]["red"] == 0
    assert "No customer was scored" in report.notes[0]
    assert report.records == []


# --- Health: who sees what --------------------------------------------------------------------------


def test_an_account_manager_sees_only_their_own_customers(alice, bands):
    report = build("health", viewer=alice)

    assert set(table(report)) == {"alice"}
    moves = {(row["from_band"], row["to_band"]): row["changes"] for row in report.tables[1].records()}
    assert moves[("green", "yellow")] == 0  # bob's customer
    assert {record["customer"] for record in report.records} == {"a-red-1", "a-red-2", "a-green", "a-none"}


def test_a_lead_sees_the_team_and_may_not_ask_for_others(alice, bob, bands):
    lead = make_account_manager("lena")
    StaffProfile.objects.create(user=alice, lead=lead)

    assert set(table(build("health", viewer=lead))) == {"alice", "lena"}
    with pytest.raises(ReportError, match="bob"):
        build("health", viewer=lead, manager="bob")


# --- Health: exports --------------------------------------------------------------------------------


def test_a_scored_day_stores_its_band_totals_and_the_report_reads_them(alice, bob):
    for manager in (alice, alice, bob, None):
        make_customer(account_manager=manager, created_at=NOW - dt.timedelta(days=400))
    health_score_day(as_of=TODAY)
    # What counting the day's snapshots gives, per (manager, band).
    counted = {(f.manager_id, f.key): f.value for f in health_report.band_figures(TODAY)}
    assert sum(counted.values()) == HealthSnapshot.objects.filter(date=TODAY).count() == 4

    with CaptureQueriesContext(connection) as queries:
        rows = table(build("health"))

    # The snapshots are only probed for the period's last scored day (LIMIT 1), never counted.
    snapshot_sql = [q["sql"] for q in queries.captured_queries if "campaigns_healthsnapshot" in q["sql"]]
    assert snapshot_sql and all("COUNT(" not in sql.upper() and "LIMIT 1" in sql for sql in snapshot_sql)
    label = {alice.pk: "alice", bob.pk: "bob", 0: "(no account manager)"}
    assert {
        (who, key): rows[who][key] for who in label.values() for key in ("red", "yellow", "green", "not_scored")
    } == {
        (who, key): counted.get((m, key), 0)
        for m, who in label.items()
        for key in ("red", "yellow", "green", "not_scored")
    }

    # Scored again the same day: the totals are replaced, not added to.
    health_score_day(as_of=TODAY)
    assert table(build("health")) == rows

    # An override made after the run: the stored totals follow the customer's new band.
    first = Customer.objects.filter(account_manager=alice).order_by("pk").first()
    assert first is not None
    was_red = HealthSnapshot.objects.get(customer=first, date=TODAY).band == "red"
    health_override_create(customer=first, score=10, reason="Leaving at the end of the month", by=alice)
    assert HealthSnapshot.objects.get(customer=first, date=TODAY).band == "red"
    recounted = {(f.manager_id, f.key): f.value for f in health_report.band_figures(TODAY)}
    red = table(build("health"))["alice"]["red"]
    assert red == recounted.get((alice.pk, "red"), 0) == rows["alice"]["red"] + (0 if was_red else 1)


def test_movement_reads_the_stored_totals_of_a_scored_day_and_counts_the_others(alice, bands):
    live = build("health").tables[1].records()
    live_alice = build("health", viewer=alice).tables[1].records()
    _store_band_totals(dt.date(2026, 3, 10))  # what the run does when the day is over
    moved(bands["a-green"], dt.date(2026, 3, 12), "yellow", "green")  # a day still being scored

    with CaptureQueriesContext(connection) as queries:
        stored = {(r["from_band"], r["to_band"]): r["changes"] for r in build("health").tables[1].records()}
    expected = {(r["from_band"], r["to_band"]): r["changes"] for r in live}
    expected[("yellow", "green")] += 1
    assert stored == expected
    # The band changes are counted for the unstored day only.
    counts = [q["sql"] for q in queries.captured_queries if "campaigns_healthbandchange" in q["sql"]]
    assert counts and all("2026-03-12" in sql and "2026-03-10" not in sql for sql in counts)
    mine = {(r["from_band"], r["to_band"]): r["changes"] for r in build("health", viewer=alice).tables[1].records()}
    expected_alice = {(r["from_band"], r["to_band"]): r["changes"] for r in live_alice}
    expected_alice[("yellow", "green")] += 1
    assert mine == expected_alice and mine[("green", "yellow")] == 0  # bob's customer's move is not alice's

    # Stored again (an override after the run): replaced, not added to.
    _store_band_totals(dt.date(2026, 3, 10))
    assert {(r["from_band"], r["to_band"]): r["changes"] for r in build("health").tables[1].records()} == stored


def export(*args: str) -> str:
    out = io.StringIO()
    call_command("export_report", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_export_report_health_gives_one_record_per_customer_with_the_measures(alice):
    customer = make_customer(external_id="H-1", account_manager=alice, created_at=NOW - dt.timedelta(days=400))
    health_score_day(as_of=TODAY)
    current = current_score(customer)

    records = json.loads(export("health", "--format", "json"))

    assert len(records) == Customer.objects.count()
    record = next(r for r in records if r["customer"] == "H-1")
    assert set(record) == {"customer", "score", "band", "measures"}
    assert (record["score"], record["band"]) == (current.score, current.band)
    assert record["measures"] == [
        {"name": line["name"], "points": line["points"], "reason": line["reason"]} for line in current.lines()
    ]
    assert record["measures"] and all(m["reason"] for m in record["measures"])


def test_export_report_health_as_csv_holds_the_measures_as_json(alice, bands):
    rows = list(csv.DictReader(io.StringIO(export("health", "--format", "csv", "--manager", "alice"))))

    assert [row["customer"] for row in rows] == ["a-green", "a-none", "a-red-1", "a-red-2"]
    red = next(row for row in rows if row["customer"] == "a-red-1")
    assert (red["score"], red["band"]) == ("30", "red")
    measure = HealthMeasure.objects.order_by("position", "id").first()
    assert measure is not None
    assert json.loads(restore(red["measures"])) == [{"name": measure.name, "points": 30, "reason": ""}]


def test_the_health_page_csv_is_scoped_to_the_viewer(alice_client, bands):
    response = alice_client.get("/admin/reports/health.csv?from=2026-03-01")

    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert {row["customer"] for row in rows} == {"a-red-1", "a-red-2", "a-green", "a-none"}


# --- Stages -----------------------------------------------------------------------------------------


@pytest.fixture
def journey(alice: Any, bob: Any) -> Cadence:
    kind = MilestoneKind.objects.get(slug="became_customer")
    cadence = Cadence.objects.create(name="Stage report", anchor_kind=kind)
    onboarding = Stage.objects.create(cadence=cadence, name="onboarding", position=0)
    adoption = Stage.objects.create(cadence=cadence, name="adoption", position=1)
    welcome = Rule.objects.create(cadence=cadence, slug="s-welcome", name="Welcome", action="call", stage=onboarding)
    follow = Rule.objects.create(
        cadence=cadence, slug="s-follow", name="Follow", action="call", offset_amount=30, stage=adoption
    )

    def done(customer: Customer, rule: Rule, day: dt.date) -> None:
        make_touchpoint(
            customer=customer,
            rule=rule,
            due_on=day,
            assignee=customer.account_manager,
            status="done",
            outcome="reached",
            completed_at=dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC),
        )

    a1 = make_customer(account_manager=alice)
    a2 = make_customer(account_manager=alice)
    b1 = make_customer(account_manager=bob)
    done(a1, welcome, dt.date(2026, 2, 1))
    done(a1, follow, dt.date(2026, 3, 5))  # moves onboarding -> adoption in the period
    done(a2, welcome, dt.date(2026, 3, 6))  # enters in the period
    done(b1, welcome, dt.date(2026, 2, 2))
    return cadence


@pytest.fixture
def recorded(journey: Cadence) -> Cadence:
    """The journey with the nightly job run today: every day up to today's start is stored."""
    report_figures_record(today=TODAY)
    return journey


def test_the_stages_report_counts_customers_per_stage_and_moves(recorded):
    journey = recorded
    report = build("stages", cadence=str(journey.pk))

    stages = {row["stage"]: row["customers"] for row in report.tables[0].records()}
    assert stages == {"onboarding": 2, "adoption": 1}
    moves = {(row["from_stage"], row["to_stage"]): row["moves"] for row in report.tables[1].records()}
    assert moves[("onboarding", "adoption")] == 1
    assert sum(moves.values()) == 2  # the move and the entry; bob's touch was in February
    assert report.chart is not None
    assert report.chart.x_labels == ["onboarding", "adoption"]
    assert report.chart.series[0].values == [2.0, 1.0]


def test_the_stages_report_reads_no_touchpoint_when_the_days_are_stored(recorded):
    with CaptureQueriesContext(connection) as queries:
        report = build("stages", cadence=str(recorded.pk), end=TODAY - dt.timedelta(days=1))

    assert not [q["sql"] for q in queries.captured_queries if "campaigns_touchpoint" in q["sql"]]
    # At the start of the period's last day, and the move and the entry of March 5 and 6.
    assert {row["stage"]: row["customers"] for row in report.tables[0].records()} == {"onboarding": 2, "adoption": 1}
    moves = {(row["from_stage"], row["to_stage"]): row["moves"] for row in report.tables[1].records()}
    assert moves == {("onboarding", "adoption"): 1, ("(entered the journey)", "onboarding"): 1}


def test_the_stages_report_counts_today_live_and_says_which_days_are_missing(journey, alice):
    welcome = Rule.objects.get(slug="s-welcome")
    make_touchpoint(
        customer=make_customer(account_manager=alice),
        rule=welcome,
        due_on=TODAY,
        assignee=alice,
        status="done",
        outcome="reached",
        completed_at=NOW - dt.timedelta(hours=1),
    )

    # Without the nightly job: today live (the new customer's entry), the older days missing.
    report = build("stages", cadence=str(journey.pk))

    assert {row["stage"]: row["customers"] for row in report.tables[0].records()} == {"onboarding": 2, "adoption": 1}
    moves = {(row["from_stage"], row["to_stage"]): row["moves"] for row in report.tables[1].records()}
    assert moves == {("(entered the journey)", "onboarding"): 1}
    assert any("2026-03-01 to 2026-03-14" in note for note in report.notes)

    report_figures_record(today=TODAY)
    report = build("stages", cadence=str(journey.pk))
    moves = {(row["from_stage"], row["to_stage"]): row["moves"] for row in report.tables[1].records()}
    assert moves == {("(entered the journey)", "onboarding"): 2, ("onboarding", "adoption"): 1}


def test_the_first_run_writes_at_most_the_stages_reports_own_backfill(journey, settings, monkeypatch):
    # A stages day is a pass over every customer: its first run stops at its own cap, not at the
    # setting's 400 days, while the other reports go as far back as the setting says.
    monkeypatch.setitem(REPORTS, "stages", dataclasses.replace(REPORTS["stages"], backfill_days=5))
    settings.NURTURE_REPORT_BACKFILL_DAYS = 400

    written = report_figures_record(today=TODAY)

    assert written["stages"] == 5
    assert sorted(ReportDay.objects.of("stages").values_list("day", flat=True)) == [
        TODAY - dt.timedelta(days=n) for n in range(4, -1, -1)
    ]


def test_the_stages_report_is_scoped_and_filtered_by_cadence(alice, recorded):
    journey = recorded
    mine = build("stages", viewer=alice, cadence=journey.name)
    assert {row["stage"]: row["customers"] for row in mine.tables[0].records()} == {"onboarding": 1, "adoption": 1}

    everything = build("stages")
    assert {row["cadence"] for row in everything.records} >= {"Stage report"}
    with pytest.raises(ReportError, match="no cadence"):
        build("stages", cadence="nonesuch")


def test_the_stages_page_offers_the_cadences_and_downloads_csv(alice_client, recorded):
    journey = recorded
    page = alice_client.get(f"/admin/reports/stages/?cadence={journey.pk}").content.decode()
    assert f'<option value="{journey.pk}" selected>' in page

    download = alice_client.get(f"/admin/reports/stages.csv?cadence={journey.pk}")
    rows = list(csv.DictReader(io.StringIO(download.content.decode())))
    assert {(row["stage"], row["customers"]) for row in rows} == {("onboarding", "1"), ("adoption", "1")}

    assert 'id="id_cadence"' not in alice_client.get("/admin/reports/health/").content.decode()


def test_export_report_stages_takes_a_cadence(recorded):
    journey = recorded
    records = json.loads(export("stages", "--format", "json", "--cadence", journey.name))

    assert {(r["stage"], r["customers"]) for r in records} == {("onboarding", 2), ("adoption", 1)}


def test_health_says_the_milestone_kind_filter_does_not_apply(bands):
    report = build("health", kind="became_customer")

    assert table(report)["alice"]["red"] == 2
    assert any("milestone kind filter does not apply" in note for note in report.notes)


def test_the_migration_stores_the_movement_of_the_days_stored_before_it(bands):
    from django.apps import apps as django_apps

    migration = importlib.import_module("campaigns.migrations.0029_health_moves_stored")
    ReportDay.objects.create(report=health_report.NAME, day=dt.date(2026, 3, 10))
    migration.store_moves(django_apps, connection.schema_editor())
    migration.store_moves(django_apps, connection.schema_editor())  # twice: nothing twice

    assert ReportDay.objects.filter(report=health_report.MOVES).count() == 1
    stored = {(f.manager_id, f.key): f.value for f in DailyFigure.objects.filter(report=health_report.MOVES)}
    assert stored == {(f.manager_id, f.key): f.value for f in health_report.move_figures(dt.date(2026, 3, 10))}
    assert sum(stored.values()) == 3
