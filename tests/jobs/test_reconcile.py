"""Reconciliation's comparison: every figure of every day, with the size of a difference."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from jobs.reconcile import FIGURES, compare

pytestmark = pytest.mark.unit

DAY = date(2026, 3, 1)


def _figures(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {f: 0 for f in FIGURES}
    base.update(orders=3, order_value=Decimal("30.00"), average_order_value=Decimal("10.00"))
    base.update(changes)
    return base


def test_equal_days_match_on_every_figure() -> None:
    rows = compare({DAY: _figures()}, {DAY: _figures()}, [DAY])
    assert len(rows) == len(FIGURES)
    assert all(r["matches"] for r in rows)


def test_a_difference_is_reported_with_its_size() -> None:
    rows = compare({DAY: _figures(orders=5)}, {DAY: _figures()}, [DAY])
    wrong = [(r["figure"], r["difference"]) for r in rows if not r["matches"]]
    assert wrong == [("orders", 2.0)]


def test_a_day_missing_from_the_stream_differs() -> None:
    rows = compare({}, {DAY: _figures()}, [DAY])
    assert {r["figure"] for r in rows if not r["matches"]} >= {"orders", "order_value"}


def test_a_day_with_nothing_anywhere_is_not_a_comparison() -> None:
    assert compare({}, {}, [DAY]) == []
