"""A suite runs on pandas and on Spark alike, with the same verdicts, counts and examples."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest

from quality.validate import Validation, validate
from rapport.lakehouse.tables import SILVER_ORDER_LINES, SILVER_ORDERS, SILVER_PAYMENTS

DAY = date(2026, 11, 26)
AT = datetime(2026, 11, 26, 10, 0)


def _order(event_id: str, **changes: Any) -> dict[str, Any]:
    row = {
        "event_id": event_id,
        "event_time": AT,
        "ingest_time": AT,
        "contract_version": 2,
        "line_count": 1,
        "order_id": f"o-{event_id}",
        "customer_id": "c-1",
        "currency": "EUR",
        "channel": "web",
        "region": "apac",
        "warehouse": "WH-AMS",
        "total": Decimal("20.00"),
        "coupon_code": None,
        "event_date": DAY,
    }
    return {**row, **changes}


def _line(event_id: str, amount: str = "20.00") -> dict[str, Any]:
    return {
        "event_id": event_id,
        "line_number": 1,
        "order_id": f"o-{event_id}",
        "sku": "SKU-00001",
        "quantity": 2,
        "unit_price": Decimal(amount) / 2,
        "category": "home",
        "line_amount": Decimal(amount),
        "event_time": AT,
        "ingest_time": AT,
        "event_date": DAY,
    }


ORDERS = [
    _order("e1"),
    _order("e2", currency="XXX"),
    _order("e3", total=Decimal("-5.00")),
    _order("e1"),  # a duplicate key
]
LINES = [_line("e1"), _line("e2"), _line("e3", "-5.00"), _line("ghost")]


def _failures(result: Validation) -> dict[str, tuple[int, list[Any]]]:
    return {
        c.rule.name: (c.failing_rows, sorted(map(str, c.examples)))
        for c in result.checks
        if not c.passed
    }


EXPECTED_ORDERS = {
    "key_unique": (2, ["e1", "e1"]),
    "currency_in_contract_values": (1, ["XXX"]),
    "total_not_negative": (1, ["-5.00"]),
}


@pytest.mark.unit
def test_pandas_counts_failing_rows_and_shows_examples() -> None:
    orders, lines = pd.DataFrame(ORDERS), pd.DataFrame(LINES)
    result = validate(
        SILVER_ORDERS, orders, partition=DAY.isoformat(), related={"silver.order_lines": lines}
    )
    assert not result.passed
    assert _failures(result) == EXPECTED_ORDERS
    assert result.partition == "2026-11-26"
    assert result.suite == "silver.orders.quality"
    lines_result = validate(SILVER_ORDER_LINES, lines, related={"silver.orders": orders})
    assert _failures(lines_result) == {
        "line_belongs_to_order": (1, ["event_id=ghost"]),
        "line_amount_not_negative": (1, ["-5.00"]),
        "unit_price_not_negative": (1, ["-2.50"]),
    }


@pytest.mark.unit
def test_a_missing_related_frame_fails_the_rule_instead_of_passing_it() -> None:
    result = validate(SILVER_ORDERS, pd.DataFrame([_order("e1")]))
    (check,) = [c for c in result.checks if c.rule.name == "total_equals_sum_of_lines"]
    assert not check.passed
    assert check.error == "no frame of silver.order_lines was given"


@pytest.mark.unit
def test_a_payment_without_invoice_warns_without_failing_the_gate() -> None:
    payment = {
        "event_id": "p1",
        "event_time": AT,
        "ingest_time": AT,
        "contract_version": 1,
        "payment_id": "pay-1",
        "invoice_id": "inv-404",
        "order_id": "o-1",
        "amount": Decimal("1.00"),
        "currency": "EUR",
        "method": "card",
        "event_date": DAY,
    }
    invoices = pd.DataFrame({"invoice_id": ["inv-1"]})
    result = validate(
        SILVER_PAYMENTS, pd.DataFrame([payment]), related={"silver.invoices": invoices}
    )
    assert result.passed
    assert [c.rule.name for c in result.warnings] == ["payment_belongs_to_invoice"]


@pytest.mark.spark
def test_spark_gives_the_same_verdicts_as_pandas(spark: Any) -> None:
    def frame(table: Any, rows: list[dict[str, Any]]) -> Any:
        names = table.schema.fieldNames()
        return spark.createDataFrame([tuple(r[c] for c in names) for r in rows], table.schema)

    orders, lines = frame(SILVER_ORDERS, ORDERS), frame(SILVER_ORDER_LINES, LINES)
    on_spark = validate(SILVER_ORDERS, orders, related={"silver.order_lines": lines})
    on_pandas = validate(
        SILVER_ORDERS, pd.DataFrame(ORDERS), related={"silver.order_lines": pd.DataFrame(LINES)}
    )
    assert _failures(on_spark) == _failures(on_pandas) == EXPECTED_ORDERS
    assert [c.rule.name for c in on_spark.checks] == [c.rule.name for c in on_pandas.checks]
    assert _failures(validate(SILVER_ORDER_LINES, lines, related={"silver.orders": orders})) == {
        "line_belongs_to_order": (1, ["event_id=ghost"]),
        "line_amount_not_negative": (1, ["-5.00"]),
        "unit_price_not_negative": (1, ["-2.50"]),
    }
    waiting = _in_flight_verdicts(
        frame(SILVER_ORDERS, IN_FLIGHT_ORDERS), frame(SILVER_ORDER_LINES, IN_FLIGHT_LINES)
    )
    assert waiting == IN_FLIGHT_EXPECTED


def _in_flight_verdicts(orders: Any, lines: Any) -> dict[str, Any]:
    """`total_equals_sum_of_lines` five minutes after AT: in flight, and long after."""
    verdicts = {}
    for label, now in (("in flight", AT + timedelta(minutes=5)), ("late", AT + timedelta(hours=1))):
        result = validate(SILVER_ORDERS, orders, related={"silver.order_lines": lines},
                          now=now.replace(tzinfo=UTC), lines_in_flight_s=600)  # fmt: skip
        verdicts[label] = _failures(result).get("total_equals_sum_of_lines")
    return verdicts


#: An order whose lines have not landed, and one whose lines do not add up.
IN_FLIGHT_ORDERS = [_order("waits"), _order("wrong", total=Decimal("30.00"))]
IN_FLIGHT_LINES = [_line("wrong")]
#: Lines still on their way are no violation within the window; a wrong sum is at once.
IN_FLIGHT_EXPECTED = {
    "in flight": (1, ["event_id=wrong total=30.00 lines=20.00"]),
    "late": (
        2,
        ["event_id=waits total=20.00 lines=none", "event_id=wrong total=30.00 lines=20.00"],
    ),
}


@pytest.mark.unit
def test_an_order_may_wait_for_its_lines_within_the_in_flight_window() -> None:
    verdicts = _in_flight_verdicts(pd.DataFrame(IN_FLIGHT_ORDERS), pd.DataFrame(IN_FLIGHT_LINES))
    assert verdicts == IN_FLIGHT_EXPECTED
