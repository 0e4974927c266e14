"""Each account manager's upcoming calls as a private, revocable iCalendar feed."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from icalendar import Calendar, Event

from campaigns.models import Touchpoint
from nurture.models import CalendarFeed, Customer, new_feed_token

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

# Overdue calls stay in the calendar for a week, upcoming ones as far as the planner looks ahead.
PAST_DAYS = 7
AHEAD_DAYS = 90


def feed_for(*, user: AbstractBaseUser) -> CalendarFeed:
    feed, _ = CalendarFeed.objects.get_or_create(user_id=user.pk)
    return feed


def feed_reset(*, user: AbstractBaseUser) -> CalendarFeed:
    """A new secret URL; the old one stops working at once."""
    with transaction.atomic():
        feed = feed_for(user=user)
        feed.token = new_feed_token()
        feed.save(update_fields=["token"])
    return feed


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


def calendar_feed_view(request: HttpRequest, token: str) -> HttpResponse:
    """The feed, reachable without a session: the token in the URL is the credential."""
    feed = CalendarFeed.objects.select_related("user").filter(token=token, user__is_active=True).first()
    if feed is None:
        raise Http404("No such calendar feed")
    CalendarFeed.objects.filter(pk=feed.pk).update(last_fetched_at=timezone.now())
    response = HttpResponse(feed_calendar(feed=feed), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="nurture-calls.ics"'
    response["Cache-Control"] = "private, max-age=300"
    return response
