"""Calendar rules for touchpoints: pure date arithmetic, no Django, no database.

See docs/calendar-rules.md. Every occurrence is computed from the milestone
(never from the previous occurrence), month arithmetic clamps to the month's end, and
business days are Monday to Friday minus the public holidays that the `holidays`
package defines for a country and optional region (observed days included).
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

LeapDayPolicy = Literal["feb28", "mar1"]
BusinessDayPolicy = Literal["none", "next", "previous"]
OffsetUnit = Literal["days", "weeks", "months", "years", "business_days"]

_LEAP_DAY_POLICIES: frozenset[str] = frozenset(get_args(LeapDayPolicy))
_BUSINESS_DAY_POLICIES: frozenset[str] = frozenset(get_args(BusinessDayPolicy))
_OFFSET_UNITS: frozenset[str] = frozenset(get_args(OffsetUnit))

_MAX_ORDINAL = dt.date.max.toordinal()


class UnknownTimeZone(ValueError):
    """The name is not an IANA time zone known to zoneinfo."""


class UnknownRegion(ValueError):
    """The country or region is not one the `holidays` package supports."""


@dataclass(frozen=True)
class Schedule:
    offset_amount: int  # may be negative
    offset_unit: OffsetUnit
    repeat_every_months: int | None = None  # None = once; 12 = yearly
    repeat_count: int | None = None  # total, first included; None = unbounded
    repeat_until: dt.date | None = None  # last allowed occurs_on, inclusive

    def __post_init__(self) -> None:
        if self.offset_unit not in _OFFSET_UNITS:
            raise ValueError(f"Unknown offset unit {self.offset_unit!r}")
        if self.repeat_every_months is not None and self.repeat_every_months < 1:
            raise ValueError(f"repeat_every_months must be at least 1, got {self.repeat_every_months}")
        if self.repeat_count is not None and self.repeat_count < 0:
            raise ValueError(f"repeat_count must not be negative, got {self.repeat_count}")

    @property
    def offset_months(self) -> int:
        if self.offset_unit == "years":
            return self.offset_amount * 12
        if self.offset_unit == "months":
            return self.offset_amount
        return 0

    @property
    def offset_days(self) -> int:
        """Calendar days added to each anniversary; business days are not counted here, they
        depend on the customer's calendar (see `in_business_days`)."""
        if self.offset_unit == "weeks":
            return self.offset_amount * 7
        if self.offset_unit == "days":
            return self.offset_amount
        return 0


