"""The roles created by migration, and what each may reach."""

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from campaigns.models import Batch, Card, CardDesign, Rule, Touchpoint
from nurture.models import Customer, Milestone, MilestoneKind
from nurture.roles import ACCOUNT_MANAGERS, ADMINISTRATORS, PRINT_ROOM
from tests.factories import PRINT_ROOM_PERMISSIONS, make_user

pytestmark = pytest.mark.django_db


def card_for(customer: Customer) -> Card:
    milestone = Milestone.objects.create(
        customer=customer, kind=MilestoneKind.objects.get(slug="became_customer"), date=dt.date(2025, 12, 1)
    )
    touchpoint = Touchpoint.objects.create(
        customer=customer,
        rule=Rule.objects.get(slug="anniversary-card"),
        milestone=milestone,
        milestone_date=milestone.date,
        occurs_on=dt.date(2026, 12, 1),
        due_on=dt.date(2026, 11, 26),
        kind="card",
    )
    return Card.objects.create(
        touchpoint=touchpoint,
        design=CardDesign.objects.order_by("pk")[0],
        message="Happy anniversary",
        recipient_name=customer.full_name,
        status="approved",
    )


def test_the_roles_exist_after_migrate_with_their_permissions():
    perms = {
        group.name: set(group.permissions.values_list("content_type__app_label", "codename"))
        for group in Group.objects.all()
    }
    assert ("nurture", "change_customer") in perms[ACCOUNT_MANAGERS]
    assert ("nurture", "view_all_customers") not in perms[ACCOUNT_MANAGERS]
    assert ("campaigns", "change_touchpoint") in perms[ACCOUNT_MANAGERS]
    assert ("campaigns", "print_cards") in perms[PRINT_ROOM]
    assert not {codename for app, codename in perms[PRINT_ROOM] if app == "nurture"}
    assert ("django_celery_beat", "change_periodictask") in perms[ADMINISTRATORS]
    assert ("campaigns", "change_cadence") in perms[ADMINISTRATORS]
    assert ("auth", "change_user") in perms[ADMINISTRATORS]


def test_the_print_room_sees_every_card_but_no_customer(client):
    # Members of the roles' groups, with no permission of their own: the groups grant what they may do.
    alice = make_user("alice", groups=[ACCOUNT_MANAGERS])
    pat = make_user("pat", groups=[PRINT_ROOM])
    customer = Customer.objects.create(first_name="Ada", last_name="Lovelace", account_manager=alice)
    card = card_for(customer)
    client.force_login(pat)

    cards = client.get(reverse("admin:campaigns_card_changelist"))
    assert cards.status_code == 200
    assert card in cards.context["cl"].result_list
    assert client.get(reverse("admin:campaigns_batch_changelist")).status_code == 200
    assert client.get(reverse("admin:nurture_customer_changelist")).status_code == 403
    assert client.get(reverse("admin:nurture_customer_change", args=[customer.pk])).status_code in (403, 404)


def test_an_account_manager_sees_only_their_own_cards(client):
    alice = make_user("alice", groups=[ACCOUNT_MANAGERS])
    bob = make_user("bob", groups=[ACCOUNT_MANAGERS])
    mine = card_for(Customer.objects.create(first_name="Ada", last_name="L", account_manager=alice))
    theirs = card_for(Customer.objects.create(first_name="Bea", last_name="B", account_manager=bob))
    client.force_login(alice)

    listed = list(client.get(reverse("admin:campaigns_card_changelist")).context["cl"].result_list)

    assert listed == [mine]
    assert client.get(reverse("admin:campaigns_card_change", args=[theirs.pk])).status_code == 404
    assert client.get(reverse("admin:campaigns_cadence_changelist")).status_code == 200
    assert client.get(reverse("admin:campaigns_cadence_add")).status_code == 403


def test_the_tests_print_room_persona_has_exactly_the_roles_permissions(print_room):
    group = Group.objects.get(name=PRINT_ROOM)
    granted = group.permissions.values_list("content_type__app_label", "codename")
    role = {f"{app}.{codename}" for app, codename in granted}
    assert set(PRINT_ROOM_PERMISSIONS) == role
    assert print_room.has_perm("campaigns.print_cards")


def test_a_print_room_member_batches_and_prints_every_managers_cards(client, monkeypatch):
    # Rendering is tested elsewhere (tests/campaigns/test_batches.py): here nothing is queued.
    monkeypatch.setattr("campaigns.tasks.render_batch_chunk.apply_async", lambda *args, **kwargs: None)
    alice = make_user("alice", groups=[ACCOUNT_MANAGERS])
    bob = make_user("bob", groups=[ACCOUNT_MANAGERS])
    pat = make_user("pat", groups=[PRINT_ROOM])  # the role as migrated, no permission of pat's own
    cards = [
        card_for(Customer.objects.create(first_name=name, last_name="L", account_manager=manager))
        for name, manager in (("Ada", alice), ("Bea", bob))
    ]
    Card.objects.filter(pk__in=[c.pk for c in cards]).update(status="approved", fits=True)
    client.force_login(pat)

    built = client.post(
        reverse("admin:campaigns_batch_build"),
        {"due_by": "2026-11-30", "sheet": "card", "labels": "l7160", "build": "1"},
    )
    assert built.status_code == 302, built.content.decode()[:2000]
    batch = Batch.objects.get()
    assert batch.card_count == 2  # both managers' cards
    Batch.objects.filter(pk=batch.pk).update(status="ready")  # as if its files were rendered

    printed = client.post(
        reverse("admin:campaigns_batch_changelist"), {"action": "mark_printed", "_selected_action": [batch.pk]}
    )
    assert printed.status_code == 302
    batch.refresh_from_db()
    assert batch.status == "printed"
    assert set(Card.objects.values_list("status", flat=True)) == {"printed"}
