"""Validates tables' days with their quality suites and keeps every result in ops.quality_results.

The I/O half of quality/: it reads a table's rows of the days asked for (or the whole table
when it has no day column), with the frames its cross-table rules need, runs
`quality.validate`, and appends one row per check to the history. Dagster's asset checks,
the quality job and tests call it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING

from jobs.daily import days_predicate, read_all
from quality.rules import rules_for
from quality.validate import Validation, validate
from rapport.lakehouse.tables import OPS_QUALITY_RESULTS, TableDef, table
from rapport.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

#: The column by which a table's rows belong to a day; tables without it are checked whole.
DAY_COLUMN = "event_date"


def partition_label(days: Sequence[date]) -> str:
    """The partition a validation covers: one day, a range 'first..last', or 'all'."""
    if not days:
        return "all"
    ordered = sorted(set(days))
    if len(ordered) == 1:
        return ordered[0].isoformat()
    return f"{ordered[0].isoformat()}..{ordered[-1].isoformat()}"


def _rows(
    spark: SparkSession, settings: Settings, target: TableDef, days: Sequence[date]
) -> DataFrame:
    frame = read_all(spark, settings, target)
    if days and DAY_COLUMN in target.schema.fieldNames():
        frame = frame.where(days_predicate(days, DAY_COLUMN))
    return frame


def validate_days(
    spark: SparkSession,
    settings: Settings,
    target: TableDef,
    days: Sequence[date] = (),
    *,
    run_id: str | None = None,
) -> Validation:
    """Validate `target`'s rows of `days` (all rows if none, or if it has no day column).

    A parent in a reference rule is read whole (a payment may pay an invoice of another
    day); the lines of an order sum are read for the same days (one event holds both).
    """
    day_partitioned = bool(days) and DAY_COLUMN in target.schema.fieldNames()
    # The checked rows first, the related ones after: writers commit a parent before its
    # parts (an order before its lines), so every line read here finds its order read later.
    rows = _rows(spark, settings, target, days)
    related: dict[str, DataFrame] = {}
    for rule in rules_for(target):
        if rule.other_table is None:
            continue
        other = table(rule.other_table)
        if rule.kind == "references":
            related[rule.other_table] = read_all(spark, settings, other).select(*rule.other_columns)
        else:
            related[rule.other_table] = _rows(spark, settings, other, days).select(
                *rule.other_columns
            )
    result = validate(
        target,
        rows,
        partition=partition_label(days) if day_partitioned else "all",
        related=related,
        examples=settings.quality.examples_per_check,
        lines_in_flight_s=settings.quality.lines_in_flight_s,
    )
    record(spark, settings, result, run_id=run_id)
    return result


def record(
    spark: SparkSession, settings: Settings, result: Validation, *, run_id: str | None = None
) -> int:
    """Append one ops.quality_results row per check of `result`; returns the rows written."""
    validation_id = uuid.uuid4().hex
    rows = [
        (
            validation_id,
            result.table,
            result.partition,
            result.suite,
            check.rule.name,
            check.rule.description + (f" (error: {check.error})" if check.error else ""),
            check.rule.blocking,
            check.passed,
            check.rows_checked,
            check.failing_rows,
            check.examples_json if check.examples else None,
            run_id,
            result.validated_at.replace(tzinfo=None),
            result.validated_at.date(),
        )
        for check in result.checks
    ]
    if not rows:
        return 0
    frame = spark.createDataFrame(rows, OPS_QUALITY_RESULTS.schema)
    frame.write.format("delta").mode("append").save(OPS_QUALITY_RESULTS.location(settings))
    return len(rows)
