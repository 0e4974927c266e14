"""Calendar rules (docs/calendar-rules.md): table tests and property tests.

Pure functions only: no database, no Django.
"""

from __future__ import annotations

import calendar as stdlib_calendar
import datetime as dt
import re
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nurture.lib import calendar as cal
from nurture.lib.calendar import (
    BusinessDayPolicy,
    LeapDayPolicy,
    OffsetUnit,
    Schedule,
    UnknownRegion,
    UnknownTimeZone,
    add_months,
    business_days_after,
    business_days_before,
    call_due_on,
    card_due_on,
    is_business_day,
    local_today,
    occurrence,
    occurrences_between,
    shift_to_business_day,
    validate_country_region,
    validate_time_zone,
)

D = dt.date
YEARLY = 12
MONTHLY = 1

# --- Strategies --------------------------------------------------------------------

dates = st.dates(min_value=D(1900, 1, 1), max_value=D(2100, 12, 31))
leap_policies: st.SearchStrategy[LeapDayPolicy] = st.sampled_from(["feb28", "mar1"])
offset_units: st.SearchStrategy[OffsetUnit] = st.sampled_from(["days", "weeks", "months", "years"])


@st.composite
def schedules(draw: st.DrawFn) -> Schedule:
    unit = draw(offset_units)
    amount_bound = {"days": 800, "weeks": 110, "months": 30, "years": 3}[unit]
    return Schedule(
        offset_amount=draw(st.integers(-amount_bound, amount_bound)),
        offset_unit=unit,
        repeat_every_months=draw(st.none() | st.sampled_from([1, 2, 3, 6, 12, 24])),
        repeat_count=draw(st.none() | st.integers(0, 40)),
        repeat_until=draw(st.none() | dates),
    )


# Country/region pairs used by the business day properties; years are kept near today
# so the holidays package only has to build a handful of years.
REGIONS = [
    ("", ""),
    ("US", ""),
    ("US", "CA"),
    ("DE", "BY"),
    ("DE", "BE"),
    ("GB", "ENG"),
    ("AU", "VIC"),
    ("NZ", ""),
]
regions = st.sampled_from(REGIONS)
recent_dates = st.dates(min_value=D(2024, 1, 1), max_value=D(2028, 12, 31))


def brute_force_occurrences(
    milestone: dt.date,
    schedule: Schedule,
    start: dt.date,
    end: dt.date,
    leap_day: LeapDayPolicy,
) -> list[tuple[int, dt.date]]:
    """Enumerate every k from 0, as the obvious (slow) definition."""
    found = []
    k = 0
    while True:
        if schedule.repeat_count is not None and k >= schedule.repeat_count:
            break
        if schedule.repeat_every_months is None and k > 0:
            break
        day = occurrence(milestone, schedule, k, leap_day)
        if day > end:
            break
        if schedule.repeat_until is not None and day > schedule.repeat_until:
            break
        if day >= start:
            found.append((k, day))
        k += 1
    return found


# --- add_months --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "months", "leap_day", "expected"),
    [
        (D(2025, 8, 31), 6, "feb28", D(2026, 2, 28)),
        (D(2023, 8, 31), 6, "feb28", D(2024, 2, 29)),
        (D(2025, 8, 31), 12, "feb28", D(2026, 8, 31)),
        (D(2025, 8, 31), 1, "feb28", D(2025, 9, 30)),
        (D(2025, 1, 31), 1, "feb28", D(2025, 2, 28)),
        # Ordinary clamps ignore the leap day policy.
        (D(2025, 1, 31), 1, "mar1", D(2025, 2, 28)),
        (D(2025, 1, 30), 1, "mar1", D(2025, 2, 28)),
        (D(2025, 3, 31), -1, "feb28", D(2025, 2, 28)),
        (D(2025, 3, 31), -13, "feb28", D(2024, 2, 29)),
        (D(2025, 1, 15), -1, "feb28", D(2024, 12, 15)),
        (D(2025, 12, 15), 1, "feb28", D(2026, 1, 15)),
        (D(2025, 5, 10), 0, "feb28", D(2025, 5, 10)),
        (D(2025, 5, 10), -120, "feb28", D(2015, 5, 10)),
        # 29 February.
        (D(2024, 2, 29), 12, "feb28", D(2025, 2, 28)),
        (D(2024, 2, 29), 12, "mar1", D(2025, 3, 1)),
        (D(2024, 2, 29), 48, "feb28", D(2028, 2, 29)),
        (D(2024, 2, 29), 48, "mar1", D(2028, 2, 29)),
        (D(2024, 2, 29), -12, "mar1", D(2023, 3, 1)),
        (D(2024, 2, 29), 1200, "mar1", D(2124, 2, 29)),
        (D(2000, 2, 29), 1200, "mar1", D(2100, 3, 1)),
        (D(2024, 2, 29), 1, "mar1", D(2024, 3, 29)),
        (D(2024, 2, 29), 11, "mar1", D(2025, 1, 29)),
    ],
)
def test_add_months(day: dt.date, months: int, leap_day: LeapDayPolicy, expected: dt.date) -> None:
    assert add_months(day, months, leap_day) == expected


def test_add_months_rejects_unknown_leap_day_policy() -> None:
    with pytest.raises(ValueError, match="'mar2'"):
        add_months(D(2024, 2, 29), 12, "mar2")  # type: ignore[arg-type]


def test_add_months_out_of_range_raises_overflow() -> None:
    with pytest.raises(OverflowError):
        add_months(D(9999, 12, 1), 1)
    with pytest.raises(OverflowError):
        add_months(D(1, 1, 1), -1)


