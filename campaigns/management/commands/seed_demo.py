"""Demo data: users, customers in six places, milestones over the last four years.

Deterministic (customer number n is always the same person, whatever --customers says) and
idempotent: customers are keyed on external IDs DEMO-0001, DEMO-0002, ...; running again adds only
the customers that are missing and never duplicates a milestone. The demo users are created only
when missing: an existing user's password, flags and groups are never changed (the run says which
it left alone). A database holding customers the command did not create (external IDs not like
DEMO-0001) gets no demo data unless --force is given.
"""

from __future__ import annotations

import datetime as dt
import random
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import check_password
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone
from faker import Faker

from campaigns.models import Cadence, Card, CardDesign, Rule
from campaigns.services import health, planning
from campaigns.services.cards import card_bulk_approve, cards_draft_missing
from campaigns.services.report_figures import report_figures_record
from nurture import roles
from nurture.models import Customer, Milestone, MilestoneKind, StaffProfile, Tag
from nurture.roles import ensure_roles

LOGIN_URL = "http://localhost:8000/admin/"
BATCH_SIZE = 1000

SUPERUSER = "superuser"
# Demo credentials, printed at the end of every run; not for production.
DEMO_USERS = [
    # username, password, first name, last name, role
    ("admin", "nurture-demo-admin", "Ada", "Admin", SUPERUSER),
    ("alice", "nurture-demo-alice", "Alice", "Archer", roles.ACCOUNT_MANAGERS),
    ("bob", "nurture-demo-bob", "Bob", "Baker", roles.ACCOUNT_MANAGERS),
    ("pat", "nurture-demo-pat", "Pat", "Printer", roles.PRINT_ROOM),
]
ACCOUNT_MANAGERS = ["alice", "bob"]

MILESTONE_KINDS = {
    "became_customer": "Became a customer",
    "job_placement": "Placed in a job",
    "renewal": "Renewal date",
    "birthday": "Birthday",
}
TAGS = {"vip": "VIP", "referral": "Referral", "enterprise": "Enterprise"}
TIERS = (("gold", 0.1), ("silver", 0.25))

# Seasonal cadences (docs/calendar-rules.md, rule 7): created when missing, never changed after.
# name, anchor fields, segment, (rule slug, rule name, lead days, message)
SEASONAL_CADENCES: list[tuple[str, dict[str, Any], tuple[str, str, int, str]]] = [
    (
        "Season's greetings",
        {"anchor": "annual", "anchor_month": 12, "anchor_day": 1},
        ("seasons-greetings-card", "Season's greetings card", 5, "Season's greetings, {{ first_name }}!"),
    ),
    (
        "Thanksgiving (US)",
        {"anchor": "holiday", "anchor_holiday": "Thanksgiving", "countries": "US"},
        ("thanksgiving-card", "Thanksgiving card", 3, "Happy Thanksgiving, {{ first_name }}, and thank you."),
    ),
]


@dataclass(frozen=True)
class Place:
    country: str
    region: str
    time_zone: str
    locale: str
    cities: tuple[str, ...]
    postcodes: tuple[int, int, int]  # first, last, digits; (0, 0, 0): the locale's own postcodes
    weight: int


US_CA = ("Los Angeles", "San Francisco", "San Diego", "Oakland")
US_NY = ("New York", "Brooklyn", "Buffalo", "Rochester", "Albany")
PLACES = [
    Place("US", "CA", "America/Los_Angeles", "en_US", US_CA, (90001, 96162, 5), 4),
    Place("US", "NY", "America/New_York", "en_US", US_NY, (10001, 14925, 5), 4),
    Place("GB", "", "Europe/London", "en_GB", ("London", "Manchester", "Bristol", "Leeds"), (0, 0, 0), 3),
    Place(
        "DE", "BY", "Europe/Berlin", "de_DE", ("München", "Nürnberg", "Augsburg", "Regensburg"), (80331, 97909, 5), 3
    ),
    Place(
        "AU", "NSW", "Australia/Sydney", "en_AU", ("Sydney", "Newcastle", "Wollongong", "Penrith"), (2000, 2999, 4), 2
    ),
    Place(
        "NZ", "", "Pacific/Auckland", "en_NZ", ("Auckland", "Wellington", "Christchurch", "Hamilton"), (600, 9999, 4), 1
    ),
]
STATUSES = [
    (Customer.Status.ACTIVE, 88),
    (Customer.Status.PAUSED, 5),
    (Customer.Status.DO_NOT_CONTACT, 4),
    (Customer.Status.CHURNED, 3),
]


