"""The batch side's assets: historical load, daily aggregates and reconciliation, per day.

Thin on purpose: each asset turns its partition range into days and calls `jobs.history`,
`jobs.daily` or `jobs.reconcile`, where the work and its tests live. Every asset has a
single-run backfill policy, so a 90-day backfill is one run over the whole range.
"""

from collections.abc import Callable
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import dagster as dg

from jobs import daily
from jobs.history import load_days
from jobs.reconcile import reconcile_days
from orchestration.freshness import freshness_policy
from orchestration.resources import RapportResource
from orchestration.streaming import table_key
from quality.slas import Slas
from rapport.lakehouse.tables import (
    GOLD_COHORT_RETENTION,
    GOLD_DAILY_BILLING,
    GOLD_DAILY_CUSTOMERS,
    GOLD_DAILY_INVENTORY,
    GOLD_DAILY_SALES,
    OPS_RECONCILIATION,
    SILVER_CUSTOMER_ACTIVITY,
    SILVER_CUSTOMERS,
    SILVER_INVENTORY_MOVEMENTS,
    SILVER_INVOICES,
    SILVER_ORDER_LINES,
    SILVER_ORDERS,
    SILVER_PAYMENTS,
    SILVER_REFUNDS,
    UPSTREAM,
    TableDef,
)
from rapport.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

LANDING_KEY = dg.AssetKey(["landing", "history"])
HISTORY_KEY = dg.AssetKey(["batch", "history_load"])

#: Transient failures (a Spark or storage hiccup) are retried; a bug fails after three.
RETRY = dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL)


def partition_days(context: dg.AssetExecutionContext) -> list[date]:
    """The days of the run's partition range (one day, or a whole backfill range)."""
    window = context.partition_time_window
    return daily.day_range(window.start.date(), window.end.date() - timedelta(days=1))


def landing_spec() -> dg.AssetSpec:
    return dg.AssetSpec(
        key=LANDING_KEY,
        description=(
            "Exports in the contract format, one CloudEvent JSON per line, in "
            "<landing>/date=YYYY-MM-DD/*.jsonl (`rapport simulate --history-days N`)."
        ),
        group_name="batch",
        kinds={"file"},
    )


def history_load(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        key=HISTORY_KEY,
        deps=[LANDING_KEY],
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        retry_policy=RETRY,
        group_name="batch",
        kinds={"spark", "delta"},
        description=(
            "Loads landing days into bronze, silver and gold with the stream's own "
            "validation, quarantine and deduplication. Loading a day twice changes nothing."
        ),
    )
    def batch_history_load(
        context: dg.AssetExecutionContext, rapport: RapportResource
    ) -> dg.MaterializeResult:  # type: ignore[type-arg]
        report = load_days(rapport.spark(), rapport.settings(), partition_days(context))
        refined = report.refined
        return dg.MaterializeResult(
            metadata={
                "days": len(report.days),
                "days_without_files": ", ".join(report.days_without_files) or "-",
                "records": refined.input_rows if refined else 0,
                "new_bronze_rows": report.new_bronze_rows,
                "valid": refined.valid_rows if refined else 0,
                "quarantined": refined.quarantined_rows if refined else 0,
                "new_events": refined.new_events if refined else 0,
                "rows_written": dict(refined.rows_written) if refined else {},
            }
        )

    return batch_history_load


#: A daily aggregate: computes its table's rows for the days and returns (rows, replaced keys,
#: key column). Most replace exactly the days; cohort retention replaces whole weeks.
Compute = Callable[["SparkSession", Settings, list[date]], tuple[Any, list[date], str]]


def _sales(
    spark: "SparkSession", settings: Settings, days: list[date]
) -> tuple[Any, list[date], str]:
    rows = daily.daily_sales(
        daily.read_days(spark, settings, SILVER_ORDERS, days),
        daily.read_days(spark, settings, SILVER_ORDER_LINES, days),
    )
    return rows, days, "event_date"


def _customers(
    spark: "SparkSession", settings: Settings, days: list[date]
) -> tuple[Any, list[date], str]:
    rows = daily.daily_customers(
        daily.read_days(spark, settings, SILVER_CUSTOMER_ACTIVITY, days),
        daily.read_days(spark, settings, SILVER_ORDERS, days),
        daily.read_all(spark, settings, SILVER_CUSTOMERS),
    )
    return rows, days, "event_date"


