"""Rules across tables as one frame to check: each row of the checked table, with a violation.

A cross-table rule (an order line without its order, an order whose total is not the sum of
its lines) becomes a frame with one row per checked row and a `violation` column: null when
the row is fine, else what is wrong with it. Great Expectations then checks that column like
any other, with counts and examples. Written for Spark and pandas alike (the same meaning,
each in its own API), so quality/ validates either.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd

from quality.rules import Rule

#: The column a relation frame carries: null, or a description of what is wrong.
VIOLATION = "violation"
#: When a row was written: a parent younger than the in-flight window may lack its parts.
INGEST_TIME = "ingest_time"


def _utc(at: Any) -> datetime:
    """A timestamp as an aware UTC datetime (pandas gives naive UTC or aware values)."""
    moment: datetime = pd.Timestamp(at).to_pydatetime()
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def is_spark(frame: Any) -> bool:
    """Spark or pandas: the two kinds of frame quality/ validates."""
    return not isinstance(frame, pd.DataFrame)


def relation_frame(
    rule: Rule, frame: Any, other: Any, in_flight_since: datetime | None = None
) -> Any:
    """The rows of `frame` with a `violation` column for `rule` against `other`.

    `in_flight_since`: a row of `frame` ingested at or after it whose related rows are
    absent is not (yet) a violation of an `equals_sum` rule: the writer commits the parent
    before its parts, and those parts may still be on their way.
    """
    if rule.kind == "references":
        return (
            _references_spark(rule, frame, other)
            if is_spark(frame)
            else _references_pd(rule, frame, other)
        )
    if rule.kind == "equals_sum":
        return (
            _equals_sum_spark(rule, frame, other, in_flight_since)
            if is_spark(frame)
            else _equals_sum_pd(rule, frame, other, in_flight_since)
        )
    raise ValueError(f"{rule.table}.{rule.name}: {rule.kind} is not a rule across tables")


def _references_spark(rule: Rule, frame: Any, other: Any) -> Any:
    from pyspark.sql import functions as F

    (column,), (parent,) = rule.columns, rule.other_columns
    parents = other.select(F.col(parent).alias("_parent")).distinct()
    joined = frame.select(column).join(parents, F.col(column) == F.col("_parent"), "left")
    return joined.select(
        F.when(
            F.col("_parent").isNull(),
            F.concat(F.lit(f"{column}="), F.coalesce(F.col(column), F.lit("null"))),
        ).alias(VIOLATION)
    )


def _references_pd(rule: Rule, frame: pd.DataFrame, other: pd.DataFrame) -> pd.DataFrame:
    (column,), (parent,) = rule.columns, rule.other_columns
    known = set(other[parent].dropna())
    values = frame[column]
    missing = ~values.isin(known)
    return pd.DataFrame(
        {VIOLATION: [f"{column}={v}" if m else None for v, m in zip(values, missing, strict=True)]}
    )


def _equals_sum_spark(rule: Rule, frame: Any, other: Any, in_flight_since: datetime | None) -> Any:
    from pyspark.sql import functions as F

    (key, value), (other_key, summed) = rule.columns, rule.other_columns
    sums = other.groupBy(F.col(other_key).alias("_key")).agg(F.sum(summed).alias("_sum"))
    since = in_flight_since if INGEST_TIME in frame.columns else None
    kept = [key, value, *([INGEST_TIME] if since is not None else [])]
    joined = frame.select(*kept).join(sums, F.col(key) == F.col("_key"), "left")
    absent = F.col("_sum").isNull()
    if since is not None:
        cutoff = F.lit(since.astimezone(UTC).replace(tzinfo=None)).cast("timestamp")
        absent = absent & (F.col(INGEST_TIME) < cutoff)
    wrong = absent | (F.col("_sum").isNotNull() & (F.col(value) != F.col("_sum")))
    return joined.select(
        F.when(
            wrong,
            F.format_string(
                f"{key}=%s {value}=%s lines=%s",
                F.col(key),
                F.col(value).cast("string"),
                F.coalesce(F.col("_sum").cast("string"), F.lit("none")),
            ),
        ).alias(VIOLATION)
    )


def _equals_sum_pd(
    rule: Rule, frame: pd.DataFrame, other: pd.DataFrame, in_flight_since: datetime | None
) -> pd.DataFrame:
    (key, value), (other_key, summed) = rule.columns, rule.other_columns
    sums = other.groupby(other_key)[summed].sum()
    ingested = (
        frame[INGEST_TIME]
        if in_flight_since is not None and INGEST_TIME in frame.columns
        else pd.Series([None] * len(frame), index=frame.index)
    )
    out = []
    for k, v, at in zip(frame[key], frame[value], ingested, strict=True):
        total = sums.get(k)
        in_flight = (
            total is None
            and in_flight_since is not None
            and at is not None
            and _utc(at) >= in_flight_since
        )
        out.append(
            None
            if in_flight or (total is not None and total == v)
            else f"{key}={k} {value}={v} lines={total if total is not None else 'none'}"
        )
    return pd.DataFrame({VIOLATION: out})
