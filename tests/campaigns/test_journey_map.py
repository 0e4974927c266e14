"""The journey map of a cadence: stages, the rules on one timeline, live figures; customers per stage and moves."""

from __future__ import annotations

import datetime as dt
import itertools
import xml.etree.ElementTree as ET
from typing import Any

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse

from campaigns.models import Batch, Cadence, Card, CardDesign, Rule, Stage, Touchpoint
from campaigns.selectors.journey_map import cadence_journey_map, step_figures
from campaigns.selectors.stages import ENTERED, NO_STAGE, customers_per_stage, stage_moves
from nurture.models import MilestoneKind
from tests.factories import make_account_manager, make_customer, make_touchpoint, make_user

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)
TODAY = NOW.date()


@pytest.fixture(autouse=True)
def _frozen() -> Any:
    with time_machine.travel(NOW, tick=False):
        yield


def cadence_with_stages() -> tuple[Cadence, dict[str, Stage], dict[str, Rule]]:
    kind = MilestoneKind.objects.get(slug="became_customer")
    cadence = Cadence.objects.create(name="Map test", anchor_kind=kind)
    stages = {
        name: Stage.objects.create(cadence=cadence, name=name, position=position)
        for position, name in enumerate(["onboarding", "adoption", "renewal"])
    }
    rules = {
        "congrats": Rule.objects.create(
            cadence=cadence, slug="m-congrats", name="Congratulations", action="card", stage=stages["onboarding"]
        ),
        "welcome": Rule.objects.create(
            cadence=cadence,
            slug="m-welcome",
            name="Welcome call",
            action="call",
            offset_amount=14,
            stage=stages["onboarding"],
        ),
        "follow": Rule.objects.create(
            cadence=cadence,
            slug="m-follow",
            name="Follow-up card",
            action="card",
            offset_amount=6,
            offset_unit="months",
            stage=stages["adoption"],
        ),
        "anniversary": Rule.objects.create(
            cadence=cadence,
            slug="m-anniversary",
            name="Anniversary card",
            action="card",
            offset_amount=12,
            offset_unit="months",
            repeat_every_months=12,
            stage=stages["renewal"],
        ),
    }
    return cadence, stages, rules


def done(customer, rule, *, at: dt.datetime, due_on: dt.date | None = None, **fields) -> Touchpoint:
    if rule.action == "call":
        fields.setdefault("outcome", "reached")
    return make_touchpoint(
        customer=customer,
        rule=rule,
        kind=rule.action,
        due_on=due_on or at.date(),
        status="done",
        completed_at=at,
        **fields,
    )


def card(touchpoint: Touchpoint, status: str, batch: Batch, sequence: int) -> Card:
    return Card.objects.create(
        touchpoint=touchpoint,
        design=CardDesign.objects.exclude(artwork="uploaded").order_by("pk")[0],
        message="Hello",
        status=status,
        batch=batch,
        sequence=sequence,
        returned_at=NOW if status == "returned" else None,
        recipient_name="X",
    )


# --- Stages -----------------------------------------------------------------------------------


def test_a_rules_stage_must_be_one_of_its_cadences():
    cadence, _, rules = cadence_with_stages()
    other = Stage.objects.create(cadence=Cadence.objects.exclude(pk=cadence.pk)[0], name="elsewhere")
    rule = rules["welcome"]
    rule.stage = other

    with pytest.raises(ValidationError, match="stage of another cadence"):
        rule.full_clean()


def test_a_stage_is_named_once_per_cadence():
    cadence, _, _ = cadence_with_stages()

    with pytest.raises(Exception, match=r"stage_unique_name_per_cadence|UNIQUE"):
        Stage.objects.create(cadence=cadence, name="adoption")


def test_the_built_in_cadence_comes_with_its_stages():
    cadence = Cadence.objects.get(name="Post-sale nurture")

    stages = {rule.slug: rule.stage.name for rule in cadence.rules.select_related("stage") if rule.stage}

    assert stages == {"welcome-call": "Onboarding", "six-month-follow-up": "Adoption", "anniversary-card": "Renewal"}


# --- Figures ----------------------------------------------------------------------------------


