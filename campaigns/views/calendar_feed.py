"""The calendar feed of each account manager's calls: the feed itself and the admin page with its URL."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from campaigns.selectors.calendar_feed import feed_calendar
from nurture.admin.base import acting_user
from nurture.models import CalendarFeed
from nurture.services.calendar_feeds import feed_for, feed_reset

# Who may see calls, and so keep a calendar feed of them (a superuser has every permission).
FEED_PERMISSION = "campaigns.view_touchpoint"


def calendar_feed_view(request: HttpRequest, token: str) -> HttpResponse:
    """The feed, reachable without a session: the token in the URL is the credential.

    It answers only while its owner may still see calls: an active staff user with
    campaigns.view_touchpoint (or a superuser). A user who loses staff status or the role stops
    leaking through an old URL; the same 404 as an unknown token says nothing about why.
    """
    feed = CalendarFeed.objects.select_related("user").filter(token=token, user__is_active=True).first()
    if feed is None or not may_see_calls(feed.user):
        raise Http404("No such calendar feed")
    CalendarFeed.objects.filter(pk=feed.pk).update(last_fetched_at=timezone.now())
    response = HttpResponse(feed_calendar(feed=feed), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="nurture-calls.ics"'
    response["Cache-Control"] = "private, max-age=300"
    return response


def may_see_calls(user: Any) -> bool:
    """Whether the feed's owner may still see calls: active, staff, and allowed to view touchpoints."""
    return bool(user.is_active and user.is_staff and user.has_perm(FEED_PERMISSION))


def calendar_feed_page(request: HttpRequest) -> HttpResponse:
    """The user's private calendar URL, and a button that replaces it (the old one stops working)."""
    user = acting_user(request)
    if not request.user.has_perm(FEED_PERMISSION):
        raise PermissionDenied
    if request.method == "POST":
        feed_reset(user=user)
        messages.success(request, "Your calendar URL was reset: the old one no longer works. Subscribe to the new one.")
        return HttpResponseRedirect(reverse("my-calendar-feed"))
    feed = feed_for(user=user)
    context = {
        **admin.site.each_context(request),
        "title": "My calendar feed",
        "feed": feed,
        "feed_url": request.build_absolute_uri(reverse("calendar-feed", args=[feed.token])),
        "today_url": reverse("today"),
    }
    return TemplateResponse(request, "admin/feed/my_feed.html", context)
