"""The health score on the database: the facts read in one statement per chunk, the nightly run,
its idempotency, band changes and the reaction to entering red, overrides and their expiry, the
score_health command."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_celery_beat.models import PeriodicTask

from campaigns import tasks
from campaigns.models import (
    Activity,
    Batch,
    Card,
    CardDesign,
    HealthBandChange,
    HealthBands,
    HealthMeasure,
    HealthOverride,
    HealthSnapshot,
    Rule,
    Touchpoint,
    WebhookEvent,
)
from campaigns.selectors.health import customer_facts, health_panel
from campaigns.services.alerts import send_health_alert
from campaigns.services.health import (
    HealthError,
    health_override_create,
    health_override_end,
    health_score_day,
)
from campaigns.services.webhooks import webhook_endpoint_create
from nurture.lib.customer_scope import CustomerScope
from nurture.models import Customer, Milestone, MilestoneKind, StaffProfile
from nurture.services.importing import import_customers
from tests.factories import current_score, make_customer, make_rule, make_touchpoint, make_user

pytestmark = pytest.mark.django_db

DAY = dt.date(2025, 3, 10)
NOON = dt.datetime(2025, 3, 10, 12, tzinfo=dt.UTC)


def at(day: dt.date, hour: int = 12) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)


def call(customer: Customer, outcome: str, days_before: int, **fields: Any) -> Touchpoint:
    when = at(DAY - dt.timedelta(days=days_before))
    return make_touchpoint(
        customer=customer, status="done", outcome=outcome, completed_at=when, due_on=when.date(), **fields
    )


def customer_added_long_ago(**fields: Any) -> Customer:
    customer = make_customer(**fields)
    Customer.objects.filter(pk=customer.pk).update(created_at=at(DAY - dt.timedelta(days=400)))
    customer.refresh_from_db()
    return customer


def lines(customer: Customer) -> dict[str, dict[str, Any]]:
    return {line["name"]: line for line in current_score(customer).lines()}


def test_the_facts_of_a_chunk_come_from_one_statement(django_assert_num_queries):
    ada = customer_added_long_ago(first_name="Ada")
    call(ada, "reached", 40)
    call(ada, "no_answer", 20)
    call(ada, "no_answer", 10)
    call(ada, "at_risk", 200)  # outside the 90 days
    renewal = MilestoneKind.objects.get_or_create(slug="renewal", defaults={"name": "Renewal"})[0]
    Milestone.objects.create(customer=ada, kind=renewal, date=DAY - dt.timedelta(days=5))  # past: not next
    Milestone.objects.create(customer=ada, kind=renewal, date=DAY + dt.timedelta(days=30))
    card_touch = make_touchpoint(customer=ada, kind="card", status="done", completed_at=at(DAY - dt.timedelta(days=3)))
    batch = Batch.objects.create(due_by=DAY, status="mailed", card_count=1)
    Card.objects.create(
        touchpoint=card_touch,
        design=CardDesign.objects.order_by("pk")[0],
        message="Hi",
        recipient_name="Ada",
        status="returned",
        batch=batch,
        sequence=1,
        returned_at=at(DAY - dt.timedelta(days=2)),
    )
    make_customer(status="churned")
    later = make_customer()  # added after the day scored: not scored for it
    Customer.objects.filter(pk=later.pk).update(created_at=at(DAY + dt.timedelta(days=1)))

    with django_assert_num_queries(1):
        rows = customer_facts(CustomerScope.everyone(), DAY)

    assert [pk for pk, _ in rows] == [ada.pk]
    facts = rows[0][1]
    assert facts.date("last_touch_at") == DAY - dt.timedelta(days=3)
    assert facts.date("last_call_at") == DAY - dt.timedelta(days=10)
    assert facts.date("last_at_risk_at") == DAY - dt.timedelta(days=200)
    assert facts.date("last_reached_at") == DAY - dt.timedelta(days=40)
    assert [facts.int(n) for n in ("calls_reached", "calls_voicemail", "calls_no_answer", "calls_at_risk")] == [
        1,
        0,
        2,
        0,
    ]
    assert facts.int("no_answer_streak") == 2
    assert facts.date("next_renewal_on") == DAY + dt.timedelta(days=30)
    assert (facts.int("cards_mailed"), facts.int("cards_returned")) == (1, 1)


def activity(customer: Customer, channel: str, days_before: int, score: int | None = None) -> Activity:
    return Activity.objects.create(
        customer=customer, channel=channel, occurred_at=at(DAY - dt.timedelta(days=days_before)), score=score
    )


def test_activities_feed_the_facts_nps_tickets_and_the_last_contact():
    ada = customer_added_long_ago(first_name="Ada")
    call(ada, "reached", 200)
    activity(ada, "nps", 100, score=10)
    activity(ada, "nps", 30, score=4)  # the latest answer counts
    activity(ada, "nps", 20)  # an NPS activity without an answer is no answer
    activity(ada, "support_ticket", 200)  # outside the 90 days: counted in the total only
    activity(ada, "support_ticket", 60)
    activity(ada, "support_ticket", 10)
    activity(ada, "meeting", 7)
    Activity.objects.create(customer=ada, channel="email", occurred_at=at(DAY))  # on the day: not yet
    grace = customer_added_long_ago(first_name="Grace")
    activity(grace, "nps", 1, score=9)

    rows = dict(customer_facts(CustomerScope.everyone(), DAY))

    facts = rows[ada.pk]
    assert facts.date("last_touch_at") == DAY - dt.timedelta(days=200)
    assert facts.date("last_activity_at") == DAY - dt.timedelta(days=7)
    assert (facts.int("nps_score"), facts.date("nps_at")) == (4, DAY - dt.timedelta(days=30))
    assert (facts.int("tickets_recent"), facts.int("tickets_total")) == (2, 3)
    other = rows[grace.pk]
    assert (other.int("nps_score"), other.date("nps_at")) == (9, DAY - dt.timedelta(days=1))
    assert (other.int("tickets_recent"), other.int("tickets_total")) == (0, 0)
    # The chunk's scope holds for the activities too.
    only_grace = customer_facts(CustomerScope.of([grace.pk]), DAY)
    assert [(pk, facts.int("nps_score")) for pk, facts in only_grace] == [(grace.pk, 9)]


def test_activities_are_scored_nps_tickets_and_recency():
    ada = customer_added_long_ago(first_name="Ada")
    call(ada, "reached", 200)  # a touch long ago; the meeting since is the last contact
    activity(ada, "meeting", 10)
    activity(ada, "nps", 30, score=8)
    activity(ada, "support_ticket", 10)
    activity(ada, "support_ticket", 20)

    health_score_day(as_of=DAY)

    why = lines(ada)
    assert (why["Recency"]["points"], why["Recency"]["reason"]) == (100, "Last activity 10 days ago (rhythm 90 days)")
    assert (why["NPS"]["points"], why["NPS"]["reason"]) == (70, "NPS 8 (passive) on 2025-02-08")
    assert (why["Support tickets"]["points"], why["Support tickets"]["reason"]) == (50, "2 support tickets in 90 days")
    # Recency 2 x 100, open "at risk" 3 x 100, NPS 1 x 70, tickets 1 x 50: 620 / 7 = 88.6.
    score = current_score(ada)
    assert (score.score, score.measures_used, score.measures_total) == (89, 4, 7)


def test_a_day_scores_everyone_once_with_each_measure_s_reason():
    ada = customer_added_long_ago(first_name="Ada")
    for days in (30, 20, 10):
        call(ada, "no_answer", days)
    grace = customer_added_long_ago(first_name="Grace")
    call(grace, "reached", 5)

    result = health_score_day(as_of=DAY, chunk_size=1)

    assert result.scored == 2
    assert result.chunks >= 2
    score = current_score(ada)
    assert (score.date, score.measures_used, score.measures_total) == (DAY, 3, 7)
    assert lines(ada)["Call outcomes"]["reason"] == "No answer on the last 3 calls"
    assert lines(ada)["Call outcomes"]["points"] == 30
    assert lines(ada)["Renewal"]["reason"] == "No data"
    # Recency 2 x 100, call outcomes 2 x 30, open "at risk" 3 x 100: (200 + 60 + 300) / 7 = 80.
    assert score.computed == score.score == 80
    assert score.band == "green"
    assert current_score(grace).score == 100
    assert HealthSnapshot.objects.filter(date=DAY).count() == 2


def test_rerunning_a_day_changes_nothing():
    for n in range(5):
        c = customer_added_long_ago()
        call(c, "no_answer" if n % 2 else "reached", 10 + n)
    health_score_day(as_of=DAY - dt.timedelta(days=1))
    Touchpoint.objects.filter(outcome="reached").update(outcome="at_risk")  # some move band today
    first = health_score_day(as_of=DAY)

    def state() -> Any:
        return (
            sorted(HealthSnapshot.objects.values_list("customer_id", "date", "score", "band", "details")),
            sorted(HealthBandChange.objects.values_list("customer_id", "date", "from_band", "to_band", "score")),
        )

    before = state()
    again = health_score_day(as_of=DAY, chunk_size=2)
    assert state() == before
    assert again.moved == first.moved > 0
    assert HealthSnapshot.objects.count() == 10


def test_a_rule_of_changes_needs_a_band_the_day_before():
    c = customer_added_long_ago()
    call(c, "at_risk", 3)
    health_score_day(as_of=DAY)
    # The first score is no movement: there was no band before.
    assert not HealthBandChange.objects.exists()


@pytest.fixture
def lead_and_manager(alice: Any) -> Any:
    lead = make_user("lena", email="lena@example.com")
    StaffProfile.objects.create(user=alice, lead=lead)
    return lead


def test_entering_red_holds_celebrations_and_alerts_the_lead_once(
    alice, lead_and_manager, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    queued: list[int] = []
    monkeypatch.setattr(tasks.send_health_alert, "apply_async", lambda args, kwargs, **_: queued.append(*args))
    ada = customer_added_long_ago(first_name="Ada", last_name="Lovelace", account_manager=alice)
    call(ada, "reached", 5)
    health_score_day(as_of=DAY - dt.timedelta(days=1))
    assert current_score(ada).band == "green"

    # Today: found at risk, and no answer since.
    for days in (4, 3, 2, 1):
        call(ada, "at_risk" if days == 4 else "no_answer", days)
    celebration = make_touchpoint(
        customer=ada, rule=make_rule(action="card", celebratory=True), kind="card", due_on=DAY + dt.timedelta(days=10)
    )
    with django_capture_on_commit_callbacks(execute=True):
        first = health_score_day(as_of=DAY)
    with django_capture_on_commit_callbacks(execute=True):
        health_score_day(as_of=DAY)  # again, or a second worker: no second reaction

    assert first.moved == 1
    change = HealthBandChange.objects.get(customer=ada)
    assert (change.date, change.from_band, change.to_band) == (DAY, "green", "red")
    assert change.reacted_at is not None
    assert queued == [change.pk]
    celebration.refresh_from_db()
    assert (celebration.status, celebration.hold_reason) == ("held", "customer at risk: quiet period")
    ada.refresh_from_db()
    assert ada.quiet_until == DAY + dt.timedelta(days=HealthBands.current().quiet_days)

    assert send_health_alert(band_change_id=change.pk) is True
    assert send_health_alert(band_change_id=change.pk) is False
    [message] = mail.outbox
    assert sorted(message.to) == ["alice@example.com", "lena@example.com"]
    assert "Ada Lovelace entered the red health band" in message.subject
    assert "No answer on the last 3 calls" in message.body


def test_staying_red_is_not_a_new_entry(alice):
    ada = customer_added_long_ago(account_manager=alice)
    call(ada, "reached", 30)
    health_score_day(as_of=DAY - dt.timedelta(days=2))
    for days in (5, 4, 3):
        call(ada, "at_risk" if days == 5 else "no_answer", days)
    health_score_day(as_of=DAY - dt.timedelta(days=1))
    health_score_day(as_of=DAY)
    assert list(HealthBandChange.objects.values_list("date", "to_band")) == [(DAY - dt.timedelta(days=1), "red")]


def test_the_bands_are_editable():
    c = customer_added_long_ago()
    call(c, "no_answer", 3)
    health_score_day(as_of=DAY)
    score = current_score(c)
    assert (score.score, score.band) == (80, "green")
    HealthBands.objects.filter(pk=1).update(red_below=85, green_from=95)
    health_score_day(as_of=DAY)
    assert current_score(c).band == "red"


def test_measures_are_rows_weights_and_thresholds_included():
    c = customer_added_long_ago()
    call(c, "no_answer", 100)  # outside the 90 days: no call outcomes
    HealthMeasure.objects.filter(kind="recency").update(params={"rhythm_days": 50})
    HealthMeasure.objects.filter(kind="at_risk").update(active=False)
    health_score_day(as_of=DAY)
    score = current_score(c)
    # Recency alone: 100 days is 50 past a 50-day rhythm, half way to 0 after three rhythms.
    assert (score.score, score.measures_used, score.measures_total) == (50, 1, 6)


@time_machine.travel(NOON, tick=False)
def test_an_override_survives_recomputation_until_it_expires(alice):
    c = customer_added_long_ago(account_manager=alice)
    call(c, "reached", 3)
    health_score_day(as_of=DAY)
    override = health_override_create(customer=c, score=30, reason="Their CFO told us they are leaving", by=alice)
    assert override.expires_on == DAY + dt.timedelta(days=30)
    score = current_score(c)
    assert (score.score, score.computed, score.band, score.overridden) == (30, 100, "red", True)

    health_score_day(as_of=DAY)  # the nightly run again
    assert current_score(c).score == 30
    health_score_day(as_of=override.expires_on)  # the last day in force
    assert current_score(c).score == 30
    health_score_day(as_of=override.expires_on + dt.timedelta(days=1))
    score = current_score(c)
    assert (score.score, score.overridden) == (score.computed, False)


@time_machine.travel(NOON, tick=False)
def test_a_new_override_ends_the_one_before_and_lifting_one_restores_the_computed_score(alice):
    c = customer_added_long_ago(account_manager=alice)
    call(c, "reached", 3)
    health_score_day(as_of=DAY)
    first = health_override_create(customer=c, score=30, reason="Leaving", by=alice)
    second = health_override_create(customer=c, score=60, reason="Better after the meeting", by=alice)
    first.refresh_from_db()
    assert first.ended_at is not None and first.ended_by == alice
    assert current_score(c).score == 60

    assert health_override_end(override=second, by=alice) is True
    assert health_override_end(override=second, by=alice) is False
    assert current_score(c).score == 100
    assert not HealthOverride.objects.in_force(DAY).exists()


@time_machine.travel(NOON, tick=False)
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"score": 50, "reason": "  "}, "An override needs a reason."),
        ({"score": 101, "reason": "x"}, "The score must be a whole number from 0 to 100, not 101."),
        (
            {"score": 50, "reason": "x", "expires_on": DAY - dt.timedelta(days=1)},
            "The expiry 2025-03-09 is in the past.",
        ),
    ],
)
def test_an_override_names_what_is_wrong(alice, kwargs, message):
    c = customer_added_long_ago()
    with pytest.raises(HealthError, match=message.replace("(", r"\(")):
        health_override_create(customer=c, by=alice, **kwargs)
    assert not HealthOverride.objects.exists()


@time_machine.travel(NOON, tick=False)
def test_the_panel_shows_the_trend_and_an_18_week_sparkline():
    c = customer_added_long_ago()
    for days_before, score in ((30, 40), (7, 70), (0, 80)):
        HealthSnapshot.objects.create(customer=c, date=DAY - dt.timedelta(days=days_before), score=score, band="green")
    panel = health_panel(customer=c, today=DAY)
    assert [(t.days, t.score, t.change) for t in panel.trends] == [(7, 70, 10), (30, 40, 40)]
    assert panel.sparkline is not None
    assert len(panel.sparkline.points.split()) == 3


@time_machine.travel(NOON, tick=False)
def test_the_trend_names_the_measures_that_moved_the_score():
    """Why the score moved: the measures whose points differ from those of 7 and 30 days before."""
    c = customer_added_long_ago()
    measures = {m.kind: m for m in HealthMeasure.objects.all()}
    recency, calls, renewal = measures["recency"], measures["call_outcomes"], measures["renewal"]
    HealthSnapshot.objects.create(
        customer=c, date=DAY - dt.timedelta(days=30), score=90, band="green", details=[[recency.pk, 100]]
    )
    # Before the snapshots kept the reasons: pairs (above); before the pairs: objects, read the same.
    HealthSnapshot.objects.create(
        customer=c,
        date=DAY - dt.timedelta(days=7),
        score=70,
        band="yellow",
        details=[{"measure": recency.pk, "points": 100}, {"measure": calls.pk, "points": 60}],
    )
    details = [
        [recency.pk, 1.0, 100, "Last completed touch 3 days ago"],
        [calls.pk, 1.0, 30, "No answer on the last 3 calls"],
    ]
    details.append([renewal.pk, 1.0, None, "No data"])
    HealthSnapshot.objects.create(customer=c, date=DAY, score=65, computed=65, band="yellow", details=details)

    week, month = health_panel(customer=c, today=DAY).trends

    assert [(m.name, m.then, m.now) for m in week.moves] == [(calls.name, 60, 30)]
    assert [(m.name, m.then, m.now) for m in month.moves] == [(calls.name, None, 30)]


def test_score_health_prints_who_moved_band(capsys):
    c = customer_added_long_ago()
    call(c, "reached", 2)
    call_command("score_health", "--date", (DAY - dt.timedelta(days=1)).isoformat(), verbosity=0)
    Touchpoint.objects.update(outcome="at_risk")
    call_command("score_health", "--date", DAY.isoformat(), verbosity=0)
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "Scored 1 customers as of 2025-03-10: 1 moved band (1 into red, 0 into yellow, 0 into green)."


def test_score_health_refuses_a_bad_date():
    with pytest.raises(CommandError, match="--date '10/03/2025' is not a date"):
        call_command("score_health", "--date", "10/03/2025")


def test_deleting_a_customer_deletes_their_snapshots_without_a_foreign_key_constraint(on_postgresql):
    """The snapshots have no foreign key constraint in the database (the nightly insert checked it
    for every row): Django's on_delete deletes them with their customer all the same."""
    gone, kept = customer_added_long_ago(), customer_added_long_ago()
    for customer in (gone, kept):
        call(customer, "reached", 3)
    health_score_day(as_of=DAY - dt.timedelta(days=1))
    health_score_day(as_of=DAY)
    assert HealthSnapshot.objects.filter(customer=gone).count() == 2

    gone.delete()

    assert set(HealthSnapshot.objects.values_list("customer_id", flat=True)) == {kept.pk}
    if on_postgresql:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_constraint WHERE conrelid = 'campaigns_healthsnapshot'::regclass "
                "AND contype = 'f'"
            )
            assert cursor.fetchone()[0] == 0


