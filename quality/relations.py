"""Rules across tables as one frame to check: each row of the checked table, with a violation.

A cross-table rule (an order line without its order, an order whose total is not the sum of
its lines) becomes a frame with one row per checked row and a `violation` column: null when
the row is fine, else what is wrong with it. Great Expectations then checks that column like
any other, with counts and examples. Written for Spark and pandas alike (the same meaning,
each in its own API), so quality/ validates either.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from quality.rules import Rule

#: The column a relation frame carries: null, or a description of what is wrong.
VIOLATION = "violation"


def is_spark(frame: Any) -> bool:
    """Spark or pandas: the two kinds of frame quality/ validates."""
    return not isinstance(frame, pd.DataFrame)


def relation_frame(rule: Rule, frame: Any, other: Any) -> Any:
    """The rows of `frame` with a `violation` column for `rule` against `other`."""
    if rule.kind == "references":
        return (
            _references_spark(rule, frame, other)
            if is_spark(frame)
            else _references_pd(rule, frame, other)
        )
    if rule.kind == "equals_sum":
        return (
            _equals_sum_spark(rule, frame, other)
            if is_spark(frame)
            else _equals_sum_pd(rule, frame, other)
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


def _equals_sum_spark(rule: Rule, frame: Any, other: Any) -> Any:
    from pyspark.sql import functions as F

    (key, value), (other_key, summed) = rule.columns, rule.other_columns
    sums = other.groupBy(F.col(other_key).alias("_key")).agg(F.sum(summed).alias("_sum"))
    joined = frame.select(key, value).join(sums, F.col(key) == F.col("_key"), "left")
    wrong = F.col("_sum").isNull() | (F.col(value) != F.col("_sum"))
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


def _equals_sum_pd(rule: Rule, frame: pd.DataFrame, other: pd.DataFrame) -> pd.DataFrame:
    (key, value), (other_key, summed) = rule.columns, rule.other_columns
    sums = other.groupby(other_key)[summed].sum()
    out = []
    for k, v in zip(frame[key], frame[value], strict=True):
        total = sums.get(k)
        out.append(
            None
            if total is not None and total == v
            else f"{key}={k} {value}={v} lines={total if total is not None else 'none'}"
        )
    return pd.DataFrame({VIOLATION: out})
