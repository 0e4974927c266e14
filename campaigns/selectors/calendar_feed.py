"""An account manager's upcoming calls as an iCalendar document."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from icalendar import Calendar, Event

from campaigns.models import Touchpoint
from nurture.models import CalendarFeed, Customer

# Overdue calls stay in the calendar for a week, upcoming ones as far as the planner looks ahead.
PAST_DAYS = 7
AHEAD_DAYS = 90


def feed_calendar(*, feed: CalendarFeed, today: dt.date | None = None) -> bytes:
    today = today or timezone.localdate()
    user = feed.user
    calls = (
        Touchpoint.objects.pending()
        .calls()
        .assigned_to(user)
        .filter(customer__in=Customer.objects.visible_to(user))
        .filter(due_on__gte=today - dt.timedelta(days=PAST_DAYS), due_on__lte=today + dt.timedelta(days=AHEAD_DAYS))
        .select_related("customer", "rule")
        .order_by("due_on", "id")
    )
    calendar = Calendar()
    calendar.add("prodid", "-//nurture//calls//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", "nurture: my calls")
    stamp = timezone.now()
    for call in calls.iterator(chunk_size=500):
        customer = call.customer
        event = Event()
        event.add("uid", f"touchpoint-{call.pk}@nurture")
        event.add("dtstamp", stamp)
        event.add("dtstart", call.due_on)
        event.add("dtend", call.due_on + dt.timedelta(days=1))
        event.add("summary", f"Call {customer.full_name}: {call.rule.name}")
        details = [customer.company, customer.phone, customer.email, f"Local time zone: {customer.time_zone}"]
        event.add("description", "\n".join(part for part in details if part))
        event.add("transp", "TRANSPARENT")
        calendar.add_component(event)
    return bytes(calendar.to_ical())