def test_each_steps_figures_come_from_one_grouped_query_for_the_customers_one_sees(django_assert_num_queries):
    cadence, _, rules = cadence_with_stages()
    alice = make_account_manager("alice")
    mine = make_customer(account_manager=alice)
    theirs = make_customer(account_manager=make_account_manager("bob"))
    welcome, follow = rules["welcome"], rules["follow"]
    make_touchpoint(customer=mine, rule=welcome, due_on=TODAY + dt.timedelta(days=3))  # planned
    make_touchpoint(customer=mine, rule=welcome, due_on=TODAY - dt.timedelta(days=3))  # planned, overdue
    make_touchpoint(customer=mine, rule=welcome, due_on=TODAY, status="held", hold_reason="frequency cap")
    done(mine, welcome, at=NOW, outcome="reached")  # on time
    done(mine, welcome, at=NOW, due_on=TODAY - dt.timedelta(days=2), outcome="no_answer")  # late
    make_touchpoint(customer=mine, rule=welcome, due_on=TODAY, status="skipped", skip_reason="on holiday")
    make_touchpoint(customer=mine, rule=welcome, due_on=TODAY, status="cancelled", cancel_reason="rule edited")
    done(theirs, welcome, at=NOW, outcome="reached")  # not alice's customer
    batch = Batch.objects.create(due_by=TODAY, status="mailed", card_count=2)
    card(done(mine, follow, at=NOW), "mailed", batch, 1)
    card(done(mine, follow, at=NOW), "returned", batch, 2)

    alice.has_perm("nurture.view_all_customers")  # loads and caches the permissions
    with django_assert_num_queries(1):
        figures = step_figures(cadence=cadence, user=alice)

    call = figures[welcome.pk]
    assert (call.planned, call.overdue, call.on_time, call.late, call.skipped) == (3, 1, 1, 1, 1)
    assert (call.reached, call.no_answer, call.voicemail) == (1, 1, 0)
    cards = figures[follow.pk]
    assert (cards.mailed, cards.returned, cards.on_time) == (2, 1, 2)
    everyone = step_figures(cadence=cadence, user=make_user("root", superuser=True))
    assert everyone[welcome.pk].reached == 2


# --- The map ----------------------------------------------------------------------------------


def test_the_map_puts_each_rule_at_its_offset_in_its_stage_and_draws_repeats():
    cadence, _, rules = cadence_with_stages()

    journey_map = cadence_journey_map(cadence=cadence, user=make_user("root", superuser=True))

    steps = {step.rule_id: step for step in journey_map.steps}
    order = [rules[name].pk for name in ("congrats", "welcome", "follow", "anniversary")]
    assert [step.rule_id for step in journey_map.steps] == order
    xs = [steps[pk].x for pk in order]
    assert xs == sorted(xs) and len(set(xs)) == 4
    assert steps[rules["congrats"].pk].x == journey_map.day_zero_x
    anniversary = steps[rules["anniversary"].pk]
    assert anniversary.repeat == "↻ every year"
    assert anniversary.ghosts and all(ghost.x > anniversary.x for ghost in anniversary.ghosts)
    assert journey_map.ticks[0].label == "day 0"
    bands = {band.name: band for band in journey_map.bands}
    assert set(bands) == {"onboarding", "adoption", "renewal"}
    for step in journey_map.steps:
        band = bands[step.stage_name]
        assert band.x <= step.x <= band.x + band.width
    boxes = [(step.box_x, step.box_x + step.box_width) for step in journey_map.steps]
    assert all(right <= next_left for (_, right), (next_left, _) in itertools.pairwise(boxes))


def test_a_rule_before_the_milestone_sits_left_of_day_zero_and_a_rule_without_stage_is_grey():
    cadence, _, _ = cadence_with_stages()
    before = Rule.objects.create(
        cadence=cadence, slug="m-before", name="Before renewal", action="call", offset_amount=-2, offset_unit="weeks"
    )

    journey_map = cadence_journey_map(cadence=cadence, user=make_user("root", superuser=True))

    step = next(step for step in journey_map.steps if step.rule_id == before.pk)
    assert step.x < journey_map.day_zero_x
    assert step.stage_name == NO_STAGE
    assert NO_STAGE in [band.name for band in journey_map.bands]


