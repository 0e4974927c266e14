"""Small factories for tests: plain ORM rows with sensible defaults."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db.models import Count

from campaigns.models import Cadence, HealthSnapshot, Rule, Touchpoint
from nurture.models import Customer, Milestone, MilestoneKind
from nurture.roles import PRINT_ROOM, ROLE_PERMISSIONS
from nurture.services.api_tokens import api_token_create

_numbers = itertools.count(1)

# 12:00 UTC on 10 March 2025: 11 March 02:00 on Kiritimati (UTC+14), 10 March 01:00 in Pago Pago (UTC-11).
NOON_UTC = dt.datetime(2025, 3, 10, 12, tzinfo=dt.UTC)

ACCOUNT_MANAGER_PERMISSIONS = [
    "nurture.view_customer",
    "nurture.change_customer",
    "nurture.view_milestone",
    "nurture.add_milestone",
    "nurture.change_milestone",
    "nurture.delete_milestone",
    "campaigns.view_touchpoint",
    "campaigns.change_touchpoint",
]
# An account manager who also drafts and approves their customers' cards.
CARD_MANAGER_PERMISSIONS = [*ACCOUNT_MANAGER_PERMISSIONS, "campaigns.view_card", "campaigns.change_card"]
# The print room persona has exactly its role's permissions (nurture/roles.py): among them
# campaigns.print_cards, which lets it see and batch every customer's cards.
PRINT_ROOM_PERMISSIONS = [
    f"{app_label}.{codename}" for app_label, codenames in ROLE_PERMISSIONS[PRINT_ROOM].items() for codename in codenames
]


def _next() -> int:
    return next(_numbers)


def make_user(
    username: str | None = None,
    *,
    staff: bool = True,
    superuser: bool = False,
    perms: Any = (),
    groups: Any = (),
    email: str = "",
) -> Any:
    """A user with the permissions `perms` ("app_label.codename") given directly and the groups (roles,
    by name) `groups`."""
    User = get_user_model()
    # No password: hashing one costs a noticeable fraction of a second; tests use force_login.
    user = User.objects.create_user(
        username=username or f"user{_next()}", email=email, password=None, is_staff=staff, is_superuser=superuser
    )
    for dotted in perms:
        app_label, codename = dotted.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    for name in groups:
        user.groups.add(Group.objects.get(name=name))
    return user


def make_account_manager(username: str | None = None, **fields: Any) -> Any:
    return make_user(username, perms=ACCOUNT_MANAGER_PERMISSIONS, **fields)


def make_card_manager(username: str | None = None, **fields: Any) -> Any:
    return make_user(username, perms=CARD_MANAGER_PERMISSIONS, **fields)


def make_customer(**fields: Any) -> Customer:
    number = _next()
    defaults: dict[str, Any] = {
        "external_id": f"T-{number:05d}",
        "first_name": "Test",
        "last_name": f"Customer {number}",
        "time_zone": "UTC",
    }
    defaults.update(fields)
    return Customer.objects.create(**defaults)


def current_score(customer: Customer) -> HealthSnapshot:
    """The customer's current health score (their latest snapshot); the test expects one."""
    score = HealthSnapshot.objects.latest_of(customer)
    assert score is not None, f"{customer} has no health score"
    return score


def make_rule(*, action: str = "call", **fields: Any) -> Rule:
    number = _next()
    kind = MilestoneKind.objects.get_or_create(slug="became_customer", defaults={"name": "Became a customer"})[0]
    cadence = Cadence.objects.create(name=f"Cadence {number}", anchor_kind=kind)
    defaults: dict[str, Any] = {"slug": f"rule-{number}", "name": f"Rule {number}", "offset_amount": 14}
    defaults.update(fields)
    return Rule.objects.create(cadence=cadence, action=action, **defaults)


def make_touchpoint(
    *,
    customer: Customer | None = None,
    rule: Rule | None = None,
    due_on: dt.date = dt.date(2025, 3, 10),
    kind: str = "call",
    **fields: Any,
) -> Touchpoint:
    customer = customer or make_customer()
    rule = rule or make_rule(action=kind)
    kind_row = rule.cadence.anchor_kind
    assert kind_row is not None, "make_touchpoint plans from a milestone: a cadence that counts from one"
    # A milestone of its own: (rule, milestone, occurs_on) is unique among live touchpoints.
    milestone = Milestone.objects.create(
        customer=customer, kind=kind_row, date=dt.date(2000, 1, 1) + dt.timedelta(days=_next())
    )
    defaults: dict[str, Any] = {
        "milestone_date": milestone.date,
        "occurs_on": due_on,
        "assignee": customer.account_manager,
        "rule_version": rule.version,
    }
    defaults.update(fields)
    return Touchpoint.objects.create(
        customer=customer, rule=rule, milestone=milestone, due_on=due_on, kind=kind, **defaults
    )


# --- Reading results ---------------------------------------------------------------------------


def messages_of(response: Any) -> list[str]:
    """The texts of the messages (django.contrib.messages) a response shows."""
    return [str(message) for message in response.context["messages"]]


def live_duplicates() -> int:
    """Live touchpoints that share a (rule, milestone, occurs_on), or for a seasonal rule a (customer,
    rule, season): there must never be any."""
    live = Touchpoint.objects.exclude(status="cancelled").filter(follow_up_of__isnull=True)
    by_milestone = (
        live.filter(season__isnull=True)
        .values("rule", "milestone", "occurs_on")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    by_season = (
        live.filter(season__isnull=False)
        .values("customer", "rule", "season")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    return by_milestone + by_season


# --- The REST API ------------------------------------------------------------------------------

ALL_SCOPES = (
    "events:write",
    "customers:read",
    "customers:write",
    "touchpoints:read",
    "touchpoints:write",
    "webhooks:manage",
)


def make_api_token(owner: Any, scopes: Any = ALL_SCOPES, **fields: Any) -> str:
    """An API token of `owner`; returns its secret (for the Authorization header)."""
    created = api_token_create(name=fields.pop("name", f"Integration {_next()}"), owner=owner, scopes=scopes, **fields)
    return created.secret


def bearer(secret: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
