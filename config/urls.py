"""The site's URLs: the campaign pages, the admin, the REST API and the health endpoint."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from config.api import api
from config.health import health
from config.login import login_view

urlpatterns = [
    # Everyone starts the day on Today (the admin's login lands there too).
    path("", RedirectView.as_view(pattern_name="today", permanent=False)),
    path("", include("campaigns.urls")),
    # The admin's login, landing on Today (before admin.site.urls, whose own login it replaces).
    path("admin/login/", login_view, name="login"),
    path("admin/", admin.site.urls),
    path("health/", health, name="health"),
    # The REST API (docs/api.md): token authentication, no session, no CSRF.
    path("api/v1/", api.urls),
]