def _cohorts(
    spark: "SparkSession", settings: Settings, days: list[date]
) -> tuple[Any, list[date], str]:
    weeks = sorted({daily.week_start(d) for d in days})
    week_days = [d for w in weeks for d in daily.day_range(w, w + timedelta(days=6))]
    rows = daily.cohort_retention(
        daily.read_days(spark, settings, SILVER_CUSTOMER_ACTIVITY, week_days),
        daily.read_days(spark, settings, SILVER_ORDERS, week_days),
        daily.read_all(spark, settings, SILVER_CUSTOMERS),
    )
    return rows, weeks, "activity_week"


def _inventory(
    spark: "SparkSession", settings: Settings, days: list[date]
) -> tuple[Any, list[date], str]:
    rows = daily.daily_inventory(daily.read_days(spark, settings, SILVER_INVENTORY_MOVEMENTS, days))
    return rows, days, "event_date"


def _billing(
    spark: "SparkSession", settings: Settings, days: list[date]
) -> tuple[Any, list[date], str]:
    rows = daily.daily_billing(
        daily.read_days(spark, settings, SILVER_INVOICES, days),
        daily.read_days(spark, settings, SILVER_PAYMENTS, days),
        daily.read_days(spark, settings, SILVER_REFUNDS, days),
        daily.read_all(spark, settings, SILVER_PAYMENTS),
    )
    return rows, days, "event_date"


DAILY_AGGREGATES: tuple[tuple[TableDef, Compute], ...] = (
    (GOLD_DAILY_SALES, _sales),
    (GOLD_DAILY_CUSTOMERS, _customers),
    (GOLD_COHORT_RETENTION, _cohorts),
    (GOLD_DAILY_INVENTORY, _inventory),
    (GOLD_DAILY_BILLING, _billing),
)


def _daily_asset(
    table: TableDef, partitions: dg.PartitionsDefinition, slas: Slas | None
) -> Callable[[Callable[..., Any]], dg.AssetsDefinition]:
    """The decorator of a daily asset writing `table`: after the history load and its inputs."""
    return dg.asset(
        freshness_policy=freshness_policy(slas, table) if slas else None,
        key=table_key(table),
        deps=[HISTORY_KEY, *[table_key(name) for name in UPSTREAM[table.qualified_name]]],
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        retry_policy=RETRY,
        group_name="daily",
        kinds={"spark", "delta"},
        description=table.description,
    )


def daily_aggregate(
    table: TableDef, compute: Compute, partitions: dg.PartitionsDefinition, slas: Slas | None
) -> dg.AssetsDefinition:
    @_daily_asset(table, partitions, slas)
    def aggregate(
        context: dg.AssetExecutionContext, rapport: RapportResource
    ) -> dg.MaterializeResult:  # type: ignore[type-arg]
        settings = rapport.settings()
        rows, replaced, column = compute(rapport.spark(), settings, partition_days(context))
        written = daily.replace_days(settings, table, rows, replaced, column)
        return dg.MaterializeResult(
            metadata={"rows_written": written, "replaced": ", ".join(map(str, replaced))}
        )

    return aggregate


def reconciliation(partitions: dg.PartitionsDefinition, slas: Slas | None) -> dg.AssetsDefinition:
    @_daily_asset(OPS_RECONCILIATION, partitions, slas)
    def ops_reconciliation(
        context: dg.AssetExecutionContext, rapport: RapportResource
    ) -> dg.MaterializeResult:  # type: ignore[type-arg]
        result = reconcile_days(rapport.spark(), rapport.settings(), partition_days(context))
        if result.differences:
            context.log.warning(
                "gold differed from silver on %s figure(s) (%s); corrected: %s; left for the "
                "next run, as the stream was writing: %s",
                len(result.differences),
                "; ".join(result.differences[:5]),
                ", ".join(result.corrected_days) or "none",
                ", ".join(result.deferred) or "none",
            )
        return dg.MaterializeResult(
            metadata={
                "figures_checked": result.checked,
                "differences": len(result.differences),
                "corrected_days": ", ".join(result.corrected_days) or "-",
                "deferred_days": ", ".join(result.deferred) or "-",
                "examples": "; ".join(result.differences[:5]) or "-",
            }
        )

    return ops_reconciliation


def batch_assets(
    partitions: dg.PartitionsDefinition, slas: Slas | None = None
) -> list[dg.AssetsDefinition]:
    return [
        history_load(partitions),
        *[daily_aggregate(t, c, partitions, slas) for t, c in DAILY_AGGREGATES],
        reconciliation(partitions, slas),
    ]