@dataclass
class CustomerSpec:
    """One demo customer, computed from its number and today's date alone."""

    external_id: str
    fields: dict[str, Any]
    account_manager: str
    tags: list[str]
    milestones: list[tuple[str, dt.date]] = field(default_factory=list)


# Every demo customer's external ID matches this (external_id() below); any other is someone's data.
DEMO_EXTERNAL_ID = r"^DEMO-[0-9]{4,}$"


def external_id(number: int) -> str:
    return f"DEMO-{number:04d}"


def foreign_customers() -> Any:
    """The customers seed_demo did not create."""
    return Customer.objects.exclude(external_id__regex=DEMO_EXTERNAL_ID)


def _ascii(text: str) -> str:
    """ "Müller-Lüdenscheidt, Inc." -> "muller-ludenscheidtinc": a plausible e-mail address part."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return "".join(char for char in plain if char.isalnum() or char == "-").strip("-") or "x"


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def customer_spec(number: int, today: dt.date) -> CustomerSpec:
    rng = random.Random(f"nurture-demo-{number}")
    place = rng.choices(PLACES, weights=[p.weight for p in PLACES])[0]
    fake = Faker(place.locale)
    fake.seed_instance(rng.getrandbits(32))

    first_name, last_name = fake.first_name(), fake.last_name()
    company = fake.company() if rng.random() < 0.7 else ""
    domain = _ascii(company.split()[0]) + ".example" if company else "mail.example"
    street = fake.street_address().replace("\r", "").split("\n")
    first, last, digits = place.postcodes
    postal_code = str(rng.randint(first, last)).zfill(digits) if digits else fake.postcode()
    status = rng.choices([s for s, _ in STATUSES], weights=[w for _, w in STATUSES])[0]

    # Every customer became one in the last four years. Some did so recently, so that the demo has
    # welcome calls (14 days after) to make: every 15th exactly 14 days ago, for calls due today.
    roll = rng.random()
    if number % 15 == 0:
        days_ago = 14
    elif roll < 0.15:
        days_ago = rng.randint(0, 21)
    elif roll < 0.25:
        days_ago = rng.randint(22, 200)
    else:
        days_ago = rng.randint(201, 4 * 365)
    became = today - dt.timedelta(days=days_ago)
    milestones = [("became_customer", became)]
    if rng.random() < 0.35:
        placed = became + dt.timedelta(days=rng.randint(14, 400))
        if placed <= today:
            milestones.append(("job_placement", placed))
    if rng.random() < 0.3:
        years = max(1, (today - became).days // 365)
        milestones.append(("renewal", _add_years(became, years)))
    if rng.random() < 0.4:
        milestones.append(("birthday", dt.date(rng.randint(1955, 2001), rng.randint(1, 12), rng.randint(1, 28))))

    tags = [slug for slug, share in (("vip", 0.15), ("referral", 0.2)) if rng.random() < share]
    if company and rng.random() < 0.15:
        tags.append("enterprise")
    # Drawn last: every earlier field of a customer stays what it was before tiers existed.
    roll, tier = rng.random(), ""
    for slug, share in TIERS:
        if roll < share:
            tier = slug
            break
        roll -= share

    return CustomerSpec(
        external_id=external_id(number),
        fields={
            "first_name": first_name,
            "last_name": last_name,
            "company": company,
            "email": f"{_ascii(first_name)}.{_ascii(last_name)}@{domain}",
            "phone": fake.phone_number(),
            "address_line1": street[0],
            "address_line2": ", ".join(street[1:]),
            "city": rng.choice(place.cities),
            "region": place.region,
            "postal_code": postal_code,
            "country": place.country,
            "time_zone": place.time_zone,
            "status": status,
            "tier": tier,
        },
        account_manager=rng.choice(ACCOUNT_MANAGERS),
        tags=tags,
        milestones=milestones,
    )


def ensure_users() -> tuple[dict[str, Any], list[str]]:
    """The demo users in their roles (the groups come from nurture/migrations/0009_roles.py).

    Only the missing ones are created: a user who exists (a demo user of an earlier run, or a real
    person of that name) keeps their password, flags, groups and profile. Returns the users by name
    and the names of those created now.
    """
    ensure_roles(Group, Permission)
    User = get_user_model()
    users = {}
    created = []
    for username, password, first_name, last_name, role in DEMO_USERS:
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User(username=username, first_name=first_name, last_name=last_name)
            user.email = f"{username}@example.com"
            user.is_staff = user.is_active = True
            user.is_superuser = role == SUPERUSER
            user.set_password(password)
            user.save()
            if role != SUPERUSER:
                user.groups.add(Group.objects.get(name=role))
            StaffProfile.objects.get_or_create(
                user=user, defaults={"signature": f"Warm regards,\n{first_name} {last_name}"}
            )
            created.append(username)
        users[username] = user
    for username in ACCOUNT_MANAGERS:
        if username in created:
            StaffProfile.objects.filter(user=users[username], lead__isnull=True).update(lead=users["admin"])
    return users, created


def can_log_in_as_printed(user: Any, password: str) -> bool:
    """Whether the printed demo credentials open the admin (an existing user may have changed them).

    hashers.check_password without a setter: checking never rewrites the stored hash.
    """
    return bool(user.is_active and user.is_staff and check_password(password, user.password))


def ensure_reference_data() -> tuple[dict[str, MilestoneKind], dict[str, Tag]]:
    kinds = {
        slug: MilestoneKind.objects.get_or_create(slug=slug, defaults={"name": name})[0]
        for slug, name in MILESTONE_KINDS.items()
    }
    tags = {slug: Tag.objects.get_or_create(slug=slug, defaults={"name": name})[0] for slug, name in TAGS.items()}
    return kinds, tags  # fmt: skip


def ensure_seasonal_cadences() -> list[str]:
    """The demo's seasonal cadences, created when missing (by name); returns the names created."""
    design = CardDesign.objects.order_by("pk").first()
    created: list[str] = []
    for name, anchor, (slug, rule_name, lead_days, message) in SEASONAL_CADENCES:
        cadence, new = Cadence.objects.get_or_create(name=name, defaults=anchor)
        if not new:
            continue
        created.append(name)
        Rule.objects.get_or_create(
            slug=slug,
            defaults={
                "cadence": cadence,
                "name": rule_name,
                "action": Rule.Action.CARD,
                "card_lead_days": lead_days,
                "card_design": design,
                "message_template": message,
            },
        )
    return created


