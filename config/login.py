"""Logging in: where the admin's login lands, and what django-axes's login throttling sees and says.

- ``login_view`` is the admin's login page (mounted at /admin/login/ in config/urls.py): after
  logging in, everyone lands on Today. A safe ``next`` still wins, except the admin's index, which
  is only where the admin sends anyone who opened /admin/.
- ``client_ip`` is the client address django-axes counts failed logins of (AXES_CLIENT_IP_CALLABLE).
- ``lockout_response`` is the page a locked-out login gets (AXES_LOCKOUT_CALLABLE).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _


class LandOnTodayLoginView(LoginView):
    """Django's admin login with Today as its default destination instead of the admin's index."""

    authentication_form = AdminAuthenticationForm
    template_name = "admin/login.html"
    next_page = "today"

    def get_redirect_url(self) -> str:
        """The ``next`` given, when it is safe (LoginView checks) and is not the admin's index."""
        url: str = super().get_redirect_url()
        return "" if url == reverse("admin:index") else url


def login_view(request: HttpRequest) -> HttpResponseBase:
    """The admin's login page (what AdminSite.login does, landing on Today)."""
    request.current_app = admin.site.name
    if request.method == "GET" and admin.site.has_permission(request):
        # Already logged in: go where logging in would have led.
        view = LandOnTodayLoginView()
        view.setup(request)
        return HttpResponseRedirect(view.get_success_url())
    context = {
        **admin.site.each_context(request),
        "title": _("Log in"),
        "subtitle": None,
        "app_path": request.get_full_path(),
        "username": request.user.get_username(),
    }
    return LandOnTodayLoginView.as_view(extra_context=context)(request)


def client_ip(request: HttpRequest) -> str | None:
    """The address of the client, whose failed logins django-axes counts.

    With no trusted proxy (NURTURE_TRUSTED_PROXIES=0, the default) it is the connection's own
    address: a header could have been written by the client. With N proxies in front, each
    appending the address it received the request from to NURTURE_CLIENT_IP_HEADER, it is the Nth
    address from the right: the one the outermost proxy saw. What a client wrote into the header
    itself stands further left and is ignored. A value that is no IP address falls back to the
    connection's address.
    """
    remote: str | None = request.META.get("REMOTE_ADDR") or None
    proxies: int = settings.NURTURE_TRUSTED_PROXIES
    if proxies == 0:
        return remote
    meta_key = "HTTP_" + settings.NURTURE_CLIENT_IP_HEADER.upper().replace("-", "_")
    hops = [hop.strip() for hop in request.META.get(meta_key, "").split(",") if hop.strip()]
    if not hops:
        return remote
    candidate = hops[-proxies] if len(hops) >= proxies else hops[0]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: Mapping[str, Any] | None = None
) -> HttpResponse:
    """The lockout page, in the admin's look: what happened and when to try again (HTTP 429).

    Every refused attempt starts the cool-off again (django-axes's default), so the lock lifts
    AXES_COOLOFF_TIME after this attempt at the latest.
    """
    cool_off: dt.timedelta = settings.AXES_COOLOFF_TIME
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    context = {
        **admin.site.each_context(request),
        "title": "Too many failed logins",
        "username": username,
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "cool_off_minutes": round(cool_off.total_seconds() / 60),
        "retry_at": timezone.localtime(timezone.now() + cool_off),
    }
    response = render(request, "admin/lockout.html", context, status=429)
    response["Retry-After"] = str(int(cool_off.total_seconds()))
    return response
