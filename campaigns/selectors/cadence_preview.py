"""The reach of a cadence before it is switched on: how many customers, by country, and the dates
each country's customers would get (the admin's "Preview reach" page of a cadence)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count

from campaigns.models import Cadence, Rule
from nurture.lib import calendar
from nurture.models import Customer

# How far ahead the preview looks for each rule's next date: a yearly anchor has one within a year,
# a holiday of a lunar calendar too; a little more for offsets and lead days.
LOOKAHEAD_DAYS = 430


@dataclass(frozen=True)
class RuleDate:
    rule: str
    action: str
    anchor_on: dt.date
    occurs_on: dt.date
    due_on: dt.date


@dataclass(frozen=True)
class CountryReach:
    country: str
    region: str
    customers: int
    # The next date of each active rule for these customers; empty when their country does not keep
    # the holiday (or a one-off date is past): they are not reached.
    dates: list[RuleDate]
    # A cadence counting from milestones reaches these customers on dates of their own.
    date_anchored: bool = True

    @property
    def reached(self) -> bool:
        return bool(self.dates) or not self.date_anchored


@dataclass(frozen=True)
class CadencePreview:
    cadence: Cadence
    rows: list[CountryReach]

    @property
    def reached(self) -> int:
        return sum(row.customers for row in self.rows if row.reached)

    @property
    def not_reached(self) -> int:
        return sum(row.customers for row in self.rows if not row.reached)


def _leap_day() -> calendar.LeapDayPolicy:
    return "mar1" if settings.NURTURE_LEAP_DAY == "mar1" else "feb28"


def _next_date(rule: Rule, anchor: calendar.DateAnchor, today: dt.date, country: str, region: str) -> RuleDate | None:
    end = today + dt.timedelta(days=LOOKAHEAD_DAYS)
    schedule = rule.schedule()
    found = calendar.anchored_occurrences_between(
        anchor,
        schedule,
        today - dt.timedelta(days=calendar.business_days_span(schedule)),
        end + dt.timedelta(days=90),
        country,
        region,
        _leap_day(),
    )
    for _, anchor_on, anniversary in found:
        occurs_on = calendar.in_business_days(anniversary, schedule, country, region)
        due_on = rule.due_on(occurs_on, country, region)
        if today <= due_on <= end:
            return RuleDate(rule.name, rule.get_action_display(), anchor_on, occurs_on, due_on)
    return None


def cadence_preview(*, cadence: Cadence, user: AbstractBaseUser | AnonymousUser, today: dt.date) -> CadencePreview:
    """The customers the user may see whom the cadence would reach, by country and region (one
    GROUP BY over the customers; the calendar once per country and region), with their next dates."""
    groups = (
        Customer.objects.visible_to(user)
        .filter(cadence.segment_q())
        .order_by()
        .values_list("country", "region")
        .annotate(n=Count("id"))
        .order_by("country", "region")
    )
    anchor = cadence.date_anchor()
    rules = list(cadence.rules.filter(active=True).order_by("offset_unit", "offset_amount", "id"))
    rows: list[CountryReach] = []
    for country, region, n in groups:
        dates: list[RuleDate] = []
        if anchor is not None:
            for rule in rules:
                found = _next_date(rule, anchor, today, country, region)
                if found is not None:
                    dates.append(found)
        rows.append(
            CountryReach(country=country, region=region, customers=n, dates=dates, date_anchored=anchor is not None)
        )
    return CadencePreview(cadence=cadence, rows=rows)
