"""GET /health/: is this deployment alive? For a load balancer or an uptime monitor.

    {"database": "ok", "broker": "ok", "planner": {"last_completed": "2025-03-10T09:00:02+00:00", "ok": true}}

HTTP 200 when all three are fine, 503 otherwise. "planner.ok" means a planning sweep completed
within NURTURE_PLANNER_STALE_HOURS (default 3): the sweep runs hourly, so a planner that has not
completed for three hours has missed several ticks (Beat, the workers or the broker are down, or
a sweep keeps failing). No authentication and no details of errors: the response is public;
the reasons go to the log.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from campaigns.selectors.planner_health import last_completed_sweep_at, planner_health_from
from config.celery import app

log = logging.getLogger(__name__)

# Seconds the broker may take to answer; a probe must answer well within a load balancer's timeout.
BROKER_TIMEOUT = 2.0


def check_database() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        log.warning("health: database check failed: %s: %s", type(exc).__name__, exc)
        return False
    return True


def check_broker() -> bool:
    """Connect to the broker once, with a short timeout (kombu; Redis answers a PING)."""
    options = {"socket_connect_timeout": BROKER_TIMEOUT, "socket_timeout": BROKER_TIMEOUT}
    try:
        with app.connection_for_write(
            url=settings.CELERY_BROKER_URL, connect_timeout=BROKER_TIMEOUT, transport_options=options
        ) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=1, interval_max=1)
    except Exception as exc:  # kombu raises the transport's own errors, and OperationalError
        log.warning("health: broker check failed: %s: %s", type(exc).__name__, exc)
        return False
    return True


@never_cache
@require_safe
def health(request: HttpRequest) -> JsonResponse:
    database = check_database()
    broker = check_broker()
    planner: dict[str, Any] = {"last_completed": None, "ok": False}
    if database:
        try:
            state = planner_health_from(last_completed_sweep_at())
        except DatabaseError as exc:
            log.warning("health: planner check failed: %s: %s", type(exc).__name__, exc)
        else:
            last = state.last_completed
            planner = {"last_completed": last.isoformat() if last else None, "ok": state.ok}
    body = {"database": "ok" if database else "error", "broker": "ok" if broker else "error", "planner": planner}
    healthy = database and broker and bool(planner["ok"])
    return JsonResponse(body, status=200 if healthy else 503)