def create_customers(
    specs: list[CustomerSpec], *, users: dict[str, Any], kinds: dict[str, MilestoneKind], tags: dict[str, Tag]
) -> tuple[int, int]:
    """Create the customers that do not exist yet, with their milestones and tags.

    Returns (customers created, milestones created). Existing customers are left as they are.
    """
    keys = [spec.external_id for spec in specs]
    existing = set(Customer.objects.filter(external_id__in=keys).values_list("external_id", flat=True))
    new = [spec for spec in specs if spec.external_id not in existing]
    if not new:
        return 0, 0
    # bulk_create sends no signals: the planner runs once at the end instead of per customer.
    Customer.objects.bulk_create(
        [
            Customer(external_id=spec.external_id, account_manager=users[spec.account_manager], **spec.fields)
            for spec in new
        ]
    )
    ids = dict(Customer.objects.filter(external_id__in=[s.external_id for s in new]).values_list("external_id", "pk"))
    milestones = [
        Milestone(customer_id=ids[spec.external_id], kind=kinds[kind], date=day)
        for spec in new
        for kind, day in spec.milestones
    ]
    Milestone.objects.bulk_create(milestones)
    Through = Customer.tags.through
    Through.objects.bulk_create(
        [Through(customer_id=ids[spec.external_id], tag_id=tags[slug].pk) for spec in new for slug in spec.tags]
    )
    return len(new), len(milestones)