@settings(deadline=None)
@given(day=dates, months=st.integers(-2400, 2400), leap_day=leap_policies)
def test_add_months_lands_in_target_month_clamped(day: dt.date, months: int, leap_day: LeapDayPolicy) -> None:
    result = add_months(day, months, leap_day)
    target_year, target_month0 = divmod(day.year * 12 + day.month - 1 + months, 12)
    target_month = target_month0 + 1
    month_length = stdlib_calendar.monthrange(target_year, target_month)[1]
    if (
        leap_day == "mar1"
        and (day.month, day.day) == (2, 29)
        and target_month == 2
        and not stdlib_calendar.isleap(target_year)
    ):
        # The only way to leave the target month: 29 Feb into a non-leap February.
        assert result == D(target_year, 3, 1)
    else:
        assert result == D(target_year, target_month, min(day.day, month_length))


@settings(deadline=None)
@given(day=dates, years=st.integers(-50, 50), leap_day=leap_policies)
def test_whole_years_keep_the_date_except_leap_day(day: dt.date, years: int, leap_day: LeapDayPolicy) -> None:
    assume((day.month, day.day) != (2, 29))
    assert add_months(day, 12 * years, leap_day) == day.replace(year=day.year + years)


# --- Schedule and occurrence -------------------------------------------------------


def test_schedule_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="fortnights"):
        Schedule(1, "fortnights")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="repeat_every_months"):
        Schedule(0, "days", repeat_every_months=0)
    with pytest.raises(ValueError, match="repeat_count"):
        Schedule(0, "days", repeat_every_months=12, repeat_count=-1)


@pytest.mark.parametrize(
    ("milestone", "schedule", "k", "leap_day", "expected"),
    [
        # Once, with offsets in every unit.
        (D(2026, 3, 10), Schedule(0, "days"), 0, "feb28", D(2026, 3, 10)),
        (D(2026, 3, 10), Schedule(5, "days"), 0, "feb28", D(2026, 3, 15)),
        (D(2026, 3, 10), Schedule(-2, "weeks"), 0, "feb28", D(2026, 2, 24)),
        (D(2026, 3, 31), Schedule(-1, "months"), 0, "feb28", D(2026, 2, 28)),
        (D(2026, 3, 10), Schedule(2, "years"), 0, "feb28", D(2028, 3, 10)),
        # Two weeks before a yearly renewal: each anniversary minus 14 days.
        (D(2020, 3, 10), Schedule(-2, "weeks", YEARLY), 0, "feb28", D(2020, 2, 25)),
        (D(2020, 3, 10), Schedule(-2, "weeks", YEARLY), 3, "feb28", D(2023, 2, 24)),
        (D(2020, 3, 10), Schedule(-2, "weeks", YEARLY), 4, "feb28", D(2024, 2, 25)),
        # One month before a yearly renewal on 31 March.
        (D(2020, 3, 31), Schedule(-1, "months", YEARLY), 1, "feb28", D(2021, 2, 28)),
        (D(2020, 3, 31), Schedule(-1, "months", YEARLY), 4, "feb28", D(2024, 2, 29)),
        # A 29 February milestone repeated yearly, both policies.
        (D(2024, 2, 29), Schedule(0, "days", YEARLY), 1, "feb28", D(2025, 2, 28)),
        (D(2024, 2, 29), Schedule(0, "days", YEARLY), 1, "mar1", D(2025, 3, 1)),
        (D(2024, 2, 29), Schedule(0, "days", YEARLY), 3, "mar1", D(2027, 3, 1)),
        (D(2024, 2, 29), Schedule(0, "days", YEARLY), 4, "feb28", D(2028, 2, 29)),
        (D(2024, 2, 29), Schedule(0, "days", YEARLY), 4, "mar1", D(2028, 2, 29)),
        (D(2024, 2, 29), Schedule(-14, "days", YEARLY), 1, "feb28", D(2025, 2, 14)),
        (D(2024, 2, 29), Schedule(-14, "days", YEARLY), 1, "mar1", D(2025, 2, 15)),
        (D(2024, 2, 29), Schedule(1, "years", YEARLY), 0, "mar1", D(2025, 3, 1)),
        # Month ends: 31 August every six months.
        (D(2025, 8, 31), Schedule(0, "days", 6), 1, "feb28", D(2026, 2, 28)),
        (D(2025, 8, 31), Schedule(0, "days", 6), 2, "feb28", D(2026, 8, 31)),
        (D(2023, 8, 31), Schedule(0, "days", 6), 1, "feb28", D(2024, 2, 29)),
        # Monthly from 31 January: no drift, the next January is 31 January again.
        (D(2025, 1, 31), Schedule(0, "days", MONTHLY), 1, "feb28", D(2025, 2, 28)),
        (D(2025, 1, 31), Schedule(0, "days", MONTHLY), 2, "feb28", D(2025, 3, 31)),
        (D(2025, 1, 31), Schedule(0, "days", MONTHLY), 12, "feb28", D(2026, 1, 31)),
    ],
)
def test_occurrence(
    milestone: dt.date,
    schedule: Schedule,
    k: int,
    leap_day: LeapDayPolicy,
    expected: dt.date,
) -> None:
    assert occurrence(milestone, schedule, k, leap_day) == expected


def test_occurrence_rejects_k_beyond_a_one_off() -> None:
    with pytest.raises(ValueError, match="only occurrence 0"):
        occurrence(D(2026, 1, 1), Schedule(0, "days"), 1)
    with pytest.raises(ValueError, match="negative"):
        occurrence(D(2026, 1, 1), Schedule(0, "days", YEARLY), -1)


def test_twelve_monthly_occurrences_from_31_january_do_not_drift() -> None:
    schedule = Schedule(0, "days", MONTHLY)
    days = [occurrence(D(2025, 1, 31), schedule, k) for k in range(13)]
    assert [d.day for d in days] == [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 31]
    assert days[12] == D(2026, 1, 31)


