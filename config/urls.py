"""The site's URLs: the campaign pages, the admin and the health endpoint."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from config.health import health

urlpatterns = [
    # Everyone starts the day on Today (the admin's login sends them back there).
    path("", RedirectView.as_view(pattern_name="today", permanent=False)),
    path("", include("campaigns.urls")),
    path("admin/", admin.site.urls),
    path("health/", health, name="health"),
]
