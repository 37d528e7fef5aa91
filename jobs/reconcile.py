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
from rapport.lakehouse.delta_rs import StaleSnapshotError, open_table
from rapport.lakehouse.ownership import GOLD_QUERY, REFINE_QUERY
from rapport.lakehouse.tables import (
    GOLD_ORDERS_PER_MINUTE,
    GOLD_SALES_BY_DAY,
    GOLD_SIGNUPS_PER_HOUR,
    OPS_RECONCILIATION,
    OPS_STREAM_BATCHES,
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

#: The newest ops.stream_batches rows searched for each query's last position.
POSITION_ROWS = 500

#: Kafka offsets processed, by (topic, partition).
Positions = dict[tuple[str, int], int]

#: What a comparison is keyed by: a day, and the currency where the table keeps one.
Group = tuple[date, str | None]


@dataclass
class Reconciliation:
    checked: int = 0
    differences: list[str] = field(default_factory=list)
    corrected_days: list[str] = field(default_factory=list)
    #: Days that differed while the stream was writing: recorded, left for the next run.
    deferred: list[str] = field(default_factory=list)


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


def stream_positions(spark: SparkSession, settings: Settings) -> dict[str, Positions]:
    """Where the gold and refine queries last were in Kafka, by query (ops.stream_batches):
    the offset each had processed per (topic, partition)."""
    from streaming.metrics import query_of

    newest = (
        spark.read.format("delta")
        .load(OPS_STREAM_BATCHES.location(settings))
        .orderBy(F.col("finished_at").desc())
        .select("app_id", "kafka_lag")
        .limit(POSITION_ROWS)
        .collect()
    )
    found: dict[str, Positions] = {}
    for row in newest:
        query = query_of(row["app_id"])
        if query in (GOLD_QUERY, REFINE_QUERY) and query not in found:
            found[query] = {
                (lag["topic"], lag["partition"]): lag["processed_offset"]
                for lag in row["kafka_lag"]
                if lag["processed_offset"] is not None
            }
    return found


def unlevel(positions: dict[str, Positions]) -> str | None:
    """Why silver may not hold exactly what gold counted, or None when it does.

    Gold counts what the gold query read from Kafka; silver what the refine query has
    refined. Only where both have processed the same records can a difference be gold's
    fault. No gold query at all (history loads only) is level.
    """
    if GOLD_QUERY not in positions:
        return None
    if positions.get(REFINE_QUERY) != positions[GOLD_QUERY]:
        return "the refine query was not where the gold query was"
    return None


def reconcile_days(spark: SparkSession, settings: Settings, days: Sequence[date]) -> Reconciliation:
    """Compare and correct the stream's gold for these days; record every comparison.

    A correction replaces gold's rows of a day with silver's recomputation, so it is made
    only when that cannot undo the stream's work: silver level with gold (`unlevel`) before
    and after the comparison, with no stream batch in between, and gold still at the version
    compared (`delta_rs.StaleSnapshotError` otherwise). A difference found while the stream
    was writing is recorded, not corrected (`Reconciliation.deferred`); the next run checks
    again.
    """

    before = stream_positions(spark, settings)
    versions = {c.table.qualified_name: open_table(settings, c.table).version() for c in CHECKS}

    def read(table: TableDef) -> DataFrame:
        return read_days(spark, settings, table, days, versions.get(table.qualified_name))

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
            after = stream_positions(spark, settings)
            why = unlevel(before) or (
                "the stream processed a batch meanwhile" if after != before else None
            )
            fixed = recomputed.where(
                recomputed.event_date.isin(*[d.isoformat() for d in wrong_days])
            )
            if why is None:
                try:
                    replace_days(settings, check.table, fixed, wrong_days,
                                 expected_version=versions[check.table.qualified_name])  # fmt: skip
                except StaleSnapshotError:
                    why = "gold changed meanwhile"
            if why is None:
                result.corrected_days += [f"{check.table.name} {d}" for d in wrong_days]
            else:
                result.deferred += [f"{check.table.name} {d} ({why})" for d in wrong_days]
                wrong_days = []
        for r in rows:
            r["corrected"] = r["event_date"] in wrong_days
            r["checked_at"] = checked_at
        recorded += rows
    result.checked = len(recorded)
    if recorded:
        frame = spark.createDataFrame(recorded, OPS_RECONCILIATION.schema)
        frame.write.format("delta").mode("append").save(OPS_RECONCILIATION.location(settings))
    return result