def test_deleting_customers_deletes_their_snapshots_of_every_day():
    """The snapshots are found day by day (the unique index leads with the day): a bulk deletion
    takes every day's, a day only one of them has included, and nobody else's."""
    gone, also_gone, kept = (customer_added_long_ago() for _ in range(3))
    for customer in (gone, also_gone, kept):
        call(customer, "reached", 3)
    health_score_day(as_of=DAY - dt.timedelta(days=1))
    health_score_day(as_of=DAY)
    HealthSnapshot.objects.create(customer=also_gone, date=DAY - dt.timedelta(days=40), score=10, band="red")

    with CaptureQueriesContext(connection) as queries:
        Customer.objects.filter(pk__in=[gone.pk, also_gone.pk]).delete()
    # Every statement on the snapshots names the days (a look-up by customer alone reads the table).
    on_snapshots = [q["sql"] for q in queries.captured_queries if "campaigns_healthsnapshot" in q["sql"]]
    assert on_snapshots
    conditions = [sql.split("WHERE", 1)[-1].split("ORDER BY", 1)[0] for sql in on_snapshots]
    assert all("date" in condition for condition in conditions), on_snapshots

    assert sorted(HealthSnapshot.objects.values_list("customer_id", "date")) == [
        (kept.pk, DAY - dt.timedelta(days=1)),
        (kept.pk, DAY),
    ]