# --- Month arithmetic --------------------------------------------------------------


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _month_length(year: int, month: int) -> int:
    # Not `calendar.monthrange`: this module is itself called `calendar`.
    if month == 2:
        return 29 if _is_leap(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _check_leap_day(leap_day: str) -> None:
    if leap_day not in _LEAP_DAY_POLICIES:
        raise ValueError(f"Unknown leap day policy {leap_day!r}")


def _month_index(day: dt.date) -> int:
    return day.year * 12 + day.month - 1


def add_months(day: dt.date, months: int, leap_day: LeapDayPolicy = "feb28") -> dt.date:
    """Add (or subtract) calendar months, clamping to the end of the target month.

    31 Aug + 6 months is 28 (or 29) February and + 12 months is 31 August again. The
    leap day policy only applies to 29 February landing in February of a non-leap year:
    "feb28" gives 28 February, "mar1" gives 1 March. Every other clamp stays in the month.
    """
    _check_leap_day(leap_day)
    year, month0 = divmod(_month_index(day) + months, 12)
    month = month0 + 1
    if not dt.MINYEAR <= year <= dt.MAXYEAR:
        raise OverflowError("date value out of range")
    last = _month_length(year, month)
    if day.day <= last:
        return dt.date(year, month, day.day)
    if leap_day == "mar1" and day.month == 2 and day.day == 29 and month == 2:
        return dt.date(year, 3, 1)
    return dt.date(year, month, last)


# --- Occurrences -------------------------------------------------------------------


def occurrence(milestone: dt.date, schedule: Schedule, k: int, leap_day: LeapDayPolicy = "feb28") -> dt.date:
    """Occurrence number `k` (0 = first), computed from the milestone alone.

    Month and year offsets are folded into the month arithmetic; day and week offsets
    are applied to the k-th anniversary, so "two weeks before the renewal, yearly" is
    each renewal anniversary minus 14 days. Repetition limits (count, until) are not
    applied here; see `occurrences_between`.
    """
    if k < 0:
        raise ValueError(f"k must not be negative, got {k}")
    if schedule.repeat_every_months is None and k != 0:
        raise ValueError(f"A schedule that does not repeat has only occurrence 0, not {k}")
    step = k * (schedule.repeat_every_months or 0)
    if schedule.offset_unit in ("months", "years"):
        return add_months(milestone, schedule.offset_months + step, leap_day)
    return add_months(milestone, step, leap_day) + dt.timedelta(days=schedule.offset_days)


def _locate(milestone: dt.date, schedule: Schedule, k: int, leap_day: LeapDayPolicy) -> tuple[int, dt.date | None]:
    """Occurrence k as (0, date), or (-1, None) / (1, None) when it falls before
    date.min / after date.max, so scans near the ends of the calendar stay ordered."""
    step = k * (schedule.repeat_every_months or 0)
    months = _month_index(milestone) + schedule.offset_months + step
    if months < dt.MINYEAR * 12:
        return -1, None
    if months >= (dt.MAXYEAR + 1) * 12:
        return 1, None
    base = add_months(milestone, schedule.offset_months + step, leap_day)
    ordinal = base.toordinal() + schedule.offset_days
    if ordinal < 1:
        return -1, None
    if ordinal > _MAX_ORDINAL:
        return 1, None
    return 0, dt.date.fromordinal(ordinal)


def _first_k_estimate(milestone: dt.date, schedule: Schedule, start: dt.date) -> int | None:
    """A k at or below the first k whose occurrence is >= start (None: there is none).

    Occurrence k lies in month index m + offset_months + k*r (one more when 29 February
    becomes 1 March), shifted by offset_days, so the estimate is off by a step or two
    at most and the caller walks forward from it.
    """
    r = schedule.repeat_every_months
    if r is None:
        return 0
    target_ordinal = start.toordinal() - schedule.offset_days
    if target_ordinal < 1:
        return 0
    if target_ordinal > _MAX_ORDINAL:
        return None
    target = dt.date.fromordinal(target_ordinal)
    months_needed = _month_index(target) - _month_index(milestone) - schedule.offset_months
    return max(0, (months_needed - 1) // r)


def occurrences_between(
    milestone: dt.date,
    schedule: Schedule,
    start: dt.date,
    end: dt.date,
    leap_day: LeapDayPolicy = "feb28",
) -> list[tuple[int, dt.date]]:
    """All (k, occurs_on) with start <= occurs_on <= end, ascending, honouring
    repeat_count and repeat_until. Jumps straight to the first k near `start`, so a
    milestone decades in the past costs no more than a recent one."""
    _check_leap_day(leap_day)
    last_k: int | None = None
    if schedule.repeat_every_months is None:
        last_k = 0
    if schedule.repeat_count is not None:
        count_last = schedule.repeat_count - 1
        last_k = count_last if last_k is None else min(last_k, count_last)
    upper = end if schedule.repeat_until is None else min(end, schedule.repeat_until)
    if upper < start or (last_k is not None and last_k < 0):
        return []
    k = _first_k_estimate(milestone, schedule, start)
    if k is None:
        return []
    found: list[tuple[int, dt.date]] = []
    # Occurrences strictly increase with k (every step adds at least one month).
    while last_k is None or k <= last_k:
        position, day = _locate(milestone, schedule, k, leap_day)
        if position > 0:
            break
        if day is not None:
            if day > upper:
                break
            if day >= start:
                found.append((k, day))
        k += 1
    return found


# --- Time zones --------------------------------------------------------------------


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # ValueError: malformed keys ("", "../x", absolute paths, non-TZif files);
        # OSError: keys naming a directory ("America").
        raise UnknownTimeZone(f"Unknown time zone {name!r}") from None


def validate_time_zone(name: str) -> None:
    _zone(name)


def local_today(now: dt.datetime, time_zone: str) -> dt.date:
    """The date it is at the aware instant `now` in the IANA zone `time_zone`."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(_zone(time_zone)).date()


# --- Countries, regions and holidays -----------------------------------------------


@functools.cache
def _supported_countries() -> dict[str, list[str]]:
    return holidays.list_supported_countries(include_aliases=False)


@functools.lru_cache(maxsize=256)
def _holidays_for(country: str, region: str) -> holidays.HolidayBase:
    # Callers validate first; expand=True fills in years lazily as dates are looked up.
    return holidays.country_holidays(country, subdiv=region or None)


@functools.lru_cache(maxsize=256)
def _accepted_regions(country: str) -> frozenset[str]:
    codes = set(_supported_countries()[country])
    aliases = getattr(_holidays_for(country, ""), "subdivisions_aliases", {})
    return frozenset(codes | set(aliases))


def validate_country_region(country: str, region: str = "") -> None:
    """Raise UnknownRegion unless `holidays` supports the country and its region.

    The region may be any subdivision code or alias the package accepts for the country
    (e.g. "BY" or "Bayern" for Germany, "CA" or "California" for the US). No country and no region means weekends only.
    """
    if not country:
        if region:
            raise UnknownRegion(f"Region {region!r} given without a country")
        return
    if country not in _supported_countries():
        raise UnknownRegion(
            f"Unknown country {country!r}: expected an upper-case ISO 3166 alpha-2 code "
            "supported by the holidays package"
        )
    if region and region not in _accepted_regions(country):
        codes = ", ".join(_supported_countries()[country]) or "none"
        raise UnknownRegion(f"Unknown region {region!r} for country {country!r}; known subdivisions: {codes}")


# HolidayBase fills in a year on first lookup by mutating itself; the cached objects are
# shared between threads, so lookups are serialised.
_holidays_lock = threading.Lock()


def _is_business_day(day: dt.date, country: str, region: str) -> bool:
    # Country and region already validated.
    if day.weekday() >= 5:
        return False
    if not country:
        return True
    public_holidays = _holidays_for(country, region)
    with _holidays_lock:
        return day not in public_holidays


def is_business_day(day: dt.date, country: str = "", region: str = "") -> bool:
    """Monday to Friday and not a public holiday (observed days included)."""
    validate_country_region(country, region)
    return _is_business_day(day, country, region)


def shift_to_business_day(day: dt.date, policy: BusinessDayPolicy, country: str = "", region: str = "") -> dt.date:
    """Policy "none": the day itself; "next": the first business day on or after it;
    "previous": the last business day on or before it."""
    if policy not in _BUSINESS_DAY_POLICIES:
        raise ValueError(f"Unknown business day policy {policy!r}")
    validate_country_region(country, region)
    if policy == "none":
        return day
    step = dt.timedelta(days=1 if policy == "next" else -1)
    while not _is_business_day(day, country, region):
        day += step
    return day


def business_days_before(day: dt.date, n: int, country: str = "", region: str = "") -> dt.date:
    """The n-th business day strictly before `day` (`day` itself when n is 0)."""
    if n < 0:
        raise ValueError(f"n must not be negative, got {n}")
    validate_country_region(country, region)
    one_day = dt.timedelta(days=1)
    while n > 0:
        day -= one_day
        if _is_business_day(day, country, region):
            n -= 1
    return day


def business_days_after(day: dt.date, n: int, country: str = "", region: str = "") -> dt.date:
    """The n-th business day strictly after `day` (`day` itself when n is 0)."""
    if n < 0:
        raise ValueError(f"n must not be negative, got {n}")
    validate_country_region(country, region)
    one_day = dt.timedelta(days=1)
    while n > 0:
        day += one_day
        if _is_business_day(day, country, region):
            n -= 1
    return day


def in_business_days(occurs_on: dt.date, schedule: Schedule, country: str = "", region: str = "") -> dt.date:
    """An occurrence in a customer's calendar: for a schedule counted in business days ("2 business
    days after"), the anniversary moved by that many business days of the country (and region);
    any other schedule's occurrence is already a calendar date and comes back unchanged."""
    if schedule.offset_unit != "business_days":
        return occurs_on
    amount = schedule.offset_amount
    if amount >= 0:
        return business_days_after(occurs_on, amount, country, region)
    return business_days_before(occurs_on, -amount, country, region)


def business_days_span(schedule: Schedule) -> int:
    """How many calendar days a schedule's business days may span at most (weekends and a few
    holidays included): how far to look around a window so that no occurrence is missed."""
    if schedule.offset_unit != "business_days":
        return 0
    return 2 * abs(schedule.offset_amount) + 10


def call_due_on(occurs_on: dt.date, policy: BusinessDayPolicy, country: str = "", region: str = "") -> dt.date:
    """The day a call is due: the occurrence moved to a business day per the policy."""
    return shift_to_business_day(occurs_on, policy, country, region)


def card_due_on(occurs_on: dt.date, lead_days: int, country: str = "", region: str = "") -> dt.date:
    """The mail-by date of a card: `lead_days` business days before the occurrence."""
    return business_days_before(occurs_on, lead_days, country, region)


# --- Date anchors (seasonal cadences) -----------------------------------------------
#
# A date-anchored cadence counts from a date of the calendar instead of a customer's milestone:
# every year on a day and month, once on a date, or on a named public holiday of the customer's
# own country (docs/calendar-rules.md, rule 7).

DateAnchorKind = Literal["annual", "once", "holiday"]
_DATE_ANCHOR_KINDS: frozenset[str] = frozenset(get_args(DateAnchorKind))

# The language asked of the `holidays` package for holiday names: names are matched in English.
_ENGLISH = "en_US"


class UnknownHoliday(ValueError):
    """No country of a segment keeps a holiday of that name."""


@dataclass(frozen=True)
class DateAnchor:
    kind: DateAnchorKind
    month: int | None = None  # annual
    day: int | None = None  # annual
    on: dt.date | None = None  # once
    holiday: str = ""  # holiday: one English name, or several separated by ";"

    def __post_init__(self) -> None:
        if self.kind not in _DATE_ANCHOR_KINDS:
            raise ValueError(f"Unknown date anchor {self.kind!r}")
        if self.kind == "annual":
            if self.month is None or self.day is None:
                raise ValueError("An annual date anchor needs a day and a month")
            validate_day_of_year(self.month, self.day)
        if self.kind == "once" and self.on is None:
            raise ValueError("A one-off date anchor needs a date")
        if self.kind == "holiday" and not holiday_names(self.holiday):
            raise ValueError("A holiday anchor needs the holiday's name")


def validate_day_of_year(month: int, day: int) -> None:
    """Raise ValueError unless (month, day) is a day of some year (29 February included)."""
    if not 1 <= month <= 12:
        raise ValueError(f"Month must be 1 to 12, got {month}")
    longest = 29 if month == 2 else _month_length(2001, month)
    if not 1 <= day <= longest:
        raise ValueError(f"Day must be 1 to {longest} in month {month}, got {day}")


def annual_date(year: int, month: int, day: int, leap_day: LeapDayPolicy = "feb28") -> dt.date:
    """The day and month in `year`; 29 February in a year without one follows the leap day policy
    (rule 2): 28 February, or 1 March with "mar1"."""
    _check_leap_day(leap_day)
    validate_day_of_year(month, day)
    if month == 2 and day == 29 and not _is_leap(year):
        return dt.date(year, 3, 1) if leap_day == "mar1" else dt.date(year, 2, 28)
    return dt.date(year, month, day)


def holiday_names(text: str) -> list[str]:
    """The names a holiday anchor accepts: "Chinese New Year; Lunar New Year" is two."""
    return [part.strip() for part in text.split(";") if part.strip()]


def _name_key(name: str) -> str:
    """A holiday name reduced to compare: case, spacing and a trailing "Day" do not count, so
    "thanksgiving" finds the package's "Thanksgiving Day"."""
    words = name.casefold().replace("\u2019", "'").split()
    if len(words) > 1 and words[-1] == "day":
        words = words[:-1]
    return " ".join(words)


def _entry_keys(entry: str) -> set[str]:
    """The keys one holiday entry answers to. "Chinese New Year (Spring Festival)" answers to the whole
    and to "Chinese New Year"; an observed or substituted day off answers to nothing: the anchor is
    the holiday itself."""
    lowered = entry.casefold()
    if "observed" in lowered or "substitute" in lowered or lowered.startswith(("day off", "alternative holiday")):
        return set()
    keys = {_name_key(entry)}
    if "(" in entry:
        keys.add(_name_key(entry.split("(", 1)[0]))
    return keys


def _english_language(country: str) -> str | None:
    languages = getattr(_holidays_for(country, ""), "supported_languages", ()) or ()
    return _ENGLISH if _ENGLISH in languages else None


@functools.lru_cache(maxsize=4096)
def _holidays_of_year(country: str, region: str, year: int) -> tuple[tuple[dt.date, str], ...]:
    """The country's (and region's) public holidays of one year, named in English where the package
    can; one (date, name) per holiday, even when two fall on one day."""
    language = _english_language(country)
    # A fresh object per year: the shared, lazily filled ones of _holidays_for are not thread-safe.
    year_holidays = holidays.country_holidays(country, subdiv=region or None, years=year, language=language)
    found: list[tuple[dt.date, str]] = []
    for day, names in sorted(year_holidays.items()):
        found.extend((day, name) for name in names.split("; "))
    return tuple(found)


def holiday_date(names: str, year: int, country: str, region: str = "") -> dt.date | None:
    """The date of the named holiday in `year` in the country (and region), or None when it keeps
    none of that name. Names are matched in English, case-insensitively, the first name that the
    country keeps wins; a holiday over several days counts from its first."""
    validate_country_region(country, region)
    if not country:
        return None
    if not dt.MINYEAR < year < dt.MAXYEAR:
        return None
    entries = _holidays_of_year(country, region, year)
    for name in holiday_names(names):
        key = _name_key(name)
        days = [day for day, entry in entries if key in _entry_keys(entry)]
        if days:
            return min(days)
    return None


def known_holiday_names(countries: Sequence[str], years: Sequence[int]) -> dict[str, set[str]]:
    """The English holiday names the countries keep in those years: {name: countries}."""
    found: dict[str, set[str]] = {}
    for country in countries:
        validate_country_region(country)
        # A country's regions too: Canada keeps Thanksgiving by province, Germany Epiphany by state.
        for region in ["", *_supported_countries()[country]]:
            for year in years:
                for _, entry in _holidays_of_year(country, region, year):
                    if _entry_keys(entry):
                        found.setdefault(entry, set()).add(country)
    return found


def validate_holiday(names: str, countries: Sequence[str], years: Sequence[int]) -> None:
    """Raise UnknownHoliday for a name that none of the countries keeps in any of the years,
    naming it and the closest names the countries do keep."""
    known = known_holiday_names(countries, years)
    keys = {key for entry in known for key in _entry_keys(entry)}
    for name in holiday_names(names):
        if _name_key(name) in keys:
            continue
        close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.5)
        where = ", ".join(countries)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownHoliday(f"Unknown holiday {name!r}: no public holiday of that name in {where}{hint}")


def anchor_dates(
    anchor: DateAnchor,
    first_year: int,
    last_year: int,
    country: str = "",
    region: str = "",
    leap_day: LeapDayPolicy = "feb28",
) -> list[tuple[int, dt.date]]:
    """(year, anchor date) for each year from first_year to last_year that has one in the country.

    Annual: the day and month every year (29 February per the leap day policy). Once: the date, in
    its own year only. Holiday: the named holiday of the country's calendar, in years it keeps it.
    """
    found: list[tuple[int, dt.date]] = []
    first_year = max(first_year, dt.MINYEAR + 1)
    last_year = min(last_year, dt.MAXYEAR - 1)
    if anchor.kind == "once":
        assert anchor.on is not None
        if first_year <= anchor.on.year <= last_year:
            found.append((anchor.on.year, anchor.on))
        return found
    for year in range(first_year, last_year + 1):
        if anchor.kind == "annual":
            assert anchor.month is not None and anchor.day is not None
            found.append((year, annual_date(year, anchor.month, anchor.day, leap_day)))
        else:
            day = holiday_date(anchor.holiday, year, country, region)
            if day is not None:
                found.append((year, day))
    return found


def anchored_occurrences_between(
    anchor: DateAnchor,
    offset: Schedule,
    start: dt.date,
    end: dt.date,
    country: str = "",
    region: str = "",
    leap_day: LeapDayPolicy = "feb28",
) -> list[tuple[int, dt.date, dt.date]]:
    """(year, anchor date, occurs_on) with start <= occurs_on <= end: each year's anchor date moved
    by the rule's offset (its repetition is the anchor's own: yearly, or once)."""
    once = Schedule(offset_amount=offset.offset_amount, offset_unit=offset.offset_unit)
    # An offset may move an occurrence into another year: look a little beyond the range.
    reach = abs(once.offset_months) // 12 + abs(once.offset_days) // 365 + 1
    found: list[tuple[int, dt.date, dt.date]] = []
    for year, day in anchor_dates(anchor, start.year - reach, end.year + reach, country, region, leap_day):
        try:
            occurs_on = occurrence(day, once, 0, leap_day)
        except OverflowError:
            continue
        if offset.repeat_until is not None and occurs_on > offset.repeat_until:
            continue
        if start <= occurs_on <= end:
            found.append((year, day, occurs_on))
    return found
