"""Silver to the daily aggregates of the batch side: sales, customers, cohorts, stock, billing.

Pure functions (DataFrames in, one DataFrame out) plus `replace_days`, the one write: every
aggregate is recomputed for whole days and written with replaceWhere over exactly those days,
so a rerun or a backfill of the same range changes nothing. Orchestration calls these per
partition range; the tests call them directly.

Money is kept per currency: daily_sales and daily_billing have `currency` in their keys, and
no sum here adds two currencies (docs/decisions/0010-money-per-currency.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from rapport.lakehouse.ownership import writer_engine
from rapport.lakehouse.tables import (
    GOLD_COHORT_RETENTION,
    GOLD_DAILY_BILLING,
    GOLD_DAILY_CUSTOMERS,
    GOLD_DAILY_INVENTORY,
    GOLD_DAILY_SALES,
    TableDef,
)
from rapport.settings import Settings
from streaming.gold import daily_measures, money
from streaming.silver import ACTIVE_LABELS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def day_range(first: date, last: date) -> list[date]:
    """Every day from `first` to `last`, both included."""
    if last < first:
        raise ValueError(f"the range ends ({last}) before it starts ({first})")
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def week_start(day: date) -> date:
    """The Monday of `day`'s week (Spark's date_trunc('week') agrees)."""
    return day - timedelta(days=day.weekday())


def days_predicate(days: Sequence[date], column: str = "event_date") -> str:
    """A SQL predicate selecting exactly these days (for reads and replaceWhere)."""
    listed = ", ".join(f"DATE'{d.isoformat()}'" for d in sorted(set(days)))
    return f"{column} IN ({listed})"


def _stamp(frame: DataFrame, table: TableDef) -> DataFrame:

    return frame.withColumn("computed_at", F.current_timestamp()).select(*table.schema.fieldNames())


def daily_sales(orders: DataFrame, order_lines: DataFrame) -> DataFrame:
    """Per day, region, channel, category and currency: orders containing the category,
    units and revenue (in the order's currency)."""

    placed = orders.select("event_id", "region", "channel", "currency")
    lines = order_lines.join(placed, "event_id")
    sales = lines.groupBy(*GOLD_DAILY_SALES.keys).agg(
        F.count_distinct("event_id").alias("orders"),
        F.sum("quantity").cast("long").alias("units"),
        money(F.sum("line_amount")).alias("revenue"),
    )
    return _stamp(sales, GOLD_DAILY_SALES)


def _active(activity: DataFrame, orders: DataFrame) -> DataFrame:
    """(event_date, event_time, customer_id) of every event that makes a customer active."""

    acted = activity.where(F.col("activity").isin(*ACTIVE_LABELS))
    columns = ("event_date", "event_time", "customer_id")
    return acted.select(*columns).unionByName(orders.select(*columns))


def daily_customers(activity: DataFrame, orders: DataFrame, customers: DataFrame) -> DataFrame:
    """Per day: sign-ups, active customers, and the active ones registered before that day."""

    signups = (
        activity.where(F.col("activity") == "registered")
        .groupBy("event_date")
        .agg(F.count("*").alias("signups"))
    )
    registered = customers.select("customer_id", F.to_date("registered_at").alias("registered"))
    active = (
        _active(activity, orders)
        .select("event_date", "customer_id")
        .distinct()
        .join(registered, "customer_id", "left")
        .groupBy("event_date")
        .agg(
            F.count("*").alias("active_customers"),
            # Unknown registration: the customer predates the data, so is returning.
            F.count_if(
                F.col("registered").isNull() | (F.col("registered") < F.col("event_date"))
            ).alias("returning_customers"),
        )
    )
    both = active.join(signups, "event_date", "full").select(
        "event_date",
        F.coalesce("signups", F.lit(0)).cast("long").alias("signups"),
        F.coalesce("active_customers", F.lit(0)).cast("long").alias("active_customers"),
        F.coalesce("returning_customers", F.lit(0)).cast("long").alias("returning_customers"),
    )
    return _stamp(both, GOLD_DAILY_CUSTOMERS)


def cohort_retention(activity: DataFrame, orders: DataFrame, customers: DataFrame) -> DataFrame:
    """Per sign-up week and activity week: cohort size, active members and the share.

    `activity` and `orders` hold the activity weeks to compute (whole weeks); `customers`
    all customers, so every cohort's size is complete.
    """

    cohorts = customers.where(F.col("registered_at").isNotNull()).select(
        "customer_id", F.to_date(F.date_trunc("week", "registered_at")).alias("cohort_week")
    )
    sizes = cohorts.groupBy("cohort_week").agg(F.count("*").alias("cohort_size"))
    active = (
        _active(activity, orders)
        .select("customer_id", F.to_date(F.date_trunc("week", "event_time")).alias("activity_week"))
        .distinct()
        .join(cohorts, "customer_id")
        .where(F.col("activity_week") >= F.col("cohort_week"))
        .groupBy("cohort_week", "activity_week")
        .agg(F.count("*").alias("active_customers"))
    )
    retention = active.join(sizes, "cohort_week").select(
        "cohort_week",
        "activity_week",
        (F.datediff("activity_week", "cohort_week") / 7).cast("int").alias("weeks_since_signup"),
        "cohort_size",
        "active_customers",
        (F.col("active_customers") / F.col("cohort_size")).alias("retention"),
    )
    return _stamp(retention, GOLD_COHORT_RETENTION)


def daily_inventory(movements: DataFrame) -> DataFrame:
    """Per day, sku and warehouse with movements: closing stock, units in and out, turnover.

    Closing stock is the day's movement with the highest sequence, so out-of-order arrival
    cannot change it. Turnover is units out over the day's average stock.
    """

    days = movements.groupBy("event_date", "sku", "warehouse").agg(
        F.max_by("on_hand_after", "sequence").cast("long").alias("closing_on_hand"),
        F.sum(F.when(F.col("quantity_delta") < 0, -F.col("quantity_delta")).otherwise(0))
        .cast("long")
        .alias("units_out"),
        F.sum(F.when(F.col("quantity_delta") > 0, F.col("quantity_delta")).otherwise(0))
        .cast("long")
        .alias("units_in"),
    )
    opening = F.col("closing_on_hand") + F.col("units_out") - F.col("units_in")
    average = (opening + F.col("closing_on_hand")) / 2
    days = days.withColumn("stock_out", F.col("closing_on_hand") <= 0).withColumn(
        "turnover", F.when(average > 0, F.col("units_out") / average)
    )
    return _stamp(days, GOLD_DAILY_INVENTORY)


def daily_billing(
    invoices: DataFrame, payments: DataFrame, refunds: DataFrame, all_payments: DataFrame
) -> DataFrame:
    """Per day and currency: invoiced, paid and refunded, and what the day's invoices still
    have unpaid.

    `invoices`, `payments` and `refunds` hold the days to compute; `all_payments` every
    payment known, so an invoice paid on a later day is not outstanding.
    """

    paid_ids = all_payments.select("invoice_id").distinct().withColumn("paid", F.lit(True))
    one = F.lit(1)
    unpaid = F.when(F.col("paid").isNull(), F.col("amount")).otherwise(F.lit(0))
    days = daily_measures(
        [
            (
                invoices.join(paid_ids, "invoice_id", "left"),
                {"invoices": one, "invoiced_amount": F.col("amount"), "outstanding_amount": unpaid},
            ),
            (payments, {"payments": one, "paid_amount": F.col("amount")}),
            (refunds, {"refunds": one, "refunded_amount": F.col("amount")}),
        ],
        counts=("invoices", "payments", "refunds"),
        sums=("invoiced_amount", "paid_amount", "refunded_amount", "outstanding_amount"),
    )
    return _stamp(days, GOLD_DAILY_BILLING)


def read_days(
    spark: SparkSession,
    settings: Settings,
    table: TableDef,
    days: Sequence[date],
    version: int | None = None,
) -> DataFrame:
    """The rows of `table` in these event days (partition pruning), at `version` if given."""
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(table.location(settings)).where(days_predicate(days))


def read_all(spark: SparkSession, settings: Settings, table: TableDef) -> DataFrame:
    return spark.read.format("delta").load(table.location(settings))


def replace_days(
    settings: Settings,
    table: TableDef,
    rows: DataFrame,
    days: Sequence[date],
    column: str = "event_date",
    expected_version: int | None = None,
) -> int:
    """Replace the table's rows of exactly these days with `rows`; returns the rows written.

    replaceWhere makes the write idempotent: a rerun replaces the same days with the same
    figures. Rows outside `days` are refused by Delta, so a bug cannot touch other days.
    `expected_version` (a stream gold table only): fail rather than overwrite a commit made
    since the version `rows` were compared with.
    """
    if writer_engine(table.qualified_name) == "delta-rs":
        # A stream gold table (reconciliation's correction): written by its one engine.
        from rapport.lakehouse import delta_rs

        arrow = rows.toArrow()
        predicate = days_predicate(days, column)
        delta_rs.replace(settings, table, arrow, None, predicate, expected_version)
        return int(arrow.num_rows)
    if expected_version is not None:
        raise ValueError(f"{table.qualified_name} is written by Spark: no expected_version")
    rows = rows.localCheckpoint(eager=True)
    written = rows.count()
    (
        rows.write.format("delta")
        .mode("overwrite")
        .option("replaceWhere", days_predicate(days, column))
        .save(table.location(settings))
    )
    return written
