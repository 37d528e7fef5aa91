"""Gold as running sums: what a set of new silver rows adds to each gold table, and how it merges.

Pure: DataFrames in, DataFrames out, plus the MERGE expressions as SQL text. The figures
come from `streaming.gold`'s own aggregate functions, applied to the new rows only, so an
increment and a full recomputation are the same code. Counts and sums add up; averages and
net figures are derived again from the merged sums, never added.

Which rows are "new" is the caller's business: the hot query's rows are deduplicated by event
id in Spark's state store, a batch load's rows are the ones silver did not hold yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from lakehouse.tables import (
    GOLD_INVENTORY_CURRENT,
    GOLD_ORDERS_PER_MINUTE,
    GOLD_SALES_BY_DAY,
    GOLD_SIGNUPS_PER_HOUR,
    MONEY_SUM,
    TableDef,
    table,
)
from streaming import gold

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


@dataclass(frozen=True)
class SilverRows:
    """New rows in the shape of the silver event tables (None: no such rows)."""

    orders: DataFrame | None = None
    order_updates: DataFrame | None = None
    refunds: DataFrame | None = None
    payments: DataFrame | None = None
    invoices: DataFrame | None = None
    customer_activity: DataFrame | None = None
    inventory_movements: DataFrame | None = None


def _new(column: str) -> str:
    """The merged value of an additive column: the table's plus the increment's."""
    return f"(t.{column} + s.{column})"


def _money_sql(expression: str) -> str:
    return f"CAST({expression} AS DECIMAL({MONEY_SUM.precision},{MONEY_SUM.scale}))"


def _average_order_value() -> str:
    # Rounded half up to cents, as Spark's round() in gold.sales_by_day does for a full day.
    orders, value = _new("orders"), _money_sql(_new("order_value"))
    exact = f"CAST({value} AS DECIMAL(38,8)) / CAST({orders} AS DECIMAL(38,0))"
    return f"CASE WHEN {orders} > 0 THEN {_money_sql(f'ROUND({exact}, 2)')} END"


#: Stamps: the newest completeness wins (a replayed batch never moves it back).
_STAMP_UPDATES = {
    "complete_up_to": (
        "CASE WHEN t.complete_up_to IS NULL OR s.complete_up_to > t.complete_up_to "
        "THEN s.complete_up_to ELSE t.complete_up_to END"
    ),
    "updated_at": "s.updated_at",
}


@dataclass(frozen=True)
class Accumulation:
    """How increments of one gold table merge: measures add up, derived columns follow them."""

    table: TableDef
    sums: tuple[str, ...]
    derived: Mapping[str, str] = field(default_factory=dict)

    def updates(self) -> dict[str, str]:
        """The MERGE's column updates (SQL over t, the table, and s, the increment)."""
        money = {f.name for f in self.table.schema.fields if f.dataType == MONEY_SUM}
        updates = {c: _money_sql(_new(c)) if c in money else _new(c) for c in self.sums}
        return {**updates, **self.derived, **_STAMP_UPDATES}


ACCUMULATIONS: dict[str, Accumulation] = {
    a.table.qualified_name: a
    for a in (
        Accumulation(GOLD_ORDERS_PER_MINUTE, ("orders", "order_value")),
        Accumulation(
            GOLD_SALES_BY_DAY,
            (
                "orders",
                "order_value",
                "cancellations",
                "refunds",
                "refund_amount",
                "payments",
                "payment_amount",
                "invoiced_amount",
            ),
            {
                "average_order_value": _average_order_value(),
                "net_revenue": _money_sql(f"{_new('order_value')} - {_new('refund_amount')}"),
            },
        ),
        Accumulation(GOLD_SIGNUPS_PER_HOUR, ("signups",)),
    )
}

#: gold.inventory_current holds absolute stock, not sums: the highest sequence wins, so a
#: replayed or out-of-order movement never moves it back.
INVENTORY_WHEN = "s.sequence > t.sequence"


def inventory_updates() -> dict[str, str]:
    """Every column of the newer movement (stamps included)."""
    return {f.name: f"s.{f.name}" for f in GOLD_INVENTORY_CURRENT.schema.fields}


def gold_increments(rows: SilverRows, complete_up_to: datetime | None) -> dict[str, DataFrame]:
    """Per gold table, the rows the new silver rows add (tables they do not touch are absent)."""
    from pyspark.sql import functions as F

    out: dict[str, DataFrame] = {}
    if rows.orders is not None:
        out[GOLD_ORDERS_PER_MINUTE.qualified_name] = gold.orders_per_minute(
            rows.orders, complete_up_to
        )
    daily = (rows.orders, rows.order_updates, rows.refunds, rows.payments, rows.invoices)
    if any(frame is not None for frame in daily):
        spark = next(frame for frame in daily if frame is not None).sparkSession

        def or_none(frame: DataFrame | None, name: str) -> DataFrame:
            return frame if frame is not None else spark.createDataFrame([], table(name).schema)

        out[GOLD_SALES_BY_DAY.qualified_name] = gold.sales_by_day(
            or_none(rows.orders, "silver.orders"),
            or_none(rows.order_updates, "silver.order_updates"),
            or_none(rows.refunds, "silver.refunds"),
            or_none(rows.payments, "silver.payments"),
            or_none(rows.invoices, "silver.invoices"),
            complete_up_to,
        )
    if rows.customer_activity is not None:
        out[GOLD_SIGNUPS_PER_HOUR.qualified_name] = gold.signups_per_hour(
            rows.customer_activity.where(F.col("activity") == "registered"), complete_up_to
        )
    if rows.inventory_movements is not None:
        from streaming.silver import inventory_changes

        out[GOLD_INVENTORY_CURRENT.qualified_name] = gold.inventory_current(
            inventory_changes(rows.inventory_movements), complete_up_to
        )
    return out


#: The merge rule of each table an increment can reach.
MergeRule = tuple[dict[str, str], str | None]


def merge_rules() -> dict[str, MergeRule]:
    """(updates, when) per gold table: sums for the additive tables, newest for inventory."""
    rules: dict[str, MergeRule] = {n: (a.updates(), None) for n, a in ACCUMULATIONS.items()}
    rules[GOLD_INVENTORY_CURRENT.qualified_name] = (inventory_updates(), INVENTORY_WHEN)
    return rules
