"""'Today' differs by time zone: group the zones by their local date at one instant."""

import datetime as dt
import functools
import zoneinfo


@functools.lru_cache(maxsize=1)
def _all_zones() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones()))


def zones_by_local_date(now: dt.datetime) -> dict[dt.date, list[str]]:
    """Every IANA zone, grouped by its local date at `now` (at most three dates)."""
    groups: dict[dt.date, list[str]] = {}
    for name in _all_zones():
        groups.setdefault(now.astimezone(zoneinfo.ZoneInfo(name)).date(), []).append(name)
    return groups


def local_date_exceptions(now: dt.datetime, default: dt.date) -> dict[dt.date, list[str]]:
    """The zones whose local date at `now` is not `default`, by date."""
    return {day: zones for day, zones in zones_by_local_date(now).items() if day != default}
