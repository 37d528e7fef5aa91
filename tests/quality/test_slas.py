"""The SLA file: patterns resolve against the catalog, mistakes fail with what to fix."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest

from quality.slas import SlaFileError, load_slas, parse_slas

pytestmark = pytest.mark.unit


def test_first_matching_entry_wins_and_times_parse() -> None:
    slas = parse_slas(
        """
stream:
  - tables: gold.sales_by_day
    max_behind_s: 10
  - tables: "gold.*"
    max_behind_s: 60
daily:
  - tables: gold.daily_sales
    ready_by: 01:30
"""
    )
    assert slas.stream_sla("gold.sales_by_day").max_behind_s == 10  # type: ignore[union-attr]
    assert slas.stream_sla("gold.low_stock").max_behind_s == 60  # type: ignore[union-attr]
    assert slas.stream_sla("gold.daily_sales") is None  # a daily table, not the stream's
    daily = slas.daily_sla("gold.daily_sales")
    assert daily is not None
    assert daily.ready_by == time(1, 30)
    assert daily.deadline(date(2026, 11, 26)) == datetime(2026, 11, 27, 1, 30, tzinfo=UTC)
    assert daily.last_due_day(datetime(2026, 11, 27, 1, 29, tzinfo=UTC)) == date(2026, 11, 25)
    assert daily.last_due_day(datetime(2026, 11, 27, 1, 30, tzinfo=UTC)) == date(2026, 11, 26)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("stream:\n  - tables: gold.salez\n    max_behind_s: 5\n", "matches no table"),
        ("stream:\n  - tables: gold.*\n    max_behind_s: -1\n", "greater than 0"),
        ("stream:\n  - tables: gold.*\n    max_behind: 5\n", "not a valid SLA file"),
        ("stream: [\n", "not a valid SLA file"),
    ],
)
def test_mistakes_fail_clearly(text: str, says: str) -> None:
    with pytest.raises(SlaFileError, match=says):
        parse_slas(text)


def test_missing_file_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(SlaFileError, match="RAPPORT_QUALITY__SLA_FILE"):
        load_slas(tmp_path / "nope.yaml")
