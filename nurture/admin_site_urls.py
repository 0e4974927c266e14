"""Admin pages that belong to no model: Today and My calendar feed.

Included by nurture/urls.py before admin.site.urls, so these paths win over the admin's own
catch-all; admin.site.admin_view gives them the admin's login, staff check, CSRF and no-cache.
"""

from django.contrib import admin
from django.urls import path

from campaigns.views_today import today_approve_card_view, today_log_outcome_view, today_view
from nurture.views_admin import calendar_feed_page

urlpatterns = [
    path("admin/today/", admin.site.admin_view(today_view), name="today"),
    path(
        "admin/today/calls/<int:pk>/outcome/", admin.site.admin_view(today_log_outcome_view), name="today-log-outcome"
    ),
    path(
        "admin/today/cards/<int:pk>/approve/", admin.site.admin_view(today_approve_card_view), name="today-approve-card"
    ),
    path("admin/my-calendar-feed/", admin.site.admin_view(calendar_feed_page), name="my-calendar-feed"),
]
