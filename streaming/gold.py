"""Silver rows to gold figures: the report-ready aggregates, over any set of rows.

Pure: DataFrames in, DataFrames out. Over all of silver (a rebuild, reconciliation) they give
gold in full; over the rows a batch adds they give what that batch adds
(`streaming.increments`), which the hot query and the batch loads merge into gold.
gold.low_stock derives from gold.inventory_current (`streaming.gold_writer`).

Money is kept per currency: the tables that hold money have `currency` in their key, and
every aggregate here groups by its table's keys (from `rapport.lakehouse.tables`), so no figure ever
adds two currencies (docs/decisions/0010-money-per-currency.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from rapport.contracts.currency import NO_CURRENCY
from rapport.lakehouse.tables import (
    ACTIVE_PERIODS,
    DAY_AND_CURRENCY,
    GOLD_ACTIVE_CUSTOMERS,
    GOLD_INVENTORY_CURRENT,
    GOLD_ORDERS_PER_MINUTE,
    GOLD_SALES_BY_DAY,
    GOLD_SIGNUPS_PER_HOUR,
    MONEY_SUM,
)
from streaming.silver import ACTIVE_LABELS

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

#: The windows of gold.active_customers: label and length in seconds (the catalog's).
ACTIVE_WINDOWS = ACTIVE_PERIODS


def _stamp(frame: DataFrame, complete_up_to: datetime | None) -> DataFrame:

    return frame.withColumn("complete_up_to", F.lit(complete_up_to).cast("timestamp")).withColumn(
        "updated_at", F.current_timestamp()
    )


def money(column: Column) -> Column:
    """A sum of money as the gold type; no rows means 0, not null."""

    return F.coalesce(column, F.lit(0)).cast(MONEY_SUM)


def daily_measures(
    parts: Sequence[tuple[DataFrame, dict[str, Column]]],
    counts: Sequence[str],
    sums: Sequence[str],
) -> DataFrame:
    """Per event_date and currency, counts and money sums gathered from several sources.

    One union and one aggregation instead of outer joins: each (frame, values) part fills
    the measure columns it names and 0 elsewhere. A part's currency is its frame's
    `currency` column, or `values["currency"]` where it says otherwise. The grouping is
    `DAY_AND_CURRENCY`, the key of the per-day money tables, so sums never mix currencies.
    """

    def part(frame: DataFrame, values: dict[str, Column]) -> DataFrame:
        return frame.select(
            "event_date",
            values.get("currency", F.col("currency")).alias("currency"),
            *[values.get(c, F.lit(0)).cast("long").alias(c) for c in counts],
            *[values.get(c, F.lit(0)).cast(MONEY_SUM).alias(c) for c in sums],
        )

    selected = [part(frame, values) for frame, values in parts]
    union = selected[0]
    for more in selected[1:]:
        union = union.unionByName(more)
    return union.groupBy(*DAY_AND_CURRENCY).agg(
        *[F.sum(c).cast("long").alias(c) for c in counts],
        *[money(F.sum(c)).alias(c) for c in sums],
    )


def orders_per_minute(orders: DataFrame, complete_up_to: datetime | None) -> DataFrame:
    """Orders and gross value per minute of event time, region, channel and currency."""

    minute = F.date_trunc("minute", "event_time").alias("minute")
    keys = [minute if k == "minute" else F.col(k) for k in GOLD_ORDERS_PER_MINUTE.keys]
    per_minute = orders.groupBy(*keys).agg(
        F.count("*").alias("orders"), money(F.sum("total")).alias("order_value")
    )
    return _stamp(per_minute.withColumn("event_date", F.to_date("minute")), complete_up_to).select(
        *GOLD_ORDERS_PER_MINUTE.schema.fieldNames()
    )


def sales_by_day(
    orders: DataFrame,
    order_updates: DataFrame,
    refunds: DataFrame,
    payments: DataFrame,
    invoices: DataFrame,
    complete_up_to: datetime | None,
) -> DataFrame:
    """One row per day of event time and currency: orders, revenue, AOV, cancellations,
    refunds, net. A cancellation counts under its order's currency (OrderCancelled v2 states
    it); one that states none (v1) counts under `NO_CURRENCY`."""

    one = F.lit(1)
    cancelled = {
        "cancellations": one,
        "currency": F.coalesce(F.col("currency"), F.lit(NO_CURRENCY)),
    }
    days = daily_measures(
        [
            (orders, {"orders": one, "order_value": F.col("total")}),
            (order_updates.where(F.col("update_type") == "cancelled"), cancelled),
            (refunds, {"refunds": one, "refund_amount": F.col("amount")}),
            (payments, {"payments": one, "payment_amount": F.col("amount")}),
            (invoices, {"invoiced_amount": F.col("amount")}),
        ],
        counts=("orders", "cancellations", "refunds", "payments"),
        sums=("order_value", "refund_amount", "payment_amount", "invoiced_amount"),
    )
    days = days.withColumn(
        "average_order_value",
        F.when(
            F.col("orders") > 0, F.round(F.col("order_value") / F.col("orders"), 2).cast(MONEY_SUM)
        ),
    ).withColumn("net_revenue", (F.col("order_value") - F.col("refund_amount")).cast(MONEY_SUM))
    return _stamp(days, complete_up_to).select(*GOLD_SALES_BY_DAY.schema.fieldNames())


def signups_per_hour(activity: DataFrame, complete_up_to: datetime | None) -> DataFrame:
    """New customers (CustomerRegistered) per hour of event time."""

    hours = (
        activity.where(F.col("activity") == "registered")
        .groupBy(F.date_trunc("hour", "event_time").alias("hour"))
        .agg(F.count("*").alias("signups"))
        .withColumn("event_date", F.to_date("hour"))
    )
    return _stamp(hours, complete_up_to).select(*GOLD_SIGNUPS_PER_HOUR.schema.fieldNames())


def active_customers(
    activity: DataFrame, orders: DataFrame, as_of: datetime, complete_up_to: datetime | None
) -> DataFrame:
    """Distinct customers active in each window ending at `as_of` (the newest event time).

    Active: signed up, logged in or placed an order, with event time in (as_of - w, as_of].
    """

    seen = activity.where(F.col("activity").isin(*ACTIVE_LABELS)).select(
        "customer_id", "event_time"
    )
    seen = seen.unionByName(orders.select("customer_id", "event_time"))
    end = F.lit(as_of).cast("timestamp")
    windows = []
    for label, seconds in ACTIVE_WINDOWS:
        start = F.lit(as_of - timedelta(seconds=seconds)).cast("timestamp")
        in_window = seen.where((F.col("event_time") > start) & (F.col("event_time") <= end))
        windows.append(
            in_window.agg(F.count_distinct("customer_id").alias("active_customers")).select(
                F.lit(label).alias("period"),
                F.lit(seconds).cast("long").alias("period_seconds"),
                end.alias("as_of"),
                "active_customers",
            )
        )
    both = windows[0].unionByName(windows[1])
    return _stamp(both, complete_up_to).select(*GOLD_ACTIVE_CUSTOMERS.schema.fieldNames())


def inventory_current(inventory: DataFrame, complete_up_to: datetime | None) -> DataFrame:
    """Stock on hand per sku and warehouse, flagged when below its reorder point."""

    current = inventory.select(
        "sku",
        "warehouse",
        "on_hand",
        "reorder_point",
        (F.col("on_hand") < F.col("reorder_point")).alias("low_stock"),
        F.col("event_time").alias("last_movement_at"),
        "sequence",
    )
    return _stamp(current, complete_up_to).select(*GOLD_INVENTORY_CURRENT.schema.fieldNames())