def test_a_band_change_compares_with_the_latest_day_the_customer_was_scored():
    """A customer missing from the night before (not scored then) is compared with their latest
    snapshot before it; a customer whose latest other snapshot is of a later day gets history only."""
    missed, scored, ahead = (customer_added_long_ago() for _ in range(3))
    for customer in (missed, scored, ahead):
        call(customer, "reached", 3)
    health_score_day(as_of=DAY)
    band = HealthSnapshot.objects.get(customer=missed, date=DAY).band
    other = "red" if band != "red" else "green"
    HealthSnapshot.objects.all().delete()
    HealthSnapshot.objects.create(customer=missed, date=DAY - dt.timedelta(days=5), score=1, band=other)
    HealthSnapshot.objects.create(customer=scored, date=DAY - dt.timedelta(days=1), score=1, band=other)
    HealthSnapshot.objects.create(customer=ahead, date=DAY + dt.timedelta(days=1), score=1, band=other)

    health_score_day(as_of=DAY)

    changes = HealthBandChange.objects.filter(date=DAY).values_list("customer_id", "from_band", "to_band")
    assert sorted(changes) == sorted([(missed.pk, other, band), (scored.pk, other, band)])


def test_a_customers_snapshots_are_read_day_by_day():
    """scored_days: the days that have snapshots, latest first, each once; a customer's snapshots
    and current score come from those days."""
    first, second = customer_added_long_ago(), customer_added_long_ago()
    days = [DAY - dt.timedelta(days=n) for n in (30, 2, 1)]
    for day in days:
        HealthSnapshot.objects.create(customer=first, date=day, score=60, band="yellow")
    HealthSnapshot.objects.create(customer=second, date=DAY, score=90, band="green")

    assert HealthSnapshot.objects.scored_days() == [DAY, *reversed(days)]
    assert sorted(HealthSnapshot.objects.of_customer(first).values_list("date", flat=True)) == days
    assert list(HealthSnapshot.objects.of_customer(first, [days[0], DAY]).values_list("date", flat=True)) == [days[0]]
    latest = HealthSnapshot.objects.latest_of(first)
    assert latest is not None and latest.date == days[-1]
    HealthSnapshot.objects.all().delete()
    assert HealthSnapshot.objects.scored_days() == []
    assert HealthSnapshot.objects.latest_of(first) is None


