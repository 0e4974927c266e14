"""The campaign side's pages: Today and My calendar feed in the admin, and the calendar feed itself.

Included by config/urls.py before admin.site.urls, so these paths win over the admin's own
catch-all. Pages of no model go here, wrapped in admin.site.admin_view for the admin's login,
staff check, CSRF and no-cache; a page about one model goes in its ModelAdmin's get_urls().
"""

from django.contrib import admin
from django.urls import path

from campaigns.views.calendar_feed import calendar_feed_page, calendar_feed_view
from campaigns.views.reports import (
    report_chart_view,
    report_csv_view,
    report_pack_view,
    report_view,
    reports_index_view,
)
from campaigns.views.today import today_approve_card_view, today_log_outcome_view, today_view

urlpatterns = [
    path("admin/today/", admin.site.admin_view(today_view), name="today"),
    path(
        "admin/today/calls/<int:pk>/outcome/", admin.site.admin_view(today_log_outcome_view), name="today-log-outcome"
    ),
    path(
        "admin/today/cards/<int:pk>/approve/", admin.site.admin_view(today_approve_card_view), name="today-approve-card"
    ),
    path("admin/reports/", admin.site.admin_view(reports_index_view), name="reports"),
    path("admin/reports/pack.pdf", admin.site.admin_view(report_pack_view), name="report-pack"),
    path("admin/reports/<slug:name>/", admin.site.admin_view(report_view), name="report"),
    path("admin/reports/<slug:name>/chart.svg", admin.site.admin_view(report_chart_view), name="report-chart"),
    path("admin/reports/<slug:name>.csv", admin.site.admin_view(report_csv_view), name="report-csv"),
    path("admin/my-calendar-feed/", admin.site.admin_view(calendar_feed_page), name="my-calendar-feed"),
    # Reachable without a session: the token in the URL is the credential.
    path("feeds/calls/<str:token>.ics", calendar_feed_view, name="calendar-feed"),
]