@settings(deadline=None)
@given(
    milestone=dates,
    schedule=schedules(),
    k=st.integers(0, 300),
    leap_day=leap_policies,
)
def test_occurrence_is_computed_from_the_milestone(
    milestone: dt.date, schedule: Schedule, k: int, leap_day: LeapDayPolicy
) -> None:
    """occurrence(k) is the add_months formula: it never depends on occurrence(k-1)."""
    interval = schedule.repeat_every_months
    assume(interval is not None or k == 0)
    steps = k * (interval or 0)
    if schedule.offset_unit in ("months", "years"):
        months = schedule.offset_amount * (12 if schedule.offset_unit == "years" else 1)
        expected = add_months(milestone, months + steps, leap_day)
    else:
        days = schedule.offset_amount * (7 if schedule.offset_unit == "weeks" else 1)
        expected = add_months(milestone, steps, leap_day) + dt.timedelta(days=days)
    assert occurrence(milestone, schedule, k, leap_day) == expected


@settings(deadline=None)
@given(milestone=dates, schedule=schedules(), leap_day=leap_policies)
def test_occurrences_strictly_increase(milestone: dt.date, schedule: Schedule, leap_day: LeapDayPolicy) -> None:
    assume(schedule.repeat_every_months is not None)
    days = [occurrence(milestone, schedule, k, leap_day) for k in range(30)]
    assert days == sorted(set(days))


# --- occurrences_between -----------------------------------------------------------


@pytest.mark.parametrize(
    ("milestone", "schedule", "start", "end", "expected"),
    [
        # Once: inside and outside the window.
        (D(2026, 5, 1), Schedule(0, "days"), D(2026, 1, 1), D(2026, 12, 31), [(0, D(2026, 5, 1))]),
        (D(2026, 5, 1), Schedule(0, "days"), D(2026, 5, 2), D(2026, 12, 31), []),
        # Window bounds are inclusive.
        (D(2026, 5, 1), Schedule(0, "days"), D(2026, 5, 1), D(2026, 5, 1), [(0, D(2026, 5, 1))]),
        (D(2026, 5, 1), Schedule(0, "days"), D(2026, 5, 2), D(2026, 5, 1), []),
        # Yearly, unbounded, milestone long ago.
        (
            D(1961, 7, 14),
            Schedule(0, "days", YEARLY),
            D(2026, 1, 1),
            D(2027, 12, 31),
            [(65, D(2026, 7, 14)), (66, D(2027, 7, 14))],
        ),
        # Two weeks before a yearly renewal.
        (
            D(2020, 3, 10),
            Schedule(-2, "weeks", YEARLY),
            D(2026, 1, 1),
            D(2026, 12, 31),
            [(6, D(2026, 2, 24))],
        ),
        # A negative offset puts occurrence 0 before the milestone itself.
        (
            D(2026, 1, 10),
            Schedule(-2, "weeks", YEARLY),
            D(2025, 12, 1),
            D(2026, 1, 31),
            [(0, D(2025, 12, 27))],
        ),
        # repeat_count counts the first occurrence.
        (
            D(2024, 1, 15),
            Schedule(0, "days", MONTHLY, repeat_count=3),
            D(2024, 1, 1),
            D(2024, 12, 31),
            [(0, D(2024, 1, 15)), (1, D(2024, 2, 15)), (2, D(2024, 3, 15))],
        ),
        (
            D(2024, 1, 15),
            Schedule(0, "days", MONTHLY, repeat_count=3),
            D(2024, 3, 1),
            D(2024, 12, 31),
            [(2, D(2024, 3, 15))],
        ),
        (D(2024, 1, 15), Schedule(0, "days", MONTHLY, repeat_count=0), D(2024, 1, 1), D(2024, 12, 31), []),
        # repeat_until is inclusive.
        (
            D(2024, 1, 15),
            Schedule(0, "days", MONTHLY, repeat_until=D(2024, 3, 15)),
            D(2024, 1, 1),
            D(2024, 12, 31),
            [(0, D(2024, 1, 15)), (1, D(2024, 2, 15)), (2, D(2024, 3, 15))],
        ),
        (
            D(2024, 1, 15),
            Schedule(0, "days", MONTHLY, repeat_until=D(2024, 3, 14)),
            D(2024, 1, 1),
            D(2024, 12, 31),
            [(0, D(2024, 1, 15)), (1, D(2024, 2, 15))],
        ),
        # Both limits: the tighter one wins.
        (
            D(2024, 1, 15),
            Schedule(0, "days", 6, repeat_count=10, repeat_until=D(2025, 1, 15)),
            D(2000, 1, 1),
            D(2100, 1, 1),
            [(0, D(2024, 1, 15)), (1, D(2024, 7, 15)), (2, D(2025, 1, 15))],
        ),
        # repeat_until applies to a one-off too.
        (D(2024, 1, 15), Schedule(0, "days", repeat_until=D(2024, 1, 14)), D(2024, 1, 1), D(2024, 12, 31), []),
        # Edges of the calendar do not crash.
        (
            D(9999, 6, 30),
            Schedule(0, "days", 6),
            D(9999, 1, 1),
            D(9999, 12, 31),
            [(0, D(9999, 6, 30)), (1, D(9999, 12, 30))],
        ),
        (D(1, 1, 5), Schedule(-30, "days", YEARLY), D(1, 1, 1), D(1, 12, 31), [(1, D(1, 12, 6))]),
        (
            D(1, 1, 5),
            Schedule(-1, "years", YEARLY),
            D(1, 1, 1),
            D(2, 12, 31),
            [(1, D(1, 1, 5)), (2, D(2, 1, 5))],
        ),
        (D(9999, 12, 1), Schedule(40, "days"), D(9999, 1, 1), D(9999, 12, 31), []),
    ],
)
def test_occurrences_between(
    milestone: dt.date,
    schedule: Schedule,
    start: dt.date,
    end: dt.date,
    expected: list[tuple[int, dt.date]],
) -> None:
    assert occurrences_between(milestone, schedule, start, end) == expected


