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
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F

from rapport.contracts.currency import NO_CURRENCY
from rapport.lakehouse.tables import (
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
    import pyarrow as pa
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


# --- on the driver ---------------------------------------------------------------------------
# The hot query's micro-batch is small (a second of events): collected once as Arrow, its
# increments are cheaper to add up in Python than as four more Spark jobs (a few hundred
# milliseconds each on two cores, for a few thousand rows). The rules are those of
# `streaming.gold`; tests/streaming/test_increments.py checks both give the same rows.

_CENT = Decimal("0.01")

#: The event columns the driver needs, in the order `local_increments` reads them.
EVENT_FIELDS = ("event_type", "event_time", "event_date", "data_json")


def _sum_rows(
    target: TableDef, groups: Mapping[tuple[Any, ...], dict[str, Any]], stamp: datetime | None
) -> pa.Table:
    import pyarrow as pa

    from rapport.lakehouse.delta_rs import arrow_schema

    updated = datetime.now(UTC)
    rows = [{**v, "complete_up_to": stamp, "updated_at": updated} for v in groups.values()]
    return pa.Table.from_pylist(rows, schema=arrow_schema(target))


def local_increments(events: pa.Table, complete_up_to: datetime | None) -> dict[str, pa.Table]:
    """`gold_increments` for events already on the driver (columns EVENT_FIELDS)."""
    import orjson
    import pyarrow as pa
    import pyarrow.compute as pc

    minutes: dict[tuple[Any, ...], dict[str, Any]] = {}
    days: dict[tuple[Any, ...], dict[str, Any]] = {}
    hours: dict[tuple[Any, ...], dict[str, Any]] = {}
    stock: dict[tuple[Any, ...], dict[str, Any]] = {}
    zero = Decimal("0.00")

    def day(event_date: date, currency: str) -> dict[str, Any]:
        found = days.get((event_date, currency))
        if found is None:
            found = days[(event_date, currency)] = {
                "event_date": event_date, "currency": currency, "orders": 0, "order_value": zero,
                "cancellations": 0, "refunds": 0, "refund_amount": zero, "payments": 0,
                "payment_amount": zero, "invoiced_amount": zero,
            }  # fmt: skip
        return found

    # Times and days as plain integers (microseconds, days since 1970), made datetimes once per
    # group: building a datetime for every event was more than half of this function's time.
    gold_types = pa.array(sorted(GOLD_TYPES))
    events = events.filter(pc.is_in(events.column("event_type"), value_set=gold_types))
    times = events.column("event_time")
    epoch = datetime(1970, 1, 1, tzinfo=UTC if times.type.tz is not None else None)
    micros = times.cast(pa.timestamp("us", times.type.tz)).cast(pa.int64()).to_pylist()
    day_numbers = events.column("event_date").cast(pa.int32()).to_pylist()
    dates: dict[int, date] = {}
    kinds, payloads = (
        events.column("event_type").to_pylist(),
        events.column("data_json").to_pylist(),
    )
    for event_type, us, day_number, data_json in zip(
        kinds, micros, day_numbers, payloads, strict=True
    ):
        event_date = dates.get(day_number)
        if event_date is None:
            event_date = dates[day_number] = _EPOCH_DAY + timedelta(days=day_number)
        data = orjson.loads(data_json)
        if event_type == "OrderPlaced":
            total = Decimal(data["total"])
            key = (us - us % _MINUTE_US, data["region"], data["channel"], data["currency"])
            row = minutes.get(key)
            if row is None:
                minute = epoch + timedelta(microseconds=key[0])
                row = minutes[key] = {
                    "minute": minute, "region": key[1], "channel": key[2], "currency": key[3],
                    "orders": 0, "order_value": zero, "event_date": minute.date(),
                }  # fmt: skip
            row["orders"] += 1
            row["order_value"] += total
            placed = day(event_date, data["currency"])
            placed["orders"] += 1
            placed["order_value"] += total
        elif event_type == "OrderCancelled":
            day(event_date, data.get("currency") or NO_CURRENCY)["cancellations"] += 1
        elif event_type == "RefundIssued":
            refund = day(event_date, data["currency"])
            refund["refunds"] += 1
            refund["refund_amount"] += Decimal(data["amount"])
        elif event_type == "PaymentCaptured":
            payment = day(event_date, data["currency"])
            payment["payments"] += 1
            payment["payment_amount"] += Decimal(data["amount"])
        elif event_type == "InvoiceIssued":
            day(event_date, data["currency"])["invoiced_amount"] += Decimal(data["amount"])
        elif event_type == "CustomerRegistered":
            hour_us = us - us % _HOUR_US
            signups = hours.get((hour_us,))
            if signups is None:
                hour = epoch + timedelta(microseconds=hour_us)
                signups = hours[(hour_us,)] = {
                    "hour": hour,
                    "signups": 0,
                    "event_date": hour.date(),
                }
            signups["signups"] += 1
        else:  # InventoryAdjusted: the highest sequence per sku and warehouse wins
            item = (data["sku"], data["warehouse"])
            known = stock.get(item)
            if known is None or data["sequence"] > known["sequence"]:
                stock[item] = {
                    "sku": data["sku"], "warehouse": data["warehouse"],
                    "on_hand": data["on_hand_after"], "reorder_point": data["reorder_point"],
                    "low_stock": data["on_hand_after"] < data["reorder_point"],
                    "last_movement_at": epoch + timedelta(microseconds=us),
                    "sequence": data["sequence"],
                }  # fmt: skip
    for row in days.values():
        orders, value = row["orders"], row["order_value"]
        row["average_order_value"] = (
            (value / orders).quantize(_CENT, ROUND_HALF_UP) if orders else None
        )
        row["net_revenue"] = value - row["refund_amount"]
    found = {
        GOLD_ORDERS_PER_MINUTE.qualified_name: (GOLD_ORDERS_PER_MINUTE, minutes),
        GOLD_SALES_BY_DAY.qualified_name: (GOLD_SALES_BY_DAY, days),
        GOLD_SIGNUPS_PER_HOUR.qualified_name: (GOLD_SIGNUPS_PER_HOUR, hours),
        GOLD_INVENTORY_CURRENT.qualified_name: (GOLD_INVENTORY_CURRENT, stock),
    }
    return {
        name: _sum_rows(target, groups, complete_up_to)
        for name, (target, groups) in found.items()
        if groups
    }


#: The event types that reach a stream gold table (by their short name), and the payload
#: fields `local_increments` reads from each: all the hot query's verdict workers hand on
#: (`streaming.validation.classify_bronze`'s `payload`). A test checks that increments from
#: these fields alone equal `streaming.gold`'s over whole payloads.
GOLD_PAYLOAD: dict[str, tuple[str, ...]] = {
    "OrderPlaced": ("total", "region", "channel", "currency"),
    "OrderCancelled": ("currency",),
    "RefundIssued": ("amount", "currency"),
    "PaymentCaptured": ("amount", "currency"),
    "InvoiceIssued": ("amount", "currency"),
    "CustomerRegistered": (),
    "InventoryAdjusted": ("sku", "warehouse", "on_hand_after", "reorder_point", "sequence"),
}
GOLD_TYPES = frozenset(GOLD_PAYLOAD)
_EPOCH_DAY = date(1970, 1, 1)
_MINUTE_US, _HOUR_US = 60_000_000, 3_600_000_000
