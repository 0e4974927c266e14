"""The Today page: each role's content, scoping, bounded lists whose counts match, one-click actions."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from campaigns.models import Batch, Card, CardDesign, Touchpoint
from campaigns.selectors import today as today_module
from campaigns.selectors.today import calls_section, cards_section, mail_by_groups, today_page
from campaigns.services.cards import cards_draft_missing, cards_sync_mail_by
from campaigns.services.touchpoints import touchpoint_bulk_snooze, touchpoint_snooze
from nurture.models import CalendarFeed, Customer
from tests.factories import make_card_manager, make_customer, make_rule, make_touchpoint, make_user, messages_of

D = dt.date
TODAY = reverse("today")

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("at_noon_utc")]


def call(manager, *, due_on, time_zone="UTC", **fields):
    customer = fields.pop("customer", None) or make_customer(account_manager=manager, time_zone=time_zone)
    fields.setdefault("assignee", manager)
    return make_touchpoint(customer=customer, due_on=due_on, **fields)


def card(manager, *, due_on, status="draft", fits=True, customer=None):
    touchpoint = make_touchpoint(
        customer=customer or make_customer(account_manager=manager), kind="card", due_on=due_on, assignee=manager
    )
    return Card.objects.create(
        touchpoint=touchpoint,
        design=CardDesign.objects.order_by("pk")[0],
        message="Dear Ada,\n\nthank you for a wonderful year.",
        status=status,
        fits=fits,
        recipient_name=touchpoint.customer.full_name,
    )


def ids(bounded):
    return [row.touchpoint_id for row in bounded.rows]


# --- The account manager's calls ------------------------------------------------------------


def test_calls_due_today_and_overdue_follow_each_customers_time_zone(alice):
    k10 = call(alice, due_on=D(2025, 3, 10), time_zone="Pacific/Kiritimati")  # 11 March there: overdue
    k11 = call(alice, due_on=D(2025, 3, 11), time_zone="Pacific/Kiritimati")  # due today there
    p10 = call(alice, due_on=D(2025, 3, 10), time_zone="Pacific/Pago_Pago")  # due today there
    call(alice, due_on=D(2025, 3, 11), time_zone="Pacific/Pago_Pago")  # tomorrow there
    call(alice, due_on=D(2025, 3, 9), status="done", outcome="reached")
    call(alice, due_on=D(2025, 3, 9), kind="card")

    section = calls_section(user=alice)

    assert ids(section.due_today) == [p10.pk, k11.pk]
    assert ids(section.overdue) == [k10.pk]
    assert section.overdue.rows[0].days_overdue == 1
    assert (section.due_today.total, section.overdue.total) == (2, 1)


def test_the_reason_names_the_rule_and_the_milestone(alice):
    rule = make_rule(name="Two-week check-in")
    touchpoint = call(alice, due_on=D(2025, 3, 10), rule=rule)

    row = calls_section(user=alice).due_today.rows[0]

    assert row.reason == f"Two-week check-in · Became a customer on {touchpoint.milestone_date.isoformat()}"


def test_today_never_lists_another_managers_customers(alice, bob, alice_client):
    mine = call(alice, due_on=D(2025, 3, 10))
    call(bob, due_on=D(2025, 3, 10))
    # Assigned to alice, but the customer is bob's now: alice must not see it.
    call(alice, due_on=D(2025, 3, 10), customer=make_customer(account_manager=bob, last_name="Secret"))

    response = alice_client.get(TODAY)

    assert response.status_code == 200
    assert ids(response.context["page"].calls.due_today) == [mine.pk]
    assert "Secret" not in response.content.decode()


def test_a_list_is_bounded_and_says_how_many_there_are(alice, monkeypatch):
    monkeypatch.setattr(today_module, "CALLS_SHOWN", 3)
    calls = [call(alice, due_on=D(2025, 3, 10)) for _ in range(5)]

    section = calls_section(user=alice)

    assert ids(section.due_today) == [tp.pk for tp in calls[:3]]
    assert (section.due_today.total, section.due_today.truncated) == (5, True)


def test_a_truncated_list_shows_n_of_total_and_a_see_all_link(alice, alice_client, monkeypatch):
    monkeypatch.setattr(today_module, "CALLS_SHOWN", 2)
    for _ in range(3):
        call(alice, due_on=D(2025, 3, 10))

    html = alice_client.get(TODAY).content.decode()

    assert 'data-count="3">2 of 3<' in html.replace("\n", "").replace("  ", "")
    assert "See all 3" in html


def test_the_see_all_links_list_the_same_calls(alice, bob, alice_client):
    call(alice, due_on=D(2025, 3, 10))
    call(alice, due_on=D(2025, 3, 5))
    call(alice, due_on=D(2025, 3, 10), assignee=bob)  # alice's customer, bob's call: not in alice's queue
    call(bob, due_on=D(2025, 3, 10))
    section = calls_section(user=alice)

    for bounded in (section.due_today, section.overdue):
        response = alice_client.get(bounded.see_all_url)
        listed = [obj.pk for obj in response.context["cl"].result_list]
        assert listed == ids(bounded)


def test_a_count_past_the_cap_says_more_than_and_never_counts_further(alice, alice_client, monkeypatch):
    monkeypatch.setattr(today_module, "CALLS_SHOWN", 2)
    monkeypatch.setattr(today_module, "COUNT_CAP", 4)
    for _ in range(6):
        call(alice, due_on=D(2025, 3, 10))
    for _ in range(3):
        call(alice, due_on=D(2025, 3, 5))

    section = calls_section(user=alice)
    html = " ".join(alice_client.get(TODAY).content.decode().split())

    # Six due today: the count stops at the cap + 1 and the page says so; three overdue: counted.
    assert (section.due_today.total, section.due_today.capped) == (5, True)
    assert (section.overdue.total, section.overdue.capped) == (3, False)
    assert 'id="count-due-today">more than 4<' in html
    assert 'id="count-overdue">3<' in html
    assert 'class="see-all">See all &rsaquo;' in html and "See all more than" not in html


def test_the_counts_have_a_limit_and_no_order(alice, monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    monkeypatch.setattr(today_module, "CALLS_SHOWN", 1)
    for _ in range(3):
        call(alice, due_on=D(2025, 3, 5))

    with CaptureQueriesContext(connection) as queries:
        calls_section(user=alice)

    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert counts, "the overdue list is longer than shown, so it was counted"
    assert all(f"LIMIT {today_module.COUNT_CAP + 1}" in sql and "ORDER BY" not in sql for sql in counts), counts


def test_counts_are_not_queried_when_the_list_is_short(alice, django_assert_num_queries):
    call(alice, due_on=D(2025, 3, 10))
    call(alice, due_on=D(2025, 3, 1))
    alice.has_perm("nurture.view_all_customers")  # loads and caches the permissions

    with django_assert_num_queries(2):  # one query per list, no COUNT
        calls_section(user=alice)


def test_the_page_makes_a_fixed_number_of_queries(client, superuser):
    boss = superuser
    client.force_login(boss)

    def page_queries() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            assert client.get(TODAY).status_code == 200
        return len(queries)

    call(boss, due_on=D(2025, 3, 10))
    card(boss, due_on=D(2025, 3, 12))
    card(boss, due_on=D(2025, 3, 12), status="approved")
    few = page_queries()
    for day in range(1, 9):
        call(boss, due_on=D(2025, 3, day))
        card(boss, due_on=D(2025, 3, 10 + day))
        card(boss, due_on=D(2025, 3, 10 + day), status="approved")
    Batch.objects.create(due_by=D(2025, 3, 14), status="ready", card_count=3)

    assert page_queries() == few  # no query per row


# --- One-click outcome -------------------------------------------------------------------------


def test_an_outcome_is_logged_in_one_click_and_back_to_today(alice, alice_client):
    touchpoint = call(alice, due_on=D(2025, 3, 10))

    response = alice_client.post(
        reverse("today-log-outcome", args=[touchpoint.pk]), {"outcome": "no_answer"}, follow=True
    )

    assert response.redirect_chain[-1][0].startswith(TODAY)
    touchpoint.refresh_from_db()
    assert (touchpoint.status, touchpoint.outcome, touchpoint.completed_by) == ("done", "no_answer", alice)
    assert any("Logged “No answer”" in message for message in messages_of(response))
    assert ids(response.context["page"].calls.due_today) == []


def test_an_outcome_logged_twice_says_so(alice, alice_client):
    touchpoint = call(alice, due_on=D(2025, 3, 10), status="done", outcome="reached", completed_by=alice)

    response = alice_client.post(
        reverse("today-log-outcome", args=[touchpoint.pk]), {"outcome": "voicemail"}, follow=True
    )

    assert any("already done (reached) by alice" in message for message in messages_of(response))
    assert Touchpoint.objects.get(pk=touchpoint.pk).outcome == "reached"


def test_an_unknown_outcome_changes_nothing(alice, alice_client):
    touchpoint = call(alice, due_on=D(2025, 3, 10))

    response = alice_client.post(reverse("today-log-outcome", args=[touchpoint.pk]), {"outcome": "maybe"}, follow=True)

    assert any("Unknown outcome" in message for message in messages_of(response))
    assert Touchpoint.objects.get(pk=touchpoint.pk).status == "pending"


def test_another_managers_call_cannot_be_logged(bob, alice_client):
    theirs = call(bob, due_on=D(2025, 3, 10))

    response = alice_client.post(reverse("today-log-outcome", args=[theirs.pk]), {"outcome": "reached"})

    assert response.status_code == 404
    assert Touchpoint.objects.get(pk=theirs.pk).status == "pending"


def test_logging_needs_a_post_with_csrf(alice, client):
    touchpoint = call(alice, due_on=D(2025, 3, 10))
    url = reverse("today-log-outcome", args=[touchpoint.pk])
    client.force_login(alice)
    assert client.get(url).status_code == 405

    client.handler.enforce_csrf_checks = True
    assert client.post(url, {"outcome": "reached"}).status_code == 403
    assert Touchpoint.objects.get(pk=touchpoint.pk).status == "pending"


def test_a_user_who_may_only_view_cannot_log(client):
    viewer = make_user("viewer", perms=["nurture.view_customer", "campaigns.view_touchpoint"])
    touchpoint = call(viewer, due_on=D(2025, 3, 10))
    client.force_login(viewer)

    assert reverse("today-log-outcome", args=[touchpoint.pk]) not in client.get(TODAY).content.decode()
    assert client.post(reverse("today-log-outcome", args=[touchpoint.pk]), {"outcome": "reached"}).status_code == 403


# --- Cards waiting for approval ----------------------------------------------------------------


def test_an_account_manager_sees_their_draft_cards_soonest_first(card_manager, bob):
    later = card(card_manager, due_on=D(2025, 3, 20))
    sooner = card(card_manager, due_on=D(2025, 3, 12))
    card(card_manager, due_on=D(2025, 3, 11), status="approved")
    card(bob, due_on=D(2025, 3, 11))

    drafts = cards_section(user=card_manager).drafts

    assert [row.card_id for row in drafts.rows] == [sooner.pk, later.pk]
    assert drafts.total == 2


def test_an_account_managers_cards_are_those_of_their_open_touchpoints(card_manager, bob):
    mine = card(card_manager, due_on=D(2025, 3, 12))
    done = card(card_manager, due_on=D(2025, 3, 13))
    Touchpoint.objects.filter(pk=done.touchpoint_id).update(status="done")
    # A customer who moved to bob: planning.reassign hands bob the open touchpoint with the customer.
    moved = card(card_manager, due_on=D(2025, 3, 14))
    Customer.objects.filter(pk=moved.touchpoint.customer_id).update(account_manager=bob)
    Touchpoint.objects.filter(pk=moved.touchpoint_id).update(assignee=bob)

    assert [row.card_id for row in cards_section(user=card_manager).drafts.rows] == [mine.pk]
    assert [row.card_id for row in cards_section(user=bob).drafts.rows] == [moved.pk]


def test_a_customer_moved_to_another_manager_takes_their_cards_to_the_new_managers_today(card_manager, client):
    # Moved in the admin a moment ago: the planner has not re-planned the customer yet, so the
    # touchpoint is still assigned to carol.
    dave = make_card_manager("dave")
    customer = make_customer(account_manager=card_manager, first_name="Moira", last_name="Moved", company="Movers Ltd")
    moved = card(card_manager, due_on=D(2025, 3, 14), customer=customer)
    stays = card(card_manager, due_on=D(2025, 3, 15))
    Customer.objects.filter(pk=customer.pk).update(account_manager=dave)

    assert [row.card_id for row in cards_section(user=card_manager).drafts.rows] == [stays.pk]
    assert [row.card_id for row in cards_section(user=dave).drafts.rows] == [moved.pk]
    client.force_login(card_manager)
    html = client.get(TODAY).content.decode()
    assert "Moira Moved" not in html and "wonderful year" in html  # stays's card, not the moved one
    client.force_login(dave)
    assert "Moira Moved" in client.get(TODAY).content.decode()


def test_a_card_touchpoint_reassigned_to_another_manager_stays_with_the_customers_manager(card_manager, client):
    dave = make_card_manager("dave")
    customer = make_customer(account_manager=card_manager, first_name="Ada", last_name="Kept", company="Kept Co")
    kept = card(card_manager, due_on=D(2025, 3, 14), customer=customer)
    Touchpoint.objects.filter(pk=kept.touchpoint_id).update(assignee=dave)  # an administrator's reassignment

    assert [row.card_id for row in cards_section(user=dave).drafts.rows] == []
    assert [row.card_id for row in cards_section(user=card_manager).drafts.rows] == [kept.pk]
    client.force_login(dave)
    html = client.get(TODAY).content.decode()
    assert "Ada Kept" not in html and "wonderful year" not in html


def test_a_superuser_sees_every_customers_drafts_soonest_mail_by_first(card_manager, superuser):
    dave = make_card_manager("dave")
    later = card(card_manager, due_on=D(2025, 3, 20))
    sooner = card(dave, due_on=D(2025, 3, 12))
    unassigned = card(card_manager, due_on=D(2025, 3, 16), customer=make_customer(account_manager=None))

    assert [row.card_id for row in cards_section(user=superuser).drafts.rows] == [sooner.pk, unassigned.pk, later.pk]


def test_the_drafts_follow_a_snoozed_mail_by_date(card_manager):
    first = card(card_manager, due_on=D(2025, 3, 12))
    second = card(card_manager, due_on=D(2025, 3, 14))

    touchpoint_snooze(touchpoint=first.touchpoint, until=D(2025, 3, 20), by=card_manager)

    drafts = cards_section(user=card_manager).drafts.rows
    assert [(row.card_id, row.mail_by) for row in drafts] == [(second.pk, D(2025, 3, 14)), (first.pk, D(2025, 3, 20))]
    assert Card.objects.get(pk=first.pk).mail_by == D(2025, 3, 20)


def test_a_bulk_snooze_moves_the_cards_mail_by_dates(card_manager):
    cards = [card(card_manager, due_on=D(2025, 3, 12)), card(card_manager, due_on=D(2025, 3, 13))]

    touchpoint_bulk_snooze(touchpoints=[c.touchpoint for c in cards], until=D(2025, 3, 25), by=card_manager)

    assert set(Card.objects.filter(pk__in=[c.pk for c in cards]).values_list("mail_by", flat=True)) == {D(2025, 3, 25)}


def test_a_card_drafted_or_saved_gets_its_touchpoints_mail_by_date(card_manager):
    touchpoint = make_touchpoint(
        customer=make_customer(account_manager=card_manager),
        kind="card",
        due_on=D(2025, 3, 18),
        rule=make_rule(action="card"),
    )

    assert cards_draft_missing(check_fit_later=False) == 1
    assert Card.objects.get(touchpoint=touchpoint).mail_by == D(2025, 3, 18)
    assert card(card_manager, due_on=D(2025, 3, 19)).mail_by == D(2025, 3, 19)


def test_the_planner_repairs_a_mail_by_date_that_does_not_match(card_manager):
    stale = card(card_manager, due_on=D(2025, 3, 12))
    Card.objects.filter(pk=stale.pk).update(mail_by=None)  # drafted by the release before this column
    moved = card(card_manager, due_on=D(2025, 3, 13))
    Touchpoint.objects.filter(pk=moved.touchpoint_id).update(due_on=D(2025, 3, 30))  # changed by hand

    assert cards_sync_mail_by() == 2
    assert dict(Card.objects.filter(pk__in=[stale.pk, moved.pk]).values_list("pk", "mail_by")) == {
        stale.pk: D(2025, 3, 12),
        moved.pk: D(2025, 3, 30),
    }
    assert cards_sync_mail_by() == 0


def test_the_drafts_are_counted_along_their_order_up_to_a_cap_without_a_count(card_manager, client, monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    monkeypatch.setattr(today_module, "CARDS_SHOWN", 2)
    monkeypatch.setattr(today_module, "DRAFTS_COUNT_CAP", 3)
    for day in range(5):
        card(card_manager, due_on=D(2025, 3, 12 + day))

    with CaptureQueriesContext(connection) as queries:
        drafts = cards_section(user=card_manager).drafts

    assert (len(drafts.rows), drafts.total, drafts.capped, drafts.total_label) == (2, 4, True, "more than 3")
    assert not [q for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    client.force_login(card_manager)
    html = " ".join(client.get(TODAY).content.decode().split())
    assert 'id="count-drafts">more than 3<' in html


def test_a_card_is_approved_from_today(card_manager, client):
    draft = card(card_manager, due_on=D(2025, 3, 12))
    client.force_login(card_manager)

    response = client.post(reverse("today-approve-card", args=[draft.pk]), follow=True)

    assert Card.objects.get(pk=draft.pk).status == "approved"
    assert any("Approved the card" in message for message in messages_of(response))


def test_another_managers_card_cannot_be_approved(card_manager, bob, client):
    theirs = card(bob, due_on=D(2025, 3, 12))
    client.force_login(card_manager)

    assert client.post(reverse("today-approve-card", args=[theirs.pk])).status_code == 404
    assert Card.objects.get(pk=theirs.pk).status == "draft"


def test_a_card_that_does_not_fit_is_not_offered_for_approval(card_manager, client):
    unfit = card(card_manager, due_on=D(2025, 3, 12), fits=False)
    client.force_login(card_manager)

    html = client.get(TODAY).content.decode()

    assert reverse("today-approve-card", args=[unfit.pk]) not in html
    assert "does not fit" in html


# --- The print room ----------------------------------------------------------------------------


def test_the_print_room_sees_approved_cards_by_mail_by_date(print_room, alice):
    for due_on in (D(2025, 3, 7), D(2025, 3, 12), D(2025, 3, 12)):
        card(alice, due_on=due_on, status="approved")
    card(alice, due_on=D(2025, 3, 12), status="approved", fits=None)
    card(alice, due_on=D(2025, 3, 12))  # a draft: not the print room's yet
    paused = make_customer(account_manager=alice, status="paused")
    card(alice, due_on=D(2025, 3, 12), status="approved", customer=paused)

    groups, dates, cards = mail_by_groups(today=D(2025, 3, 10))

    assert [(g.mail_by, g.cards, g.unchecked, g.late) for g in groups] == [
        (D(2025, 3, 7), 1, 0, True),
        (D(2025, 3, 12), 3, 1, False),
    ]
    assert (dates, cards) == (2, 4)


def test_the_mail_by_dates_are_bounded_with_totals(alice, monkeypatch):
    monkeypatch.setattr(today_module, "MAIL_BY_DATES_SHOWN", 2)
    for day in (11, 12, 13, 13):
        card(alice, due_on=D(2025, 3, day), status="approved")

    groups, dates, cards = mail_by_groups(today=D(2025, 3, 10))

    assert [g.mail_by.day for g in groups] == [11, 12]
    assert (dates, cards) == (3, 4)


def test_the_print_room_queue_is_counted_up_to_a_cap_with_a_limit(print_room, alice, client, monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    monkeypatch.setattr(today_module, "QUEUE_COUNT_CAP", 3)
    for day in (11, 12, 13, 13, 14):
        card(alice, due_on=D(2025, 3, day), status="approved", fits=None if day == 13 else True)

    with CaptureQueriesContext(connection) as queries:
        groups, dates, cards = mail_by_groups(today=D(2025, 3, 10))

    # The first 4 cards by mail-by date: the 11th and 12th whole, the 13th's two as far as counted.
    assert [(g.mail_by.day, g.cards, g.unchecked, g.partial) for g in groups] == [
        (11, 1, 0, False),
        (12, 1, 0, False),
        (13, 2, 2, True),
    ]
    assert (dates, cards) == (3, 4)
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert len(counts) == 1 and "LIMIT 4" in counts[0], counts
    client.force_login(print_room)
    html = " ".join(client.get(TODAY).content.decode().split())
    assert 'id="count-to-print">more than 3<' in html
    assert "<strong>2+</strong>" in html
    assert "Counted up to the first 3 cards" in html


def test_the_print_room_queue_count_has_a_limit_at_the_admin_cap(alice):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    card(alice, due_on=D(2025, 3, 12), status="approved")
    with CaptureQueriesContext(connection) as queries:
        groups, dates, cards = mail_by_groups(today=D(2025, 3, 10))

    assert (dates, cards, groups[0].partial) == (1, 1, False)
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert counts and all(f"LIMIT {today_module.COUNT_CAP + 1}" in sql for sql in counts), counts


def test_the_print_room_page_has_the_queue_and_batches_but_no_calls(print_room, alice, client):
    card(alice, due_on=D(2025, 3, 12), status="approved")
    call(alice, due_on=D(2025, 3, 10))
    ready = Batch.objects.create(due_by=D(2025, 3, 14), status="ready", card_count=3)
    Batch.objects.create(due_by=D(2025, 3, 1), status="mailed", card_count=9)
    client.force_login(print_room)

    response = client.get(TODAY)

    page = response.context["page"]
    assert (page.calls, page.cards) == (None, None)
    assert [row.batch_id for row in page.print_room.batches.rows] == [ready.pk]
    html = response.content.decode()
    assert reverse("admin:campaigns_batch_download", args=[ready.pk, "cards"]) in html
    assert 'data-mail-by="2025-03-12" data-cards="1"' in html
    assert alice.username not in html


def test_a_print_room_user_cannot_open_a_customer(print_room, alice, client):
    customer = make_customer(account_manager=alice, last_name="Private")
    client.force_login(print_room)

    response = client.get(reverse("admin:nurture_customer_change", args=[customer.pk]))

    # 404 while the print room sees no customer at all, 403 if it is ever allowed to see them all.
    assert response.status_code in (403, 404)
    assert "Private" not in response.content.decode()


def test_the_batch_button_opens_the_build_page_for_that_date(print_room, alice, client):
    card(alice, due_on=D(2025, 3, 12), status="approved")
    client.force_login(print_room)

    response = client.post(
        reverse("admin:campaigns_batch_build"),
        {"due_by": "2025-03-12", "sheet": "card", "labels": "l7160", "count": "1"},
    )

    assert response.status_code == 200
    assert response.context["qualifying"] == 1
    assert not Batch.objects.exists()


# --- Who sees what -----------------------------------------------------------------------------


def test_a_superuser_sees_both_sections(superuser_client):
    page = superuser_client.get(TODAY).context["page"]

    assert page.calls is not None and page.cards is not None and page.print_room is not None


def test_a_user_without_a_role_is_told_so(staff_client):
    response = staff_client.get(TODAY)

    assert response.status_code == 200
    assert "Ask an administrator for a role" in response.content.decode()


def test_today_needs_a_staff_login(client):
    response = client.get(TODAY)
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


def test_the_site_root_and_the_admin_home_lead_to_today(alice_client):
    assert alice_client.get("/")["Location"] == TODAY
    assert TODAY in alice_client.get(reverse("admin:index")).content.decode()


def test_today_page_selector_picks_sections_by_permission(alice, print_room):
    assert today_page(user=alice).print_room is None
    assert today_page(user=alice).calls is not None
    assert today_page(user=print_room).calls is None


# --- My calendar feed --------------------------------------------------------------------------


def test_my_calendar_feed_shows_the_absolute_private_url(alice, alice_client):
    response = alice_client.get(reverse("my-calendar-feed"))

    feed = CalendarFeed.objects.get(user=alice)
    assert response.status_code == 200
    assert f"http://testserver/feeds/calls/{feed.token}.ics" in response.content.decode()
    assert reverse("my-calendar-feed") in alice_client.get(TODAY).content.decode()


def test_resetting_the_feed_replaces_the_url(alice, alice_client):
    alice_client.get(reverse("my-calendar-feed"))
    old = CalendarFeed.objects.get(user=alice).token

    response = alice_client.post(reverse("my-calendar-feed"), follow=True)

    new = CalendarFeed.objects.get(user=alice).token
    assert new != old
    assert new in response.content.decode()
    assert alice_client.get(reverse("calendar-feed", args=[old])).status_code == 404
    assert alice_client.get(reverse("calendar-feed", args=[new])).status_code == 200


def test_the_feed_page_is_for_people_with_calls(print_room, client):
    client.force_login(print_room)
    assert client.get(reverse("my-calendar-feed")).status_code == 403
