from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from nurture.feeds import calendar_feed_view
from nurture.health import health

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("health/", health, name="health"),
    path("feeds/calls/<str:token>.ics", calendar_feed_view, name="calendar-feed"),
]
