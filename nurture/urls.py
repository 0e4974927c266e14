from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from nurture.feeds import calendar_feed_view
from nurture.health import health

urlpatterns = [
    # Everyone starts the day on Today (the admin's login sends them back there).
    path("", RedirectView.as_view(pattern_name="today", permanent=False)),
    path("", include("nurture.admin_site_urls")),
    path("admin/", admin.site.urls),
    path("health/", health, name="health"),
    path("feeds/calls/<str:token>.ics", calendar_feed_view, name="calendar-feed"),
]
