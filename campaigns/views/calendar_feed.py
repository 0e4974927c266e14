"""The calendar feed of each account manager's calls: the feed itself and the admin page with its URL."""

from __future__ import annotations

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


def calendar_feed_page(request: HttpRequest) -> HttpResponse:
    """The user's private calendar URL, and a button that replaces it (the old one stops working)."""
    user = acting_user(request)
    if not request.user.has_perm("campaigns.view_touchpoint"):
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
