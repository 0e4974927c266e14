"""Template context for every admin page."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.cache import cache
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from campaigns.selectors.planner_health import PlannerHealth, last_completed_sweep_at, planner_health_from

PLANNER_HEALTH_CACHE_KEY = "nurture:planner:last_completed"
# The banner may lag a completed sweep by this long; in exchange every page costs no query.
PLANNER_HEALTH_CACHE_SECONDS = 60


def cached_planner_health() -> PlannerHealth:
    """The planner's health from one indexed query, cached for a minute; judged against now."""
    cached: tuple[dt.datetime | None] | None = cache.get(PLANNER_HEALTH_CACHE_KEY)
    if cached is None:
        cached = (last_completed_sweep_at(),)
        cache.set(PLANNER_HEALTH_CACHE_KEY, cached, PLANNER_HEALTH_CACHE_SECONDS)
    return planner_health_from(cached[0])


def planner_health(request: HttpRequest) -> dict[str, Any]:
    """``planner_health``: lazy, so a page that does not show it (or an anonymous user) costs nothing."""
    return {"planner_health": SimpleLazyObject(cached_planner_health)}