def test_a_customer_keeps_the_day_they_churned():
    with time_machine.travel(NOON, tick=False):
        c = make_customer()
        c.status = Customer.Status.CHURNED
        c.save(update_fields=["status"])
    c.refresh_from_db()
    assert c.churned_on == DAY
    c.status = Customer.Status.ACTIVE
    c.save()
    c.refresh_from_db()
    assert c.churned_on is None


def test_the_default_measures_and_the_nightly_job_are_installed():
    assert sorted(HealthMeasure.objects.values_list("kind", flat=True)) == sorted(
        ["recency", "call_outcomes", "at_risk", "renewal", "returned_cards", "nps", "support_tickets"]
    )
    assert PeriodicTask.objects.filter(task="campaigns.tasks.health_sweep", enabled=True).exists()
    assert Rule.objects.exists()  # the migration left the rest alone
    administrators = Group.objects.get(name="Nurture administrators")
    assert administrators.permissions.filter(codename="override_health").exists()


def test_the_import_keeps_the_day_a_customer_churned():
    header = "external_id,first_name,last_name,status\n"
    with time_machine.travel(NOON, tick=False):
        import_customers(data=(header + "X-1,Ada,Lovelace,churned\nX-2,Grace,Hopper,active\n").encode())
    with time_machine.travel(NOON + dt.timedelta(days=5), tick=False):
        import_customers(data=(header + "X-1,Ada,Lovelace,churned\nX-2,Grace,Hopper,churned\n").encode())
    churned = dict(Customer.objects.values_list("external_id", "churned_on"))
    assert churned == {"X-1": DAY, "X-2": DAY + dt.timedelta(days=5)}