@pytest.mark.parametrize(
    ("leap_day", "expected"),
    [
        (
            "feb28",
            [
                (0, D(2024, 2, 29)),
                (1, D(2025, 2, 28)),
                (2, D(2026, 2, 28)),
                (3, D(2027, 2, 28)),
                (4, D(2028, 2, 29)),
            ],
        ),
        (
            "mar1",
            [
                (0, D(2024, 2, 29)),
                (1, D(2025, 3, 1)),
                (2, D(2026, 3, 1)),
                (3, D(2027, 3, 1)),
                (4, D(2028, 2, 29)),
            ],
        ),
    ],
)
def test_leap_day_milestone_yearly(leap_day: LeapDayPolicy, expected: list[tuple[int, dt.date]]) -> None:
    schedule = Schedule(0, "days", YEARLY)
    found = occurrences_between(D(2024, 2, 29), schedule, D(2024, 1, 1), D(2028, 12, 31), leap_day)
    assert found == expected


def test_occurrences_between_jumps_to_the_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """A milestone centuries back costs a handful of computations, not one per month."""
    calls = 0
    real_add_months = cal.add_months

    def counting_add_months(*args: Any, **kwargs: Any) -> dt.date:
        nonlocal calls
        calls += 1
        return real_add_months(*args, **kwargs)

    monkeypatch.setattr(cal, "add_months", counting_add_months)
    schedule = Schedule(-3, "days", MONTHLY)
    found = occurrences_between(D(1, 1, 31), schedule, D(2026, 1, 1), D(2026, 2, 28))
    assert found == [
        (2025 * 12, D(2026, 1, 28)),
        (2025 * 12 + 1, D(2026, 2, 25)),
    ]
    assert calls < 10


@settings(deadline=None)
@given(
    milestone=dates,
    schedule=schedules(),
    start=dates,
    span=st.integers(-30, 3 * 366),
    leap_day=leap_policies,
)
def test_occurrences_between_matches_brute_force(
    milestone: dt.date,
    schedule: Schedule,
    start: dt.date,
    span: int,
    leap_day: LeapDayPolicy,
) -> None:
    end = start + dt.timedelta(days=span)
    expected = brute_force_occurrences(milestone, schedule, start, end, leap_day)
    assert occurrences_between(milestone, schedule, start, end, leap_day) == expected


@settings(deadline=None)
@given(
    milestone=dates,
    schedule=schedules(),
    start=dates,
    cut=st.integers(0, 2 * 366),
    span=st.integers(0, 2 * 366),
)
def test_adjacent_windows_split_occurrences_exactly(
    milestone: dt.date, schedule: Schedule, start: dt.date, cut: int, span: int
) -> None:
    """Planning [a, b] then [b+1, c] finds exactly what planning [a, c] finds."""
    middle = start + dt.timedelta(days=cut)
    end = middle + dt.timedelta(days=span)
    first = occurrences_between(milestone, schedule, start, middle)
    second = occurrences_between(milestone, schedule, middle + dt.timedelta(days=1), end)
    assert first + second == occurrences_between(milestone, schedule, start, end)


# --- Business days -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "country", "region", "expected"),
    [
        # Weekends only without a country.
        (D(2026, 7, 3), "", "", True),
        (D(2026, 7, 4), "", "", False),
        (D(2026, 7, 5), "", "", False),
        (D(2026, 12, 25), "", "", True),
        # US: 4 July 2026 is a Saturday, observed on Friday 3 July.
        (D(2026, 7, 3), "US", "", False),
        (D(2026, 7, 3), "US", "CA", False),
        (D(2026, 7, 2), "US", "", True),
        (D(2026, 7, 6), "US", "", True),
        (D(2026, 11, 26), "US", "", False),  # Thanksgiving
        (D(2026, 3, 31), "US", "CA", False),  # Cesar Chavez Day, California only
        (D(2026, 3, 31), "US", "", True),
        (D(2026, 3, 31), "US", "California", False),  # alias accepted by holidays
        # Germany: Epiphany in Bavaria, not in Berlin.
        (D(2026, 1, 6), "DE", "BY", False),
        (D(2026, 1, 6), "DE", "BE", True),
        (D(2026, 1, 6), "DE", "", True),
        (D(2026, 10, 3), "DE", "BE", False),  # German Unity Day (a Saturday)
        (D(2026, 12, 25), "DE", "BE", False),
        # GB: Christmas and Boxing Day on a weekend move to the next weekdays.
        (D(2027, 12, 27), "GB", "", False),
        (D(2027, 12, 28), "GB", "", False),
        (D(2027, 12, 29), "GB", "", True),
        (D(2026, 12, 28), "GB", "ENG", False),
        (D(2026, 12, 29), "GB", "ENG", True),
        (D(2026, 4, 6), "GB", "ENG", False),  # Easter Monday, England
        (D(2026, 4, 6), "GB", "SCT", True),  # not a bank holiday in Scotland
        # Australia: state-specific days.
        (D(2026, 11, 3), "AU", "VIC", False),  # Melbourne Cup Day
        (D(2026, 11, 3), "AU", "NSW", True),
        (D(2026, 9, 25), "AU", "VIC", False),  # Friday before the AFL Grand Final
        (D(2026, 9, 25), "AU", "NSW", True),
        (D(2026, 1, 26), "AU", "NSW", False),  # Australia Day
        # New Zealand.
        (D(2026, 2, 6), "NZ", "", False),  # Waitangi Day
        (D(2026, 4, 27), "NZ", "", False),  # Anzac Day (Saturday) observed Monday
        (D(2026, 7, 10), "NZ", "", False),  # Matariki
        (D(2026, 1, 26), "NZ", "AUK", False),  # Auckland Anniversary Day
        (D(2026, 1, 26), "NZ", "WGN", True),
        (D(2026, 1, 19), "NZ", "WGN", False),  # Wellington Anniversary Day
    ],
)
def test_is_business_day(day: dt.date, country: str, region: str, expected: bool) -> None:
    assert is_business_day(day, country, region) is expected


