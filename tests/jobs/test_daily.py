"""The day arithmetic of the daily aggregates: ranges, weeks and the replaceWhere predicate."""

from __future__ import annotations

from datetime import date

import pytest

from jobs.daily import day_range, days_predicate, week_start

pytestmark = pytest.mark.unit


def test_day_range_includes_both_ends_and_refuses_a_reversed_range() -> None:
    assert day_range(date(2026, 2, 27), date(2026, 3, 1)) == [
        date(2026, 2, 27),
        date(2026, 2, 28),
        date(2026, 3, 1),
    ]
    with pytest.raises(ValueError, match="ends"):
        day_range(date(2026, 3, 2), date(2026, 3, 1))


def test_week_start_is_the_monday() -> None:
    assert week_start(date(2026, 11, 29)) == date(2026, 11, 23)  # a Sunday
    assert week_start(date(2026, 11, 23)) == date(2026, 11, 23)


def test_days_predicate_lists_each_day_once_in_order() -> None:
    days = [date(2026, 1, 3), date(2026, 1, 1), date(2026, 1, 3)]
    assert days_predicate(days) == "event_date IN (DATE'2026-01-01', DATE'2026-01-03')"
    assert days_predicate(days[:1], "activity_week").startswith("activity_week IN")
