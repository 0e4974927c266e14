"""The admin with the test client: scoping to the account manager, the queue, the actions."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.contrib import admin
from django.urls import reverse

from campaigns.models import PlannerRun, Touchpoint
from campaigns.services.touchpoints import touchpoint_log_outcome
from nurture.models import Milestone, MilestoneKind
from tests.factories import NOON_UTC, make_customer, make_rule, make_touchpoint, make_user, messages_of

D = dt.date

pytestmark = pytest.mark.django_db

TOUCHPOINTS = reverse("admin:campaigns_touchpoint_changelist")
CUSTOMERS = reverse("admin:nurture_customer_changelist")


def listed(response):
    assert response.status_code == 200, response.content[:500]
    return {obj.pk for obj in response.context["cl"].result_list}


# --- Every page loads -------------------------------------------------------------------


def test_every_changelist_and_add_page_loads_for_a_superuser(superuser_client):
    make_touchpoint()
    PlannerRun.objects.create(
        as_of=D(2025, 3, 10), planned_at=NOON_UTC, window_start=D(2025, 3, 10), window_end=D(2025, 5, 9)
    )
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label not in ("nurture", "campaigns"):
            continue
        info = (model._meta.app_label, model._meta.model_name)
        assert superuser_client.get(reverse("admin:{}_{}_changelist".format(*info))).status_code == 200, info
        add = superuser_client.get(reverse("admin:{}_{}_add".format(*info)))
        assert add.status_code == (200 if model_admin.has_add_permission(add.wsgi_request) else 403), info
        obj = model._default_manager.first()
        if obj is not None:
            change = superuser_client.get(reverse("admin:{}_{}_change".format(*info), args=[obj.pk]))
            assert change.status_code == 200, info


def test_the_customer_page_shows_the_journey(superuser_client):
    customer = make_customer()
    touchpoint = make_touchpoint(customer=customer)

    response = superuser_client.get(reverse("admin:nurture_customer_change", args=[customer.pk]))

    assert response.status_code == 200
    assert reverse("admin:campaigns_touchpoint_change", args=[touchpoint.pk]) in response.content.decode()
    assert f"?customer__id__exact={customer.pk}" in response.content.decode()


def test_the_customer_page_shows_only_the_latest_touchpoints(superuser_client, settings):
    customer = make_customer()
    rule = make_rule()
    for day in range(30):
        make_touchpoint(customer=customer, rule=rule, due_on=D(2025, 1, 1) + dt.timedelta(days=day))

    response = superuser_client.get(reverse("admin:nurture_customer_change", args=[customer.pk]))

    inline = next(f for f in response.context["inline_admin_formsets"] if f.opts.model is Touchpoint)
    shown = [form.original.due_on for form in inline]
    assert len(shown) == 25
    assert shown == sorted(shown)
    assert shown[-1] == D(2025, 1, 30)


def test_touchpoints_cannot_be_added_or_deleted(superuser_client):
    touchpoint = make_touchpoint()

    assert superuser_client.get(reverse("admin:campaigns_touchpoint_add")).status_code == 403
    assert superuser_client.get(reverse("admin:campaigns_touchpoint_delete", args=[touchpoint.pk])).status_code == 403


# --- Account managers see their own customers ------------------------------------------


def test_an_account_manager_sees_only_their_customers(alice_client, alice, bob):
    mine = make_customer(account_manager=alice)
    make_customer(account_manager=bob)
    make_customer()

    assert listed(alice_client.get(CUSTOMERS)) == {mine.pk}


def test_an_account_manager_gets_404_for_another_managers_customer(alice_client, alice, bob):
    mine, theirs = make_customer(account_manager=alice), make_customer(account_manager=bob)

    assert alice_client.get(reverse("admin:nurture_customer_change", args=[mine.pk])).status_code == 200
    assert alice_client.get(reverse("admin:nurture_customer_change", args=[theirs.pk])).status_code == 404
    assert alice_client.get(reverse("admin:nurture_customer_history", args=[theirs.pk])).status_code == 404


def test_an_account_manager_sees_only_their_customers_touchpoints(alice_client, alice, bob):
    mine = make_touchpoint(customer=make_customer(account_manager=alice))
    theirs = make_touchpoint(customer=make_customer(account_manager=bob))

    assert listed(alice_client.get(TOUCHPOINTS)) == {mine.pk}
    assert alice_client.get(reverse("admin:campaigns_touchpoint_change", args=[theirs.pk])).status_code == 404


def test_an_account_manager_sees_only_their_customers_milestones(alice_client, alice, bob):
    kind = MilestoneKind.objects.get(slug="birthday")
    mine = Milestone.objects.create(customer=make_customer(account_manager=alice), kind=kind, date=D(1980, 1, 1))
    theirs = Milestone.objects.create(customer=make_customer(account_manager=bob), kind=kind, date=D(1980, 1, 1))

    assert listed(alice_client.get(reverse("admin:nurture_milestone_changelist"))) == {mine.pk}
    assert alice_client.get(reverse("admin:nurture_milestone_change", args=[theirs.pk])).status_code == 404


def test_customer_choices_are_limited_to_the_account_managers(alice_client, alice, bob):
    mine, theirs = make_customer(account_manager=alice), make_customer(account_manager=bob)
    url = reverse("admin:autocomplete")
    params = {"app_label": "nurture", "model_name": "milestone", "field_name": "customer", "term": ""}

    found = {int(result["id"]) for result in alice_client.get(url, params).json()["results"]}
    assert found == {mine.pk}

    # Posting another manager's customer by id is refused as well.
    response = alice_client.post(
        reverse("admin:nurture_milestone_add"),
        {"customer": theirs.pk, "kind": MilestoneKind.objects.get(slug="birthday").pk, "date": "1980-01-01"},
    )
    assert response.status_code == 200
    assert "customer" in response.context["adminform"].form.errors
    assert not Milestone.objects.exists()


def test_an_account_manager_cannot_reassign_a_customer(alice_client, alice, bob):
    customer = make_customer(account_manager=alice, first_name="Ada", last_name="Lovelace")
    url = reverse("admin:nurture_customer_change", args=[customer.pk])
    data = {
        "external_id": customer.external_id,
        "first_name": "Ada",
        "last_name": "King",
        "status": "active",
        "time_zone": "Europe/London",
        "country": "gb",
        "account_manager": bob.pk,
        "milestones-TOTAL_FORMS": "0",
        "milestones-INITIAL_FORMS": "0",
        "touchpoints-TOTAL_FORMS": "0",
        "touchpoints-INITIAL_FORMS": "0",
    }

    response = alice_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    customer.refresh_from_db()
    assert (customer.last_name, customer.country, customer.account_manager) == ("King", "GB", alice)


def test_a_user_who_sees_all_customers_sees_every_touchpoint(client, alice, bob):
    boss = make_user("boss", perms=["campaigns.view_touchpoint", "nurture.view_all_customers"])
    client.force_login(boss)
    touchpoints = {make_touchpoint(customer=make_customer(account_manager=am)).pk for am in (alice, bob, None)}

    assert listed(client.get(TOUCHPOINTS)) == touchpoints


# --- The queue filter ------------------------------------------------------------------


def test_the_queue_follows_each_customers_time_zone(alice_client, alice, bob):
    kiritimati = make_customer(account_manager=alice, time_zone="Pacific/Kiritimati")
    pago_pago = make_customer(account_manager=alice, time_zone="Pacific/Pago_Pago")
    rule = make_rule()
    k10 = make_touchpoint(customer=kiritimati, rule=rule, due_on=D(2025, 3, 10))
    k11 = make_touchpoint(customer=kiritimati, rule=rule, due_on=D(2025, 3, 11))
    p10 = make_touchpoint(customer=pago_pago, rule=rule, due_on=D(2025, 3, 10), assignee=bob)
    p11 = make_touchpoint(customer=pago_pago, rule=rule, due_on=D(2025, 3, 11))
    make_touchpoint(customer=pago_pago, rule=rule, due_on=D(2025, 3, 10), status="done", outcome="reached")

    with time_machine.travel(NOON_UTC, tick=False):
        assert listed(alice_client.get(TOUCHPOINTS, {"queue": "today"})) == {k11.pk, p10.pk}
        assert listed(alice_client.get(TOUCHPOINTS, {"queue": "overdue"})) == {k10.pk}
        assert listed(alice_client.get(TOUCHPOINTS, {"queue": "upcoming"})) == {p11.pk}
        assert listed(alice_client.get(TOUCHPOINTS, {"queue": "mine"})) == {k10.pk, k11.pk, p11.pk}


def test_the_touchpoint_list_filters_by_status_kind_and_late(alice_client, alice):
    customer = make_customer(account_manager=alice)
    call = make_touchpoint(customer=customer, late=True)
    card = make_touchpoint(customer=customer, kind="card")

    assert listed(alice_client.get(TOUCHPOINTS, {"kind__exact": "card"})) == {card.pk}
    assert listed(alice_client.get(TOUCHPOINTS, {"late__exact": "1"})) == {call.pk}
    assert listed(alice_client.get(TOUCHPOINTS, {"status__exact": "pending", "due_on__year": "2025"})) == {
        call.pk,
        card.pk,
    }


# --- Actions ---------------------------------------------------------------------------


def act(client, action, touchpoints, **data):
    return client.post(
        TOUCHPOINTS,
        {"action": action, "_selected_action": [t.pk for t in touchpoints], "index": "0", **data},
        follow=True,
    )


@pytest.mark.parametrize(
    ("action", "outcome"), [("log_reached", "reached"), ("log_voicemail", "voicemail"), ("log_no_answer", "no_answer")]
)
def test_the_outcome_actions_log_the_calls(alice_client, alice, action, outcome):
    customer = make_customer(account_manager=alice)
    touchpoints = [make_touchpoint(customer=customer, due_on=D(2025, 3, day)) for day in (10, 11)]

    response = act(alice_client, action, touchpoints)

    assert any("for 2 calls" in message for message in messages_of(response))
    assert set(Touchpoint.objects.values_list("status", "outcome", "completed_by")) == {("done", outcome, alice.pk)}


def test_an_outcome_action_changes_nothing_if_one_is_already_done(alice_client, alice):
    customer = make_customer(account_manager=alice)
    pending = make_touchpoint(customer=customer, due_on=D(2025, 3, 10))
    done = make_touchpoint(customer=customer, due_on=D(2025, 3, 11), status="done", outcome="voicemail")

    response = act(alice_client, "log_reached", [pending, done])

    assert any("Nothing was changed" in message for message in messages_of(response))
    assert Touchpoint.objects.get(pk=pending.pk).status == "pending"


def test_actions_cannot_reach_another_managers_touchpoints(alice_client, bob):
    theirs = make_touchpoint(customer=make_customer(account_manager=bob))

    act(alice_client, "log_reached", [theirs])

    assert Touchpoint.objects.get(pk=theirs.pk).status == "pending"


def test_snooze_asks_for_a_date_then_snoozes(alice_client, alice):
    customer = make_customer(account_manager=alice)
    touchpoints = [make_touchpoint(customer=customer, due_on=D(2025, 3, day)) for day in (10, 11)]

    with time_machine.travel(NOON_UTC, tick=False):
        page = act(alice_client, "snooze", touchpoints)
        assert page.status_code == 200
        assert "Snooze until" in page.content.decode()
        assert Touchpoint.objects.filter(due_on=D(2025, 3, 17)).count() == 0

        response = act(alice_client, "snooze", touchpoints, apply="Snooze", until="2025-03-17")

    assert "Snoozed 2 touchpoints to 2025-03-17." in messages_of(response)
    assert set(Touchpoint.objects.values_list("due_on", "snoozed_from")) == {
        (D(2025, 3, 17), D(2025, 3, 10)),
        (D(2025, 3, 17), D(2025, 3, 11)),
    }


def test_snooze_shows_the_problem_and_changes_nothing(alice_client, alice):
    customer = make_customer(account_manager=alice)
    touchpoints = [make_touchpoint(customer=customer, due_on=D(2025, 3, day)) for day in (10, 20)]

    with time_machine.travel(NOON_UTC, tick=False):
        response = act(alice_client, "snooze", touchpoints, apply="Snooze", until="2025-03-15")

    assert response.status_code == 200
    assert "Nothing was snoozed" in response.content.decode()
    assert sorted(Touchpoint.objects.values_list("due_on", flat=True)) == [D(2025, 3, 10), D(2025, 3, 20)]


def test_snooze_applies_to_a_selection_across_pages(alice_client, alice):
    customer = make_customer(account_manager=alice)
    touchpoints = [make_touchpoint(customer=customer, due_on=D(2025, 3, day)) for day in (10, 11)]

    with time_machine.travel(NOON_UTC, tick=False):
        response = alice_client.post(
            TOUCHPOINTS,
            {
                # The admin posts the boxes of the page shown, plus select_across for "all N".
                "_selected_action": [touchpoints[0].pk],
                "action": "snooze",
                "select_across": "1",
                "index": "0",
                "apply": "Snooze",
                "until": "2025-04-01",
            },
            follow=True,
        )

    assert "Snoozed 2 touchpoints to 2025-04-01." in messages_of(response)
    assert {t.pk for t in touchpoints} == set(
        Touchpoint.objects.filter(due_on=D(2025, 4, 1)).values_list("pk", flat=True)
    )


def test_skip_asks_for_a_reason_then_skips(alice_client, alice):
    touchpoint = make_touchpoint(customer=make_customer(account_manager=alice))

    page = act(alice_client, "skip", [touchpoint])
    assert "Reason" in page.content.decode()
    blank = act(alice_client, "skip", [touchpoint], apply="Skip", reason="  ")
    assert "This field is required." in blank.content.decode()
    response = act(alice_client, "skip", [touchpoint], apply="Skip", reason="Moved abroad")

    assert "Skipped 1 touchpoint." in messages_of(response)
    touchpoint.refresh_from_db()
    assert (touchpoint.status, touchpoint.skip_reason) == ("skipped", "Moved abroad")


# --- The change page logs an outcome with notes --------------------------------------------


def test_the_change_page_logs_an_outcome_with_notes(alice_client, alice):
    touchpoint = make_touchpoint(customer=make_customer(account_manager=alice, phone="+64 9 555 0100"))
    url = reverse("admin:campaigns_touchpoint_change", args=[touchpoint.pk])

    page = alice_client.get(url)
    assert "+64 9 555 0100" in page.content.decode()
    response = alice_client.post(url, {"log_outcome": "reached", "log_notes": "Wants a brochure."})

    assert response.status_code == 302
    touchpoint.refresh_from_db()
    assert (touchpoint.status, touchpoint.outcome, touchpoint.notes) == ("done", "reached", "Wants a brochure.")
    assert touchpoint.completed_by == alice
    # Done: the page no longer offers to log it.
    assert "log_outcome" not in alice_client.get(url).content.decode()


def test_the_change_page_wants_an_outcome_with_notes(alice_client, alice):
    touchpoint = make_touchpoint(customer=make_customer(account_manager=alice))

    response = alice_client.post(
        reverse("admin:campaigns_touchpoint_change", args=[touchpoint.pk]), {"log_outcome": "", "log_notes": "Hello"}
    )

    assert response.status_code == 200
    assert "Choose how the call went" in response.content.decode()
    assert Touchpoint.objects.get(pk=touchpoint.pk).status == "pending"


def test_the_change_page_reports_an_outcome_someone_else_logged_meanwhile(alice_client, alice, bob, monkeypatch):
    touchpoint = make_touchpoint(customer=make_customer(account_manager=alice))
    real = touchpoint_log_outcome

    def bob_first(**kwargs):
        # Bob's click lands between our form check and our UPDATE.
        Touchpoint.objects.filter(pk=touchpoint.pk).update(status="done", outcome="voicemail", completed_by=bob)
        return real(**kwargs)

    monkeypatch.setattr("campaigns.admin.touchpoints.touchpoint_log_outcome", bob_first)
    url = reverse("admin:campaigns_touchpoint_change", args=[touchpoint.pk])

    response = alice_client.post(url, {"log_outcome": "reached", "log_notes": ""}, follow=True)

    assert any("already done (left a voicemail) by bob" in message for message in messages_of(response))
    touchpoint.refresh_from_db()
    # Alice's request rolled back as a whole (here Bob's write with it, as it ran inside it).
    assert touchpoint.outcome != "reached"


def test_an_admin_can_reassign_a_pending_touchpoint(superuser_client, alice, bob):
    touchpoint = make_touchpoint(customer=make_customer(account_manager=alice))

    response = superuser_client.post(
        reverse("admin:campaigns_touchpoint_change", args=[touchpoint.pk]), {"assignee": bob.pk, "log_outcome": ""}
    )

    assert response.status_code == 302
    touchpoint.refresh_from_db()
    assert touchpoint.assignee == bob
    assert touchpoint.status == "pending"


def test_customer_admin_lists_with_few_queries(superuser_client, django_assert_max_num_queries, alice):
    customers = [make_customer(account_manager=alice) for _ in range(10)]
    customers[0].tags.create(slug="vip", name="VIP")

    with django_assert_max_num_queries(12):
        assert superuser_client.get(CUSTOMERS).status_code == 200