@pytest.mark.parametrize(
    ("day", "policy", "country", "region", "expected"),
    [
        (D(2026, 7, 4), "none", "US", "", D(2026, 7, 4)),
        (D(2026, 7, 1), "next", "US", "", D(2026, 7, 1)),
        (D(2026, 7, 1), "previous", "US", "", D(2026, 7, 1)),
        # US Independence Day weekend: Fri 3 (observed) to Sun 5 July.
        (D(2026, 7, 3), "next", "US", "", D(2026, 7, 6)),
        (D(2026, 7, 4), "previous", "US", "", D(2026, 7, 2)),
        (D(2026, 7, 4), "previous", "", "", D(2026, 7, 3)),
        # US Memorial Day weekend: Sat 23 to Mon 25 May.
        (D(2026, 5, 23), "next", "US", "", D(2026, 5, 26)),
        (D(2026, 5, 25), "previous", "US", "", D(2026, 5, 22)),
        # English Easter: Good Friday 3 April to Easter Monday 6 April.
        (D(2026, 4, 3), "next", "GB", "ENG", D(2026, 4, 7)),
        (D(2026, 4, 6), "previous", "GB", "ENG", D(2026, 4, 2)),
        (D(2026, 4, 6), "next", "GB", "SCT", D(2026, 4, 6)),
        # Christmas 2027 in GB: Sat 25 to Tue 28 December.
        (D(2027, 12, 25), "next", "GB", "", D(2027, 12, 29)),
        (D(2027, 12, 28), "previous", "GB", "", D(2027, 12, 24)),
        # Bavaria: Epiphany on a Tuesday.
        (D(2026, 1, 6), "next", "DE", "BY", D(2026, 1, 7)),
        (D(2026, 1, 6), "previous", "DE", "BY", D(2026, 1, 5)),
        (D(2026, 1, 6), "next", "DE", "BE", D(2026, 1, 6)),
        # Melbourne: Melbourne Cup Tuesday.
        (D(2026, 11, 3), "previous", "AU", "VIC", D(2026, 11, 2)),
        # New Zealand: Anzac Day observed on Monday 27 April 2026.
        (D(2026, 4, 25), "next", "NZ", "", D(2026, 4, 28)),
    ],
)
def test_shift_to_business_day(
    day: dt.date,
    policy: BusinessDayPolicy,
    country: str,
    region: str,
    expected: dt.date,
) -> None:
    assert shift_to_business_day(day, policy, country, region) == expected
    assert call_due_on(day, policy, country, region) == expected


@pytest.mark.parametrize(
    ("day", "n", "country", "region", "expected"),
    [
        (D(2026, 7, 8), 0, "US", "", D(2026, 7, 8)),
        (D(2026, 7, 4), 0, "US", "", D(2026, 7, 4)),  # n == 0 is the day itself
        (D(2026, 7, 8), 1, "US", "", D(2026, 7, 7)),
        # Three business days before Tue 7 July 2026: 6, (3 is a holiday), 2, 1 July.
        (D(2026, 7, 7), 3, "US", "", D(2026, 7, 1)),
        (D(2026, 7, 7), 3, "", "", D(2026, 7, 2)),
        # Three business days before Wed 8 April 2026 in England: 7, (6, 3), 2, 1 April.
        (D(2026, 4, 8), 3, "GB", "ENG", D(2026, 4, 1)),
        (D(2026, 4, 8), 3, "GB", "SCT", D(2026, 4, 2)),
        (D(2026, 4, 8), 3, "", "", D(2026, 4, 3)),
        # Across Christmas and New Year in Germany.
        (D(2027, 1, 4), 3, "DE", "BY", D(2026, 12, 29)),
    ],
)
def test_business_days_before(day: dt.date, n: int, country: str, region: str, expected: dt.date) -> None:
    assert business_days_before(day, n, country, region) == expected


@pytest.mark.parametrize(
    ("day", "n", "country", "region", "expected"),
    [
        (D(2026, 7, 1), 0, "US", "", D(2026, 7, 1)),
        # Two business days after Wed 1 July 2026: 2, (3 observed, 4, 5), 6 July.
        (D(2026, 7, 1), 2, "US", "", D(2026, 7, 6)),
        (D(2026, 7, 1), 2, "", "", D(2026, 7, 3)),
        # Across Easter in England: after Thu 2 April 2026 come (3, 4, 5, 6) 7 April.
        (D(2026, 4, 2), 1, "GB", "ENG", D(2026, 4, 7)),
        (D(2026, 4, 2), 1, "GB", "SCT", D(2026, 4, 6)),
    ],
)
def test_business_days_after(day: dt.date, n: int, country: str, region: str, expected: dt.date) -> None:
    assert business_days_after(day, n, country, region) == expected


@given(day=recent_dates, n=st.integers(min_value=0, max_value=15), calendar=regions)
@settings(deadline=None, max_examples=100)
def test_business_days_after_and_before_are_inverse_on_business_days(
    day: dt.date, n: int, calendar: tuple[str, str]
) -> None:
    country, region = calendar
    start = shift_to_business_day(day, "next", country, region)
    assert business_days_before(business_days_after(start, n, country, region), n, country, region) == start


@pytest.mark.parametrize(
    ("occurs_on", "lead_days", "country", "region", "expected"),
    [
        # A card for Tue 7 July 2026 with a 3-day lead, across 3 July (observed).
        (D(2026, 7, 7), 3, "US", "", D(2026, 7, 1)),
        # Bavaria: a card for Thu 8 January is mailed before Epiphany on 6 January.
        (D(2026, 1, 8), 3, "DE", "BY", D(2026, 1, 2)),
        (D(2026, 1, 8), 3, "DE", "BE", D(2026, 1, 5)),
        (D(2026, 1, 8), 0, "DE", "BY", D(2026, 1, 8)),
    ],
)
def test_card_due_on(occurs_on: dt.date, lead_days: int, country: str, region: str, expected: dt.date) -> None:
    assert card_due_on(occurs_on, lead_days, country, region) == expected


