"""Reconciliation: the stream's gold figures of a day against a recomputation from silver.

The stream keeps gold exact by recomputing what each batch touched; this is the independent
daily check, over gold.sales_by_day (every figure) and the day totals of
gold.orders_per_minute and gold.signups_per_hour. A day whose figures differ is reported with
the size of each difference, and corrected by replacing that day's gold rows with the
recomputed ones (the same `streaming.gold` functions the stream uses). Every comparison is
kept in ops.reconciliation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from jobs.daily import read_days, replace_days
from jobs.history import end_of
from lakehouse.settings import Settings
from lakehouse.tables import (
    GOLD_ORDERS_PER_MINUTE,
    GOLD_SALES_BY_DAY,
    GOLD_SIGNUPS_PER_HOUR,
    OPS_RECONCILIATION,
    SILVER_CUSTOMER_ACTIVITY,
    SILVER_INVOICES,
    SILVER_ORDER_UPDATES,
    SILVER_ORDERS,
    SILVER_PAYMENTS,
    SILVER_REFUNDS,
    TableDef,
)
from streaming import gold

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

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


@dataclass(frozen=True)
class GoldCheck:
    """A gold table the stream writes, recomputed from silver and compared by day totals."""

    table: TableDef
    figures: tuple[str, ...]
    recompute: Callable[[Callable[[TableDef], DataFrame], datetime], DataFrame]


def _sales(read: Callable[[TableDef], DataFrame], stamp: datetime) -> DataFrame:
    return gold.sales_by_day(
        read(SILVER_ORDERS),
        read(SILVER_ORDER_UPDATES),
        read(SILVER_REFUNDS),
        read(SILVER_PAYMENTS),
        read(SILVER_INVOICES),
        stamp,
    )


#: What reconciliation checks: every figure of sales_by_day, and the day totals of the
#: per-minute and per-hour tables.
CHECKS = (
    GoldCheck(GOLD_SALES_BY_DAY, FIGURES, _sales),
    GoldCheck(
        GOLD_ORDERS_PER_MINUTE,
        ("orders", "order_value"),
        lambda read, stamp: gold.orders_per_minute(read(SILVER_ORDERS), stamp),
    ),
    GoldCheck(
        GOLD_SIGNUPS_PER_HOUR,
        ("signups",),
        lambda read, stamp: gold.signups_per_hour(read(SILVER_CUSTOMER_ACTIVITY), stamp),
    ),
)


def compare(
    stream: dict[date, dict[str, Any]],
    silver: dict[date, dict[str, Any]],
    days: Sequence[date],
    table_name: str = GOLD_SALES_BY_DAY.qualified_name,
    figures: Sequence[str] = FIGURES,
) -> list[dict[str, Any]]:
    """One comparison row per day and figure (pure: tested without Spark)."""
    rows = []
    for day in days:
        ours, theirs = stream.get(day, {}), silver.get(day, {})
        if not ours and not theirs:
            continue  # a day with nothing in either place
        for figure in figures:
            a, b = _number(ours.get(figure)), _number(theirs.get(figure))
            rows.append(
                {
                    "event_date": day,
                    "table_name": table_name,
                    "figure": figure,
                    "stream_value": None if a is None else str(a),
                    "silver_value": None if b is None else str(b),
                    "difference": float((a or 0) - (b or 0)),
                    "matches": a == b,
                }
            )
    return rows


def _day_totals(frame: DataFrame, figures: Sequence[str]) -> dict[date, dict[str, Any]]:
    from pyspark.sql import functions as F

    totals = frame.groupBy("event_date").agg(*[F.sum(f).alias(f) for f in figures])
    return {r["event_date"]: r.asDict() for r in totals.collect()}


def reconcile_days(spark: SparkSession, settings: Settings, days: Sequence[date]) -> Reconciliation:
    """Compare and correct the stream's gold for these days; record every comparison."""

    def read(table: TableDef) -> DataFrame:
        return read_days(spark, settings, table, days)

    result = Reconciliation()
    checked_at = datetime.now(UTC)
    recorded: list[dict[str, Any]] = []
    for check in CHECKS:
        recomputed = check.recompute(read, end_of(max(days))).localCheckpoint(eager=True)
        rows = compare(
            _day_totals(read(check.table), check.figures),
            _day_totals(recomputed, check.figures),
            days,
            check.table.qualified_name,
            check.figures,
        )
        wrong_days = sorted({r["event_date"] for r in rows if not r["matches"]})
        result.differences += [
            f"{r['table_name']} {r['event_date']} {r['figure']}: stream {r['stream_value']}, "
            f"silver {r['silver_value']}"
            for r in rows
            if not r["matches"]
        ]
        if wrong_days:
            fixed = recomputed.where(
                recomputed.event_date.isin(*[d.isoformat() for d in wrong_days])
            )
            replace_days(settings, check.table, fixed, wrong_days)
            result.corrected_days += [f"{check.table.name} {d}" for d in wrong_days]
        for r in rows:
            r["corrected"] = r["event_date"] in wrong_days
            r["checked_at"] = checked_at
        recorded += rows
    result.checked = len(recorded)
    if recorded:
        frame = spark.createDataFrame(recorded, OPS_RECONCILIATION.schema)
        frame.write.format("delta").mode("append").save(OPS_RECONCILIATION.location(settings))
    return result
