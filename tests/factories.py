"""Small factories for tests: plain ORM rows with sensible defaults."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from campaigns.models import Cadence, Rule, Touchpoint
from nurture.models import Customer, Milestone, MilestoneKind

_numbers = itertools.count(1)

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


def _next() -> int:
    return next(_numbers)


def make_user(username: str | None = None, *, staff: bool = True, superuser: bool = False, perms: Any = ()) -> Any:
    User = get_user_model()
    # No password: hashing one costs a noticeable fraction of a second; tests use force_login.
    user = User.objects.create_user(
        username=username or f"user{_next()}", password=None, is_staff=staff, is_superuser=superuser
    )
    for dotted in perms:
        app_label, codename = dotted.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return user


def make_account_manager(username: str | None = None) -> Any:
    return make_user(username, perms=ACCOUNT_MANAGER_PERMISSIONS)


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