def test_business_days_before_rejects_negative_n() -> None:
    with pytest.raises(ValueError, match="-1"):
        business_days_before(D(2026, 1, 1), -1)


def test_shift_rejects_unknown_policy() -> None:
    with pytest.raises(ValueError, match="'sideways'"):
        shift_to_business_day(D(2026, 1, 1), "sideways")  # type: ignore[arg-type]


@settings(deadline=None)
@given(day=recent_dates, place=regions)
def test_weekends_are_never_business_days(day: dt.date, place: tuple[str, str]) -> None:
    if day.weekday() >= 5:
        assert not is_business_day(day, *place)


@settings(deadline=None)
@given(day=recent_dates, place=regions)
def test_next_is_the_nearest_business_day_on_or_after(day: dt.date, place: tuple[str, str]) -> None:
    result = shift_to_business_day(day, "next", *place)
    assert result >= day
    assert is_business_day(result, *place)
    assert result - day < dt.timedelta(days=10)
    skipped = day
    while skipped < result:
        assert not is_business_day(skipped, *place)
        skipped += dt.timedelta(days=1)


@settings(deadline=None)
@given(day=recent_dates, place=regions)
def test_previous_is_the_nearest_business_day_on_or_before(day: dt.date, place: tuple[str, str]) -> None:
    result = shift_to_business_day(day, "previous", *place)
    assert result <= day
    assert is_business_day(result, *place)
    assert day - result < dt.timedelta(days=10)
    skipped = day
    while skipped > result:
        assert not is_business_day(skipped, *place)
        skipped -= dt.timedelta(days=1)


@settings(deadline=None)
@given(day=recent_dates, place=regions)
def test_shifting_a_business_day_leaves_it_alone(day: dt.date, place: tuple[str, str]) -> None:
    if is_business_day(day, *place):
        assert shift_to_business_day(day, "next", *place) == day
        assert shift_to_business_day(day, "previous", *place) == day
    assert shift_to_business_day(day, "none", *place) == day


@settings(deadline=None)
@given(day=recent_dates, n=st.integers(0, 15), place=regions)
def test_business_days_before_counts_exactly_n_business_days(day: dt.date, n: int, place: tuple[str, str]) -> None:
    result = business_days_before(day, n, *place)
    if n == 0:
        assert result == day
        return
    assert result < day
    assert is_business_day(result, *place)
    between = [result + dt.timedelta(days=i) for i in range((day - result).days)]  # [result, day)
    assert sum(is_business_day(d, *place) for d in between) == n


# --- Validation --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "region"),
    [
        ("", ""),
        ("US", ""),
        ("US", "CA"),
        ("DE", "BY"),
        ("DE", "Bayern"),
        ("GB", "ENG"),
        ("NZ", "AUK"),
        ("NZ", "Auckland"),
    ],
)
def test_validate_country_region_accepts(country: str, region: str) -> None:
    validate_country_region(country, region)


@pytest.mark.parametrize(
    ("country", "region", "named"),
    [
        ("XX", "", "'XX'"),
        ("us", "", "'us'"),
        ("USA", "", "'USA'"),
        ("UK", "", "'UK'"),
        ("DE", "ZZ", "'ZZ'"),
        ("US", "BY", "'BY'"),
        ("", "CA", "'CA'"),
    ],
)
def test_validate_country_region_names_the_bad_value(country: str, region: str, named: str) -> None:
    with pytest.raises(UnknownRegion, match=named):
        validate_country_region(country, region)


@pytest.mark.parametrize(
    "call",
    [
        lambda: is_business_day(D(2026, 1, 6), "DE", "Atlantis"),
        lambda: shift_to_business_day(D(2026, 1, 6), "next", "DE", "Atlantis"),
        lambda: business_days_before(D(2026, 1, 6), 2, "DE", "Atlantis"),
        lambda: card_due_on(D(2026, 1, 6), 2, "DE", "Atlantis"),
        lambda: call_due_on(D(2026, 1, 6), "none", "DE", "Atlantis"),
    ],
)
def test_business_day_functions_reject_unknown_regions(call: Callable[[], object]) -> None:
    with pytest.raises(UnknownRegion, match="'Atlantis'"):
        call()


def test_unknown_region_is_a_value_error() -> None:
    assert issubclass(UnknownRegion, ValueError)
    assert issubclass(UnknownTimeZone, ValueError)


# --- Time zones --------------------------------------------------------------------


def test_local_today_on_both_sides_of_the_date_line() -> None:
    now = dt.datetime(2026, 1, 1, 10, 30, tzinfo=dt.UTC)
    assert local_today(now, "Pacific/Kiritimati") == D(2026, 1, 2)  # UTC+14
    assert local_today(now, "Pacific/Pago_Pago") == D(2025, 12, 31)  # UTC-11
    assert local_today(now, "UTC") == D(2026, 1, 1)


@pytest.mark.parametrize(
    ("now", "zone", "expected"),
    [
        # Just before and after local midnight in New York (UTC-5 in January).
        (dt.datetime(2026, 1, 2, 4, 59, 59, tzinfo=dt.UTC), "America/New_York", D(2026, 1, 1)),
        (dt.datetime(2026, 1, 2, 5, 0, tzinfo=dt.UTC), "America/New_York", D(2026, 1, 2)),
        # Summer time in Berlin (UTC+2).
        (dt.datetime(2026, 7, 1, 21, 59, tzinfo=dt.UTC), "Europe/Berlin", D(2026, 7, 1)),
        (dt.datetime(2026, 7, 1, 22, 0, tzinfo=dt.UTC), "Europe/Berlin", D(2026, 7, 2)),
        # An aware datetime in another zone is converted, not reinterpreted.
        (
            dt.datetime(2026, 3, 1, 8, 0, tzinfo=ZoneInfo("Asia/Tokyo")),
            "America/Los_Angeles",
            D(2026, 2, 28),
        ),
        (dt.datetime(2026, 3, 1, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))), "UTC", D(2026, 2, 28)),
    ],
)
def test_local_today(now: dt.datetime, zone: str, expected: dt.date) -> None:
    assert local_today(now, zone) == expected


