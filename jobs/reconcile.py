"""Reconciliation: the stream's gold figures of a day against a recomputation from silver.

The stream keeps gold exact by recomputing what each batch touched; this is the independent
daily check, over gold.sales_by_day (every figure) and the day totals of
gold.orders_per_minute and gold.signups_per_hour. A day whose figures differ is reported with
the size of each difference, and corrected by replacing that day's gold rows with the
recomputed ones (the same `streaming.gold` functions the stream uses). Every comparison is
kept in ops.reconciliation. A table that holds money is compared per day and currency, so
a difference in one currency is never hidden by another.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F

from jobs.daily import read_days, replace_days
from jobs.history import end_of
from rapport.lakehouse.tables import (
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
from rapport.settings import Settings
from streaming import gold

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

#: The figures of gold.sales_by_day that are compared (every measure column).
FIGURES = tuple(
    f.name
    for f in GOLD_SALES_BY_DAY.schema.fields
    if f.name not in (*GOLD_SALES_BY_DAY.keys, "complete_up_to", "updated_at")
)

#: What a comparison is keyed by: a day, and the currency where the table keeps one.
Group = tuple[date, str | None]


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

    @property
    def per_currency(self) -> bool:
        """Whether the table keeps its figures per currency (compared per currency, then)."""
        return "currency" in self.table.keys


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
    stream: dict[Group, dict[str, Any]],
    silver: dict[Group, dict[str, Any]],
    days: Sequence[date],
    table_name: str = GOLD_SALES_BY_DAY.qualified_name,
    figures: Sequence[str] = FIGURES,
) -> list[dict[str, Any]]:
    """One comparison row per day, currency and figure (pure: tested without Spark).

    `stream` and `silver` hold the figures by (day, currency), currency None for a table
    kept without one. A group found in either place is compared; one found in neither
    (a day with nothing) is not a comparison.
    """
    wanted = set(days)
    groups = sorted(
        {g for g in (*stream, *silver) if g[0] in wanted}, key=lambda g: (g[0], g[1] or "")
    )
    rows = []
    for group in groups:
        ours, theirs = stream.get(group, {}), silver.get(group, {})
        for figure in figures:
            a, b = _number(ours.get(figure)), _number(theirs.get(figure))
            rows.append(
                {
                    "event_date": group[0],
                    "table_name": table_name,
                    "figure": figure,
                    "currency": group[1],
                    "stream_value": None if a is None else str(a),
                    "silver_value": None if b is None else str(b),
                    "difference": float((a or 0) - (b or 0)),
                    "matches": a == b,
                }
            )
    return rows


def _named(currency: str | None, figure: str) -> str:
    return figure if currency is None else f"{currency} {figure}"


def _day_totals(
    frame: DataFrame, figures: Sequence[str], per_currency: bool
) -> dict[Group, dict[str, Any]]:
    """The figures summed per day, and per currency where the table keeps one."""

    by = ("event_date", "currency") if per_currency else ("event_date",)
    totals = frame.groupBy(*by).agg(*[F.sum(f).alias(f) for f in figures])
    return {
        (r["event_date"], r["currency"] if per_currency else None): r.asDict()
        for r in totals.collect()
    }


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
            _day_totals(read(check.table), check.figures, check.per_currency),
            _day_totals(recomputed, check.figures, check.per_currency),
            days,
            check.table.qualified_name,
            check.figures,
        )
        wrong_days = sorted({r["event_date"] for r in rows if not r["matches"]})
        result.differences += [
            f"{r['table_name']} {r['event_date']} {_named(r['currency'], r['figure'])}: "
            f"stream {r['stream_value']}, silver {r['silver_value']}"
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