class Command(BaseCommand):
    help = (
        "Create demo users, customers and milestones (idempotent), plan their touchpoints, score their health "
        "and write the reports' daily figures."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--customers", type=int, default=60, help="How many demo customers (default 60).")
        parser.add_argument("--no-plan", action="store_true", help="Do not run the planner afterwards.")
        parser.add_argument(
            "--force",
            action="store_true",
            help="Add demo data even to a database holding customers seed_demo did not create.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        count: int = options["customers"]
        if count < 0:
            raise CommandError(f"--customers {count} must not be negative")
        today = timezone.localdate()
        created = milestones = 0
        with transaction.atomic():
            if not options["force"]:
                foreign = foreign_customers().values_list("external_id", flat=True).first()
                if foreign is not None:
                    raise CommandError(
                        f"This database holds customers seed_demo did not create (e.g. external ID {foreign!r}; "
                        "demo customers are DEMO-0001, DEMO-0002, ...): no demo users or customers were added. "
                        "Run seed_demo --force to add them anyway."
                    )
            users, new_users = ensure_users()
            kinds, tags = ensure_reference_data()
            seasonal = ensure_seasonal_cadences()
            for start in range(1, count + 1, BATCH_SIZE):
                numbers = range(start, min(count, start + BATCH_SIZE - 1) + 1)
                batch = create_customers(
                    [customer_spec(n, today) for n in numbers], users=users, kinds=kinds, tags=tags
                )
                created += batch[0]
                milestones += batch[1]
                if count > BATCH_SIZE:
                    self.stdout.write(f"  {numbers[-1]}/{count} customers")
        skipped = [username for username in users if username not in new_users]
        if new_users:
            self.stdout.write(f"Demo users created: {', '.join(new_users)}.")
        if skipped:
            self.stdout.write(
                f"Demo users skipped, they already exist: {', '.join(skipped)} "
                "(their passwords, flags and groups were left as they are)."
            )
        if seasonal:
            self.stdout.write(f"Seasonal cadences created: {', '.join(seasonal)}.")
        self.stdout.write(
            f"Demo customers: {created} created, {count - created} already there; {milestones} milestones created."
        )
        if not options["no_plan"]:
            self.plan()
        self.score_and_record(today)
        self.stdout.write(f"\nLog in at {LOGIN_URL} as:")
        for username, password, _, _, role in DEMO_USERS:
            if username in new_users or can_log_in_as_printed(users[username], password):
                self.stdout.write(f"  {username:<6} password {password:<14} ({role.lower()})")
            elif users[username].is_active and users[username].is_staff:
                self.stdout.write(f"  {username:<6} existed before seed_demo: log in with its own password")
            else:
                self.stdout.write(f"  {username:<6} existed before seed_demo, and may not log in to the admin")

    def plan(self) -> None:
        created = cancelled = 0
        if planning.last_completed_sweep() is None:
            # A first plan three weeks back, as if nurture had been running: the demo then has
            # overdue calls and cards waiting, not only a future.
            earlier = planning.plan(now=timezone.now() - dt.timedelta(days=21))
            created, cancelled = earlier.created, earlier.cancelled
        result = planning.plan()
        drafted = cards_draft_missing()
        approved = self.approve_soon_due_cards()
        self.stdout.write(
            f"Planner: {created + result.created} touchpoints created, {cancelled + result.cancelled} cancelled "
            f"(planned up to {result.window_end}); {drafted} cards drafted, {approved} approved for the print room."
        )

    def score_and_record(self, today: dt.date) -> None:
        """Score everyone's health once (as score_health does), so that the customer pages show a
        score and the health report has figures, then write the reports' missing daily figures
        (as record_report_figures does): a fresh demo has reports that are not empty."""
        scored = health.health_score_day(as_of=today)
        written = report_figures_record(today=today)
        self.stdout.write(
            f"Health: {scored.scored} customers scored as of {today.isoformat()}; "
            f"report figures: {sum(written.values())} days written."
        )

    def approve_soon_due_cards(self) -> int:
        """As the account managers would: approve the drafts due within a week, so that the print
        room has a batch to build while the later ones wait on the managers' Today pages."""
        week = timezone.localdate() + dt.timedelta(days=7)
        soon = Card.objects.drafts().filter(touchpoint__due_on__lte=week, touchpoint__assignee__isnull=False)
        approved = 0
        for manager_id in sorted(set(soon.order_by().values_list("touchpoint__assignee_id", flat=True))):
            manager = get_user_model().objects.get(pk=manager_id)
            approved += card_bulk_approve(cards=soon.filter(touchpoint__assignee_id=manager_id), by=manager).approved
        return approved