@settings(deadline=None)
@given(
    now=st.datetimes(
        min_value=dt.datetime(1996, 1, 1),
        max_value=dt.datetime(2090, 1, 1),
        timezones=st.just(dt.UTC),
    )
)
def test_kiritimati_and_pago_pago_are_one_or_two_dates_apart(now: dt.datetime) -> None:
    # Since 1995 Kiritimati is UTC+14 and Pago Pago UTC-11: 25 hours apart.
    gap = local_today(now, "Pacific/Kiritimati") - local_today(now, "Pacific/Pago_Pago")
    utc_hour = now.hour
    assert gap == dt.timedelta(days=2 if utc_hour == 10 else 1)


def test_local_today_rejects_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        local_today(dt.datetime(2026, 1, 1, 12, 0), "UTC")


@pytest.mark.parametrize("zone", ["Mars/Base", "", "America", "../etc/passwd", "/etc/localtime", "zone.tab"])
def test_unknown_time_zones_are_named(zone: str) -> None:
    with pytest.raises(UnknownTimeZone, match=re.escape(f"Unknown time zone {zone!r}")):
        validate_time_zone(zone)
    with pytest.raises(UnknownTimeZone):
        local_today(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), zone)


def test_unknown_time_zone_message() -> None:
    with pytest.raises(UnknownTimeZone) as excinfo:
        validate_time_zone("Mars/Base")
    assert str(excinfo.value) == "Unknown time zone 'Mars/Base'"


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "Pacific/Kiritimati", "America/Argentina/Buenos_Aires"])
def test_known_time_zones_validate(zone: str) -> None:
    validate_time_zone(zone)


# --- Date anchors (rule 7) -----------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "country", "year", "expected"),
    [
        ("Thanksgiving", "US", 2026, D(2026, 11, 26)),
        ("thanksgiving day", "US", 2027, D(2027, 11, 25)),
        ("Thanksgiving", "GB", 2026, None),
        ("Thanksgiving", "JP", 2026, None),  # not "Labor Thanksgiving Day"
        ("Chinese New Year", "CN", 2026, D(2026, 2, 17)),  # "Chinese New Year (Spring Festival)"
        ("Chinese New Year", "CN", 2027, D(2027, 2, 6)),
        ("Chinese New Year", "SG", 2025, D(2025, 1, 29)),
        ("Chinese New Year; Lunar New Year", "VN", 2026, D(2026, 2, 17)),
        ("Chinese New Year; Korean New Year", "KR", 2027, D(2027, 2, 7)),
        ("Chinese New Year", "US", 2026, None),
        ("Christmas Day", "GB", 2026, D(2026, 12, 25)),
        ("CHRISTMAS DAY", "DE", 2027, D(2027, 12, 25)),  # English names even where the package speaks German
        ("Christmas", "US", 2022, D(2022, 12, 25)),  # a Sunday: the holiday, not the observed Monday
        ("Christmas Day", "JP", 2026, None),
        ("Independence Day", "US", 2026, D(2026, 7, 4)),  # not "Independence Day (observed)" on the 3rd
        ("Christmas Day", "", 2026, None),  # no country, no holidays
    ],
)
def test_named_holidays_across_countries_and_years(names: str, country: str, year: int, expected: dt.date | None):
    assert cal.holiday_date(names, year, country) == expected


def test_a_regional_holiday_needs_the_region():
    assert cal.holiday_date("Epiphany", 2026, "DE") is None
    assert cal.holiday_date("Epiphany", 2026, "DE", "BY") == D(2026, 1, 6)
    # Canada keeps its own Thanksgiving, in October, by province.
    assert cal.holiday_date("Thanksgiving", 2026, "CA", "ON") == D(2026, 10, 12)
    cal.validate_holiday("Thanksgiving", ["CA"], [2026])


@pytest.mark.parametrize(
    ("year", "policy", "expected"),
    [
        (2028, "feb28", D(2028, 2, 29)),
        (2028, "mar1", D(2028, 2, 29)),
        (2027, "feb28", D(2027, 2, 28)),
        (2027, "mar1", D(2027, 3, 1)),
        (2100, "feb28", D(2100, 2, 28)),  # not a leap year
        (2000, "mar1", D(2000, 2, 29)),  # a leap year
    ],
)
def test_an_annual_29_february_follows_the_leap_day_policy(year: int, policy: LeapDayPolicy, expected: dt.date):
    assert cal.annual_date(year, 2, 29, policy) == expected


@pytest.mark.parametrize(("month", "day"), [(2, 30), (4, 31), (13, 1), (0, 5), (12, 0), (12, 32)])
def test_days_that_no_year_has_are_refused(month: int, day: int):
    with pytest.raises(ValueError, match="must be"):
        cal.DateAnchor(kind="annual", month=month, day=day)


def test_an_annual_anchor_gives_every_year_across_year_ends():
    anchor = cal.DateAnchor(kind="annual", month=12, day=31)
    found = cal.anchored_occurrences_between(
        anchor, Schedule(offset_amount=1, offset_unit="days"), D(2026, 12, 1), D(2028, 1, 31)
    )
    # 31 December + 1 day is the next year's 1 January: the season is the anchor's year.
    assert found == [(2026, D(2026, 12, 31), D(2027, 1, 1)), (2027, D(2027, 12, 31), D(2028, 1, 1))]