def test_the_cadence_page_shows_the_map_and_its_figures_and_serves_the_svg(superuser_client):
    cadence, _, rules = cadence_with_stages()
    done(make_customer(), rules["welcome"], at=NOW, outcome="reached")

    page = superuser_client.get(reverse("admin:campaigns_cadence_change", args=[cadence.pk]))
    svg = superuser_client.get(reverse("admin:campaigns_cadence_journey_map", args=[cadence.pk]))

    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="journey-map"' in html and "<svg" in html and 'id="journey-map-figures"' in html
    assert f'class="figures-row" data-rule="{rules["welcome"].pk}"' in html
    assert svg["Content-Type"].startswith("image/svg+xml")
    root = ET.fromstring(svg.content)  # noqa: S314 (our own response) well-formed XML, a file of its own
    steps = root.findall(".//{http://www.w3.org/2000/svg}g[@class='journey-step']")
    assert len(steps) == 4
    welcome = next(g for g in steps if g.get("data-rule") == str(rules["welcome"].pk))
    assert (welcome.get("data-on-time"), welcome.get("data-stage")) == ("1", "onboarding")


def test_the_rule_inline_offers_only_the_cadences_own_stages(superuser_client):
    cadence, stages, _ = cadence_with_stages()
    Stage.objects.create(cadence=Cadence.objects.get(name="Post-sale nurture"), name="other cadence's")

    page = superuser_client.get(reverse("admin:campaigns_cadence_change", args=[cadence.pk]))

    formset = next(f for f in page.context["inline_admin_formsets"] if f.formset.model is Rule).formset
    assert set(formset.forms[0].fields["stage"].queryset) == set(stages.values())


def test_the_svg_needs_the_permission_to_view_cadences(client):
    cadence, _, _ = cadence_with_stages()
    client.force_login(make_user("nobody"))

    assert client.get(reverse("admin:campaigns_cadence_journey_map", args=[cadence.pk])).status_code == 403


# --- Customers per stage and moves ------------------------------------------------------------


def test_customers_are_in_the_stage_of_their_latest_done_touchpoint_and_their_moves_are_counted():
    cadence, _, rules = cadence_with_stages()
    root = make_user("root", superuser=True)
    ada, bob, cy = make_customer(), make_customer(), make_customer()
    day = dt.timedelta(days=1)
    done(ada, rules["congrats"], at=NOW - 40 * day)
    done(ada, rules["welcome"], at=NOW - 20 * day)
    done(ada, rules["follow"], at=NOW - 5 * day)  # onboarding -> adoption, in the period
    done(bob, rules["congrats"], at=NOW - 3 * day)  # entered, in the period
    done(bob, rules["welcome"], at=NOW - 2 * day)  # onboarding -> onboarding: no move
    done(cy, rules["anniversary"], at=NOW - 50 * day)  # renewal, before the period
    make_touchpoint(customer=cy, rule=rules["follow"], kind="card", due_on=TODAY)  # pending: not a stage

    counts = customers_per_stage(cadence=cadence, user=root)
    moves = stage_moves(cadence=cadence, user=root, start=NOW - 30 * day, end=NOW + day)

    assert [(row.stage, row.customers) for row in counts] == [("onboarding", 1), ("adoption", 1), ("renewal", 1)]
    assert {(move.from_stage, move.to_stage, move.moves, move.customers) for move in moves} == {
        ("onboarding", "adoption", 1, 1),
        (ENTERED, "onboarding", 1, 1),
    }
    earlier = customers_per_stage(cadence=cadence, user=root, as_of=NOW - 10 * day)
    assert [(row.stage, row.customers) for row in earlier] == [("onboarding", 1), ("adoption", 0), ("renewal", 1)]


def test_the_stage_report_counts_only_the_customers_one_sees():
    cadence, _, rules = cadence_with_stages()
    alice = make_account_manager("alice")
    done(make_customer(account_manager=alice), rules["welcome"], at=NOW)
    done(make_customer(account_manager=make_account_manager("bob")), rules["welcome"], at=NOW)

    counts = customers_per_stage(cadence=cadence, user=alice)

    assert [row.customers for row in counts if row.stage == "onboarding"] == [1]
