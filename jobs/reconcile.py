"""Reconciliation: the stream's gold.sales_by_day against a recomputation from silver.

The stream keeps gold exact by recomputing what each batch touched; this is the independent
daily check. A day whose figures differ is reported with the size of each difference, and
corrected by replacing its gold row with the recomputed one (the same `streaming.gold`
function the stream uses). Every comparison is kept in ops.reconciliation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from jobs.daily import read_days, replace_days
from jobs.history import end_of
from lakehouse.settings import Settings
from lakehouse.tables import (
    GOLD_SALES_BY_DAY,
    OPS_RECONCILIATION,
    SILVER_INVOICES,
    SILVER_ORDER_UPDATES,
    SILVER_ORDERS,
    SILVER_PAYMENTS,
    SILVER_REFUNDS,
)
from streaming import gold

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: The figures of gold.sales_by_day that are compared (every measure column).
FIGURES = tuple(
    f.name
    for f in GOLD_SALES_BY_DAY.schema.fields
    if f.name not in ("event_date", "complete_up_to", "updated_at")
)


@dataclass
class Reconciliation:
    checked: int = 0
    differences: list[str] = field(default_factory=list)
    corrected_days: list[str] = field(default_factory=list)


def _number(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def compare(
    stream: dict[date, dict[str, Any]], silver: dict[date, dict[str, Any]], days: Sequence[date]
) -> list[dict[str, Any]]:
    """One comparison row per day and figure (pure: tested without Spark)."""
    rows = []
    for day in days:
        ours, theirs = stream.get(day, {}), silver.get(day, {})
        for figure in FIGURES:
            a, b = _number(ours.get(figure)), _number(theirs.get(figure))
            if a is None and b is None and not theirs.get("orders") and not ours:
                continue  # a day with nothing in either place
            rows.append(
                {
                    "event_date": day,
                    "table_name": GOLD_SALES_BY_DAY.qualified_name,
                    "figure": figure,
                    "stream_value": None if a is None else str(a),
                    "silver_value": None if b is None else str(b),
                    "difference": float((a or 0) - (b or 0)),
                    "matches": a == b,
                }
            )
    return rows


def reconcile_days(spark: SparkSession, settings: Settings, days: Sequence[date]) -> Reconciliation:
    """Compare and correct gold.sales_by_day for these days; record every comparison."""

    def read(table: Any) -> Any:
        return read_days(spark, settings, table, days)

    recomputed = gold.sales_by_day(
        read(SILVER_ORDERS),
        read(SILVER_ORDER_UPDATES),
        read(SILVER_REFUNDS),
        read(SILVER_PAYMENTS),
        read(SILVER_INVOICES),
        end_of(max(days)),
    ).localCheckpoint(eager=True)
    silver = {r["event_date"]: r.asDict() for r in recomputed.collect()}
    stream = {r["event_date"]: r.asDict() for r in read(GOLD_SALES_BY_DAY).collect()}
    rows = compare(stream, silver, days)
    result = Reconciliation(checked=len(rows))
    wrong_days = sorted({r["event_date"] for r in rows if not r["matches"]})
    for r in rows:
        if not r["matches"]:
            result.differences.append(
                f"{r['event_date']} {r['figure']}: stream {r['stream_value']}, "
                f"silver {r['silver_value']}"
            )
    if wrong_days:
        fixed = recomputed.where(recomputed.event_date.isin(*[d.isoformat() for d in wrong_days]))
        replace_days(settings, GOLD_SALES_BY_DAY, fixed, wrong_days)
        result.corrected_days = [d.isoformat() for d in wrong_days]
    checked_at = datetime.now(UTC)
    for r in rows:
        r["corrected"] = r["event_date"] in wrong_days
        r["checked_at"] = checked_at
    if rows:
        frame = spark.createDataFrame(rows, OPS_RECONCILIATION.schema)
        frame.write.format("delta").mode("append").save(OPS_RECONCILIATION.location(settings))
    return result