def test_an_offset_before_new_year_lands_in_the_year_before():
    anchor = cal.DateAnchor(kind="annual", month=1, day=1)
    found = cal.anchored_occurrences_between(
        anchor, Schedule(offset_amount=-2, offset_unit="weeks"), D(2026, 12, 1), D(2026, 12, 31)
    )
    assert found == [(2027, D(2027, 1, 1), D(2026, 12, 18))]


def test_once_gives_its_date_only_and_nothing_after():
    anchor = cal.DateAnchor(kind="once", on=D(2026, 12, 10))
    offset = Schedule(offset_amount=0, offset_unit="days")
    assert cal.anchored_occurrences_between(anchor, offset, D(2026, 1, 1), D(2030, 12, 31)) == [
        (2026, D(2026, 12, 10), D(2026, 12, 10))
    ]
    assert cal.anchored_occurrences_between(anchor, offset, D(2026, 12, 11), D(2030, 12, 31)) == []


def test_repeat_until_ends_a_yearly_anchor():
    anchor = cal.DateAnchor(kind="annual", month=12, day=1)
    offset = Schedule(offset_amount=0, offset_unit="days", repeat_every_months=12, repeat_until=D(2027, 12, 31))
    found = cal.anchored_occurrences_between(anchor, offset, D(2026, 1, 1), D(2030, 12, 31))
    assert [year for year, _, _ in found] == [2026, 2027]


def test_a_holiday_anchor_moves_with_the_year():
    anchor = cal.DateAnchor(kind="holiday", holiday="Chinese New Year")
    offset = Schedule(offset_amount=0, offset_unit="days")
    found = cal.anchored_occurrences_between(anchor, offset, D(2025, 1, 1), D(2028, 12, 31), "SG")
    assert [day for _, day, _ in found] == [D(2025, 1, 29), D(2026, 2, 17), D(2027, 2, 6), D(2028, 1, 26)]


def test_an_unknown_holiday_is_named_with_the_closest_names():
    with pytest.raises(cal.UnknownHoliday, match=r"Unknown holiday 'Thanksgivin'.*'Thanksgiving Day'"):
        cal.validate_holiday("Thanksgivin", ["US", "GB"], [2026])
    with pytest.raises(cal.UnknownHoliday, match="Unknown holiday 'Festivus'"):
        cal.validate_holiday("Christmas Day; Festivus", ["US", "GB"], [2026, 2027])
    cal.validate_holiday("Thanksgiving", ["US", "GB"], [2026])  # kept by one country: enough


@given(year=st.integers(1901, 2099), month=st.integers(1, 12), day=st.integers(1, 31), policy=leap_policies)
def test_annual_dates_keep_day_and_month_or_clamp_only_29_february(
    year: int, month: int, day: int, policy: LeapDayPolicy
):
    assume(day <= (29 if month == 2 else stdlib_calendar.monthrange(2001, month)[1]))
    result = cal.annual_date(year, month, day, policy)
    assert result.year == year
    if (month, day) == (2, 29) and not stdlib_calendar.isleap(year):
        assert result == (D(year, 3, 1) if policy == "mar1" else D(year, 2, 28))
    else:
        assert (result.month, result.day) == (month, day)


# --- Offsets in business days -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("milestone", "amount", "repeat", "k", "country", "region", "expected"),
    [
        # Two business days after a Friday: the Tuesday (a calendar offset would give the Sunday).
        (D(2026, 5, 8), 2, None, 0, "US", "", D(2026, 5, 12)),
        (D(2026, 5, 4), 2, None, 0, "US", "", D(2026, 5, 6)),
        # From a Saturday, the first business day after it counts as one.
        (D(2026, 5, 9), 1, None, 0, "US", "", D(2026, 5, 11)),
        # Across Independence Day, observed on Friday 3 July 2026.
        (D(2026, 7, 1), 2, None, 0, "US", "", D(2026, 7, 6)),
        # Across Easter Monday in England but not in Scotland.
        (D(2026, 4, 2), 1, None, 0, "GB", "ENG", D(2026, 4, 7)),
        (D(2026, 4, 2), 1, None, 0, "GB", "SCT", D(2026, 4, 6)),
        # Before: 3 business days before Monday 4 May 2026 in Germany (1 May is a holiday).
        (D(2026, 5, 4), -3, None, 0, "DE", "", D(2026, 4, 28)),
        # Yearly: counted from each anniversary, never from the previous occurrence.
        (D(2024, 5, 10), 2, 12, 2, "US", "", D(2026, 5, 12)),
        # Zero business days: the anniversary itself, even on a weekend.
        (D(2026, 5, 9), 0, None, 0, "US", "", D(2026, 5, 9)),
    ],
)
def test_an_offset_in_business_days_counts_the_customers_business_days(
    milestone: dt.date, amount: int, repeat: int | None, k: int, country: str, region: str, expected: dt.date
) -> None:
    schedule = Schedule(offset_amount=amount, offset_unit="business_days", repeat_every_months=repeat)
    anniversary = cal.occurrence(milestone, schedule, k)
    assert cal.in_business_days(anniversary, schedule, country, region) == expected


def test_an_offset_in_calendar_units_is_not_moved_to_business_days() -> None:
    schedule = Schedule(offset_amount=2, offset_unit="days")
    sunday = cal.occurrence(D(2026, 5, 8), schedule, 0)
    assert sunday == D(2026, 5, 10)
    assert cal.in_business_days(sunday, schedule, "US") == sunday
    assert cal.business_days_span(schedule) == 0


@given(day=recent_dates, n=st.integers(min_value=-15, max_value=15), calendar=regions)
@settings(deadline=None, max_examples=100)
def test_business_days_stay_within_their_span(day: dt.date, n: int, calendar: tuple[str, str]) -> None:
    schedule = Schedule(offset_amount=n, offset_unit="business_days")
    moved = cal.in_business_days(day, schedule, *calendar)
    assert abs((moved - day).days) <= cal.business_days_span(schedule)
    assert (moved > day) == (n > 0) and (moved < day) == (n < 0)
