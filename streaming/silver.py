"""Valid events to silver rows: typed from the contracts, deduplicated, state reduced per key.

Pure: DataFrames in, DataFrames out. The writes (append, MERGE) are in `streaming.refine`;
the batch loads of the orchestration use these same functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pyspark.sql import Window
from pyspark.sql import functions as F

from rapport.lakehouse.tables import (
    SILVER_CUSTOMER_ACTIVITY,
    SILVER_CUSTOMERS,
    SILVER_INVENTORY,
    SILVER_ORDER_LINES,
    SILVER_ORDER_UPDATES,
    SILVER_ORDERS,
    TableDef,
    payload_fields,
)

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

#: The label a silver row gets for the event type it came from, where a table has several.
EVENT_LABELS = {
    "OrderCancelled": "cancelled",
    "OrderShipped": "shipped",
    "CustomerRegistered": "registered",
    "CustomerLoggedIn": "logged_in",
    "CustomerProfileUpdated": "profile_updated",
}

#: Activities that make a customer "active" (with OrderPlaced), as the ledger defines it.
ACTIVE_LABELS = ("registered", "logged_in")


def valid_events(verdicts: DataFrame) -> DataFrame:
    """The valid verdicts as events, one per event id: type name, times, version, payload.

    A duplicate is the same event sent again, so which copy is kept does not matter; doing
    it once here spares every silver table its own shuffle.
    """

    return event_columns(verdicts.where(F.col("valid")).dropDuplicates(["event_id"]))


def event_columns(valid: DataFrame, *extra: str) -> DataFrame:
    """Valid verdict rows as events (type name, times, version, payload), not deduplicated.

    The stream's hot path deduplicates in Spark's state store before this, and keeps the
    `extra` columns (its Kafka coordinates); batch loads go through `valid_events`.
    """

    return valid.select(
        *extra,
        "event_id",
        # The CloudEvents type is the registry subject 'rapport.<domain>.<Type>'.
        F.substring_index("event_type", ".", -1).alias("event_type"),
        "event_time",
        "ingest_time",
        F.col("contract_version").cast("int").alias("contract_version"),
        "data_json",
        "event_date",
    )


def _label(types: Sequence[str]) -> Column:

    mapping = F.create_map(*[F.lit(x) for t in types for x in (t, EVENT_LABELS[t])])
    return mapping[F.col("event_type")]


def _parsed(events: DataFrame, table: TableDef) -> DataFrame:
    """The events of `table`'s sources (from `valid_events`), with `data` parsed."""
    from pyspark.sql.types import StructType

    # Parsed with the union of the sources' latest contracts: a field a newer compatible
    # version adds is ignored until its contract is committed, and the event still lands.
    payload = StructType(payload_fields(*table.sources))
    return events.where(F.col("event_type").isin(*table.sources)).withColumn(
        "data", F.from_json("data_json", payload)
    )


def event_rows(events: DataFrame, table: TableDef) -> DataFrame:
    """Rows of an append-only silver event table, one per event id, in its schema."""

    parsed = _parsed(events, table)
    derived: dict[str, Column] = {}
    if table is SILVER_ORDERS:
        derived["line_count"] = F.size("data.lines")
    if table is SILVER_ORDER_UPDATES:
        derived["update_type"] = _label(table.sources)
    if table is SILVER_CUSTOMER_ACTIVITY:
        derived["activity"] = _label(table.sources)
    meta = {"event_id", "event_time", "ingest_time", "contract_version", "event_date"}
    columns = [
        (F.col(name) if name in meta else derived.get(name, F.col(f"data.{name}"))).alias(name)
        for name in table.schema.fieldNames()
    ]
    return parsed.select(*columns)


def order_line_rows(events: DataFrame) -> DataFrame:
    """silver.order_lines rows: each OrderPlaced exploded to its lines, numbered from 1."""

    lines = _parsed(events, SILVER_ORDER_LINES).select(
        "event_id",
        "event_time",
        "ingest_time",
        "event_date",
        F.col("data.order_id").alias("order_id"),
        F.posexplode("data.lines").alias("position", "line"),
    )
    return lines.select(
        "event_id",
        (F.col("position") + 1).cast("int").alias("line_number"),
        "order_id",
        "line.*",
        (F.col("line.quantity") * F.col("line.unit_price"))
        .cast("decimal(17,2)")
        .alias("line_amount"),
        "event_time",
        "ingest_time",
        "event_date",
    ).select(*SILVER_ORDER_LINES.schema.fieldNames())


