"""Reconciliation's comparison: every figure of every day and currency, with the size of a
difference."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from jobs.reconcile import CHECKS, FIGURES, Group, compare, unlevel

pytestmark = pytest.mark.unit

DAY = date(2026, 3, 1)
EUR: Group = (DAY, "EUR")
USD: Group = (DAY, "USD")


def _figures(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {f: 0 for f in FIGURES}
    base.update(orders=3, order_value=Decimal("30.00"), average_order_value=Decimal("10.00"))
    base.update(changes)
    return base


def test_equal_days_match_on_every_figure_of_every_currency() -> None:
    rows = compare({EUR: _figures(), USD: _figures()}, {EUR: _figures(), USD: _figures()}, [DAY])
    assert len(rows) == 2 * len(FIGURES)
    assert all(r["matches"] for r in rows)
    assert {r["currency"] for r in rows} == {"EUR", "USD"}


def test_a_difference_is_reported_with_its_size_and_currency() -> None:
    rows = compare({EUR: _figures(orders=5)}, {EUR: _figures()}, [DAY])
    wrong = [(r["currency"], r["figure"], r["difference"]) for r in rows if not r["matches"]]
    assert wrong == [("EUR", "orders", 2.0)]


def test_a_difference_in_one_currency_is_not_hidden_by_another() -> None:
    stream = {
        EUR: _figures(order_value=Decimal("35.00")),
        USD: _figures(order_value=Decimal("25.00")),
    }
    rows = compare(stream, {EUR: _figures(), USD: _figures()}, [DAY])
    wrong = {(r["currency"], r["difference"]) for r in rows if not r["matches"]}
    assert wrong == {("EUR", 5.0), ("USD", -5.0)}


def test_a_currency_missing_from_the_stream_differs() -> None:
    rows = compare({EUR: _figures()}, {EUR: _figures(), USD: _figures()}, [DAY])
    wrong = {(r["currency"], r["figure"]) for r in rows if not r["matches"]}
    assert {("USD", "orders"), ("USD", "order_value")} <= wrong
    assert not any(r["currency"] == "EUR" and not r["matches"] for r in rows)


def test_a_day_with_nothing_anywhere_is_not_a_comparison() -> None:
    assert compare({}, {}, [DAY]) == []
    assert compare({EUR: _figures()}, {EUR: _figures()}, [date(2026, 3, 2)]) == []


def test_a_table_without_currency_is_compared_per_day() -> None:
    rows = compare({(DAY, None): {"signups": 4}}, {(DAY, None): {"signups": 3}}, [DAY],
                   "gold.signups_per_hour", ("signups",))  # fmt: skip
    assert [(r["currency"], r["difference"]) for r in rows] == [(None, 1.0)]


def test_money_tables_are_checked_per_currency() -> None:
    assert {c.table.name: c.per_currency for c in CHECKS} == {
        "sales_by_day": True,
        "orders_per_minute": True,
        "signups_per_hour": False,
    }
    assert "currency" not in FIGURES


GOLD, REFINE = "gold_events", "refine_events"
AT = {("t.orders", 0): 120, ("t.orders", 1): 80}


def test_silver_is_level_when_refine_is_where_gold_is_or_no_stream_ran() -> None:
    assert unlevel({}) is None  # history loads only: nothing to wait for
    assert unlevel({GOLD: AT, REFINE: dict(AT)}) is None


@pytest.mark.parametrize(
    "refine",
    [None, {("t.orders", 0): 120, ("t.orders", 1): 79}, {("t.orders", 0): 120}],
    ids=["no refine batch", "one partition behind", "a partition never refined"],
)
def test_silver_behind_gold_is_not_level(refine: dict[tuple[str, int], int] | None) -> None:
    """A correction then would replace gold's counts with an incomplete silver's."""
    positions = {GOLD: AT} if refine is None else {GOLD: AT, REFINE: refine}
    assert unlevel(positions) == "the refine query was not where the gold query was"