def test_scoring_a_past_day_again_keeps_the_current_score_and_later_changes():
    HealthBands.objects.filter(pk=1).update(red_below=0)  # no red: a change nobody reacts to
    c = customer_added_long_ago()
    call(c, "reached", 3)
    health_score_day(as_of=DAY - dt.timedelta(days=1))
    Touchpoint.objects.update(outcome="at_risk")
    health_score_day(as_of=DAY)
    [change] = HealthBandChange.objects.all()
    Touchpoint.objects.update(outcome="reached")

    health_score_day(as_of=DAY - dt.timedelta(days=1))  # a past day: history only

    assert list(HealthBandChange.objects.values_list("pk", "to_band", "reacted_at")) == [(change.pk, "yellow", None)]
    score = current_score(c)
    assert (score.date, score.band) == (DAY, "yellow")


def test_a_band_change_is_recorded_once_as_a_customer_health_changed_webhook_event(alice, settings):
    settings.NURTURE_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    webhook_endpoint_create(url="http://127.0.0.1:9/hooks", event_types=["customer.health_changed"], owner=alice)
    ada = customer_added_long_ago(account_manager=alice, external_id="ADA-1")
    call(ada, "reached", 5)
    health_score_day(as_of=DAY - dt.timedelta(days=1))
    for days in (4, 3, 2, 1):
        call(ada, "at_risk" if days == 4 else "no_answer", days)

    health_score_day(as_of=DAY)
    health_score_day(as_of=DAY)  # a rerun of the day records nothing twice

    change = HealthBandChange.objects.get(customer=ada)
    [event] = WebhookEvent.objects.filter(type="customer.health_changed")
    assert event.subject_id == change.pk
    assert event.data == {
        "customer": "ADA-1",
        "date": DAY.isoformat(),
        "from_band": "green",
        "to_band": "red",
        "score": change.score,
    }


@pytest.mark.parametrize("per_query", [1, 2, 1000])
def test_the_backtest_finds_each_customers_snapshot_of_their_day(monkeypatch, per_query):
    """The backtest's look-up of (customer, day) pairs, a few days' customers a query: each pair
    that has a snapshot, none of the same customers' other days, whatever the batches."""
    from campaigns.selectors import health as selectors

    monkeypatch.setattr(selectors, "_PAIRS_PER_QUERY", per_query)
    a, b, c = (customer_added_long_ago() for _ in range(3))
    days = [DAY - dt.timedelta(days=n) for n in (90, 60, 30)]
    for customer in (a, b, c):
        for n, day in enumerate(days):
            HealthSnapshot.objects.create(customer=customer, date=day, score=n, details=[[customer.pk, n]])
    wanted = {(a.pk, days[0]), (b.pk, days[0]), (c.pk, days[2]), (a.pk, DAY), (b.pk, DAY - dt.timedelta(days=1))}

    found = selectors._details_on(wanted)

    assert sorted(found) == sorted([[[a.pk, 0]], [[b.pk, 0]], [[c.pk, 2]]])