def customer_changes(events: DataFrame) -> DataFrame:
    """One silver.customers candidate row per customer: the newest profile in these events.

    Ordered by event time, then event id, so the choice is the same however the events were
    batched; the MERGE applies it only if it is newer than what the table holds.
    """

    parsed = _parsed(events, SILVER_CUSTOMERS).select(
        "event_id", "event_type", "event_time", "data.*"
    )
    newest = Window.partitionBy("customer_id").orderBy(
        F.col("event_time").desc(), F.col("event_id").desc()
    )
    signup = parsed.where(F.col("event_type") == "CustomerRegistered")
    registered = signup.groupBy("customer_id").agg(
        F.min("event_time").alias("registered_at"),
        F.min_by("channel", "event_time").alias("signup_channel"),
    )
    profile_columns = [f.name for f in payload_fields(*SILVER_CUSTOMERS.sources)]
    latest = (
        parsed.withColumn("rank", F.row_number().over(newest))
        .where(F.col("rank") == 1)
        .select(
            *[c for c in profile_columns if c != "channel"],
            F.col("event_time").alias("profile_updated_at"),
            F.col("event_id").alias("last_event_id"),
        )
    )
    return (
        latest.join(registered, "customer_id", "left")
        .withColumn("channel", F.col("signup_channel"))
        .withColumn("updated_at", F.current_timestamp())
        .select(*SILVER_CUSTOMERS.schema.fieldNames())
    )


def inventory_changes(movements: DataFrame) -> DataFrame:
    """One silver.inventory candidate row per sku and warehouse: its highest sequence here."""

    newest = F.max_by(
        F.struct("on_hand_after", "reorder_point", "event_time", "event_id"), "sequence"
    )
    return (
        movements.groupBy("sku", "warehouse")
        .agg(F.max("sequence").alias("sequence"), newest.alias("last"))
        .select(
            "sku",
            "warehouse",
            F.col("last.on_hand_after").alias("on_hand"),
            F.col("last.reorder_point").alias("reorder_point"),
            "sequence",
            F.col("last.event_time").alias("event_time"),
            F.col("last.event_id").alias("last_event_id"),
            F.current_timestamp().alias("updated_at"),
        )
        .select(*SILVER_INVENTORY.schema.fieldNames())
    )


#: MERGE rules of the state tables: (match condition, update when, per-column update).
#: A change wins only if it is newer, so replays and out-of-order arrivals cannot regress.
_CUSTOMER_NEWER = (
    "s.profile_updated_at > t.profile_updated_at OR "
    "(s.profile_updated_at = t.profile_updated_at AND s.last_event_id > t.last_event_id)"
)


def customer_merge_updates() -> dict[str, str]:
    """Column updates of the silver.customers MERGE (SQL expressions on t and s)."""
    newer = f"({_CUSTOMER_NEWER})"
    profile = [
        f.name
        for f in payload_fields(*SILVER_CUSTOMERS.sources)
        if f.name not in ("customer_id", "channel")
    ]
    updates = {c: f"CASE WHEN {newer} THEN s.{c} ELSE t.{c} END" for c in profile}
    updates.update(
        {
            "channel": "coalesce(t.channel, s.channel)",
            # least/greatest skip nulls: the first sign-up time wins, whenever it arrives.
            "registered_at": "least(t.registered_at, s.registered_at)",
            "profile_updated_at": "greatest(t.profile_updated_at, s.profile_updated_at)",
            "last_event_id": f"CASE WHEN {newer} THEN s.last_event_id ELSE t.last_event_id END",
            "updated_at": "s.updated_at",
        }
    )
    return updates


CUSTOMER_MERGE_WHEN = (
    f"({_CUSTOMER_NEWER}) OR (s.registered_at IS NOT NULL AND "
    "(t.registered_at IS NULL OR s.registered_at < t.registered_at)) OR "
    "(t.channel IS NULL AND s.channel IS NOT NULL)"
)
INVENTORY_MERGE_WHEN = "s.sequence > t.sequence"
