"""seed_demo: demo users and customers, deterministic and idempotent."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError
from django.http import HttpRequest
from django.utils import timezone

from campaigns.management.commands import seed_demo
from campaigns.models import Cadence, HealthSnapshot, ReportDay, Touchpoint
from campaigns.selectors.reports import REPORTS
from campaigns.selectors.reports.base import resolve_filters
from campaigns.services import planning
from nurture.lib.calendar import validate_country_region, validate_time_zone
from nurture.models import Customer, Milestone

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]


def seed(**options):
    out = StringIO()
    call_command("seed_demo", no_plan=True, stdout=out, **options)
    return out.getvalue()


def counts():
    return (
        Customer.objects.count(),
        Milestone.objects.count(),
        Customer.tags.through.objects.count(),
        get_user_model().objects.count(),
        Group.objects.count(),
    )


def test_it_creates_the_demo_users(client):
    output = seed(customers=3)

    User = get_user_model()
    admin, alice = User.objects.get(username="admin"), User.objects.get(username="alice")
    assert admin.is_superuser and admin.is_staff
    assert alice.is_staff and not alice.is_superuser
    assert alice.groups.get().name == "Account managers"
    assert alice.has_perm("nurture.change_customer") and alice.has_perm("campaigns.change_touchpoint")
    assert not alice.has_perm("nurture.view_all_customers")
    assert "http://localhost:8000/admin/" in output
    assert "nurture-demo-alice" in output
    assert client.login(request=HttpRequest(), username="bob", password="nurture-demo-bob")


def test_it_creates_customers_with_milestones_and_managers():
    seed(customers=30)

    assert Customer.objects.count() == 30
    assert set(Customer.objects.values_list("account_manager__username", flat=True)) == {"alice", "bob"}
    assert Milestone.objects.filter(kind__slug="became_customer").count() == 30
    four_years_ago = dt.date.today() - dt.timedelta(days=4 * 365 + 2)
    assert not Milestone.objects.filter(kind__slug="became_customer", date__lt=four_years_ago).exists()
    assert Milestone.objects.exclude(kind__slug="became_customer").exists()
    assert Customer.objects.filter(external_id="DEMO-0001").exists()
    for customer in Customer.objects.all():
        customer.full_clean()  # valid time zone, country and region


def test_running_it_twice_creates_nothing_new():
    seed(customers=12)
    first = counts()

    output = seed(customers=12)

    assert counts() == first
    assert "0 created, 12 already there" in output


def test_more_customers_later_adds_only_the_missing_ones():
    seed(customers=5)
    five = Customer.objects.get(external_id="DEMO-0005")

    seed(customers=8)

    assert Customer.objects.count() == 8
    assert Customer.objects.get(external_id="DEMO-0005").last_name == five.last_name


def test_a_customer_is_the_same_whatever_the_run():
    today = dt.date(2025, 3, 10)
    assert seed_demo.customer_spec(7, today) == seed_demo.customer_spec(7, today)
    assert seed_demo.customer_spec(7, today) != seed_demo.customer_spec(8, today)


@pytest.mark.parametrize("place", seed_demo.PLACES, ids=lambda p: f"{p.country}-{p.region}")
def test_every_place_has_a_known_calendar(place):
    validate_country_region(place.country, place.region)
    validate_time_zone(place.time_zone)


def test_it_plans_touchpoints_with_a_history_at_the_end():
    out = StringIO()

    call_command("seed_demo", customers=40, stdout=out)

    created = Touchpoint.objects.count()
    assert created > 0
    assert f"Planner: {created} touchpoints created" in out.getvalue()
    # The first plan ran three weeks back, so the demo starts with work already overdue.
    assert Touchpoint.objects.overdue().exists()
    last = planning.last_completed_sweep()
    assert last is not None
    assert last.as_of == timezone.localdate()


def test_it_scores_health_once_so_the_demo_shows_scores_and_the_health_report(superuser_client):
    out = StringIO()

    call_command("seed_demo", customers=20, stdout=out)

    today = timezone.localdate()
    # Churned customers are not scored.
    scored = Customer.objects.exclude(status=Customer.Status.CHURNED).count()
    assert scored > 0
    assert HealthSnapshot.objects.filter(date=today).count() == scored
    assert f"Health: {scored} customers scored as of {today.isoformat()}" in out.getvalue()
    # The health report is not empty: every customer is counted in a band (or as not scored).
    report = REPORTS["health"].build(resolve_filters(viewer=None))
    assert sum(sum(int(cell or 0) for cell in row[1:]) for row in report.tables[0].rows) == scored
    # The reports' daily figures were written too.
    assert ReportDay.objects.exists()
    # A customer page shows the score and its band.
    current = HealthSnapshot.objects.filter(score__isnull=False).first()
    assert current is not None
    page = superuser_client.get(f"/admin/nurture/customer/{current.customer_id}/change/").content.decode()
    assert 'id="health-band"' in page and f"as of {today:%-d %b %Y}" in page


def test_it_shows_progress_for_many_customers(monkeypatch):
    monkeypatch.setattr(seed_demo, "BATCH_SIZE", 4)

    output = seed(customers=10)

    assert "  4/10 customers" in output
    assert "  10/10 customers" in output
    assert Customer.objects.count() == 10


def test_it_refuses_a_negative_count():
    with pytest.raises(CommandError, match="must not be negative"):
        seed(customers=-1)


def test_it_never_changes_an_existing_users_password_flags_or_groups():
    User = get_user_model()
    alice = User.objects.create_user("alice", password="her-own", is_staff=False)
    admin = User.objects.create_user("admin", password="the-real-one", is_staff=True)
    printing = Group.objects.get(name="Print room")
    alice.groups.add(printing)

    output = seed(customers=2)

    alice, admin = User.objects.get(username="alice"), User.objects.get(username="admin")
    assert alice.check_password("her-own") and not alice.is_staff and not alice.is_superuser
    assert list(alice.groups.all()) == [printing]
    assert admin.check_password("the-real-one") and not admin.is_superuser
    assert "Demo users created: bob, pat." in output
    assert "Demo users skipped, they already exist: admin, alice" in output
    # Where to log in still printed, without claiming the demo passwords work for the users it skipped.
    assert "nurture-demo-bob" in output
    assert "nurture-demo-admin" not in output and "nurture-demo-alice" not in output
    assert "admin  existed before seed_demo: log in with its own password" in output
    assert "alice  existed before seed_demo, and may not log in to the admin" in output


def test_running_it_twice_keeps_the_passwords_and_prints_where_to_log_in(client):
    seed(customers=3)
    User = get_user_model()
    bob = User.objects.get(username="bob")
    bob.set_password("bobs-choice")
    bob.save()

    output = seed(customers=3)

    assert "0 created, 3 already there" in output
    assert "Demo users skipped, they already exist: admin, alice, bob, pat" in output
    assert "Log in at http://localhost:8000/admin/ as:" in output
    assert "password nurture-demo-alice" in output  # untouched since the first run: still the demo one
    assert "bob    existed before seed_demo: log in with its own password" in output
    assert client.login(request=HttpRequest(), username="bob", password="bobs-choice")
    assert client.login(request=HttpRequest(), username="alice", password="nurture-demo-alice")


def test_it_refuses_a_database_with_customers_it_did_not_create():
    Customer.objects.create(external_id="CRM-1", first_name="Real", last_name="Customer")
    before = counts()

    with pytest.raises(CommandError, match="--force") as refused:
        seed(customers=3)

    assert "CRM-1" in str(refused.value)
    assert counts() == before  # not even the demo users


def test_it_adds_demo_data_to_someone_elses_database_with_force():
    Customer.objects.create(external_id="CRM-1", first_name="Real", last_name="Customer")

    seed(customers=3, force=True)

    assert Customer.objects.filter(external_id__startswith="DEMO-").count() == 3
    assert Customer.objects.filter(external_id="CRM-1").exists()


def test_it_adds_the_seasonal_cadences_once_and_gives_some_customers_a_tier():
    seed(customers=40)
    cadences = dict(Cadence.objects.filter(anchor__in=["annual", "holiday"]).values_list("name", "anchor"))
    assert cadences == {"Season's greetings": "annual", "Thanksgiving (US)": "holiday"}
    assert Cadence.objects.get(name="Thanksgiving (US)").country_list == ["US"]
    assert Customer.objects.exclude(tier="").exists()
    assert set(Customer.objects.values_list("tier", flat=True)) <= {"", "gold", "silver"}

    Cadence.objects.filter(name="Season's greetings").update(active=False)
    seed(customers=40)
    assert Cadence.objects.filter(anchor__in=["annual", "holiday"]).count() == 2
    assert not Cadence.objects.get(name="Season's greetings").active  # left as the administrator set it
