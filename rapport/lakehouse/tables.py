"""The table catalog: every Delta table Rapport writes, its columns, partitioning and place.

This is the single source of truth for table definitions. The Spark writers, the catalog
registration (`rapport.lakehouse.spark_catalog`), the docs and the tests all read these objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from rapport.contracts.catalog import default_catalog
from rapport.contracts.spark_schema import payload_schema

if TYPE_CHECKING:
    from rapport.settings import Settings

from rapport.lakehouse.layout import LAYERS, table_location

#: Properties every table gets. Deletion vectors and column mapping stay off so that readers
#: other than Spark (delta-rs, for the embedded SQL and the dashboard) can read every table.
COMMON_PROPERTIES = {
    "delta.enableDeletionVectors": "false",
    "delta.columnMapping.mode": "none",
    # A micro-batch writes a few small files per table; auto compaction merges them after a
    # commit once enough pile up, so readers (and the stream's dedup) never scan thousands.
    "delta.autoOptimize.autoCompact": "true",
}


@dataclass(frozen=True)
class TableDef:
    """One Delta table: where it lives in the catalog and on storage, and what it holds."""

    layer: str
    name: str
    schema: StructType
    description: str
    partition_by: tuple[str, ...] = ()
    properties: dict[str, str] = field(default_factory=dict)
    #: Columns that identify a row: unique in the table (deduplication and quality checks).
    keys: tuple[str, ...] = ()
    #: Event types (contract names) whose events feed the table; silver only.
    sources: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.layer not in LAYERS:
            raise ValueError(f"unknown layer {self.layer!r}; expected one of {LAYERS}")
        missing = set(self.partition_by) - set(self.schema.fieldNames())
        if missing:
            raise ValueError(f"{self.qualified_name}: partition columns {missing} not in schema")
        missing = set(self.keys) - set(self.schema.fieldNames())
        if missing:
            raise ValueError(f"{self.qualified_name}: key columns {missing} not in schema")

    @property
    def qualified_name(self) -> str:
        return f"{self.layer}.{self.name}"

    @property
    def all_properties(self) -> dict[str, str]:
        return {**COMMON_PROPERTIES, **self.properties}

    def location(self, settings: Settings) -> str:
        return table_location(settings, self.layer, self.name)

    def checkpoint(self, settings: Settings, query: str) -> str:
        """Checkpoint folder of the streaming query `query` that writes this table."""
        return f"{settings.checkpoints}/{self.layer}/{self.name}/{query}"


BRONZE_EVENTS = TableDef(
    layer="bronze",
    name="events",
    description=(
        "Every Kafka record as it arrived, malformed or not: the replayable audit trail "
        "from which every other table can be rebuilt. Append-only."
    ),
    schema=StructType(
        [
            # CloudEvents attributes, read best-effort from the JSON value; null when the
            # record is not a JSON object with them (it is still kept, raw, below).
            StructField("event_id", StringType(), True),
            StructField("event_type", StringType(), True),
            StructField("event_source", StringType(), True),
            StructField("event_time", TimestampType(), True),
            # The record exactly as Kafka delivered it.
            StructField("key", BinaryType(), True),
            StructField("value", BinaryType(), True),
            StructField(
                "headers",
                ArrayType(
                    StructType(
                        [
                            StructField("key", StringType(), True),
                            StructField("value", BinaryType(), True),
                        ]
                    ),
                    True,
                ),
                True,
            ),
            StructField("topic", StringType(), False),
            StructField("partition", IntegerType(), False),
            StructField("offset", LongType(), False),
            StructField("kafka_timestamp", TimestampType(), False),
            StructField("ingest_time", TimestampType(), False),
            # Day of the event's own time, or of the Kafka timestamp when it has none.
            StructField("event_date", DateType(), False),
        ]
    ),
    partition_by=("event_date",),
    # Bronze is an audit trail: Delta refuses any update or delete on it.
    properties={"delta.appendOnly": "true"},
    keys=("topic", "partition", "offset"),
)

BRONZE_QUARANTINE = TableDef(
    layer="bronze",
    name="quarantine",
    description=(
        "Records that are not valid events (unparseable, unknown type or schema, payload "
        "breaking its contract), with the reason, the raw bytes and their Kafka coordinates. "
        "Nothing is lost: fix and replay from here. One row per Kafka record."
    ),
    schema=StructType(
        [
            StructField("topic", StringType(), False),
            StructField("partition", IntegerType(), False),
            StructField("offset", LongType(), False),
            StructField("key", BinaryType(), True),
            StructField("value", BinaryType(), True),
            StructField("kafka_timestamp", TimestampType(), False),
            StructField("event_id", StringType(), True),
            StructField("event_type", StringType(), True),
            StructField("reason", StringType(), False),
            StructField("quarantined_at", TimestampType(), False),
            # Day the record reached Kafka: a bad record may have no event time at all.
            StructField("kafka_date", DateType(), False),
        ]
    ),
    partition_by=("kafka_date",),
    keys=("topic", "partition", "offset"),
)


# --- silver: typed, validated, deduplicated events, derived from the contracts -------------

#: Money sums: a decimal(17,2) summed by Spark widens to decimal(27,2); gold keeps that width.
MONEY = DecimalType(17, 2)
MONEY_SUM = DecimalType(27, 2)
#: An exchange rate: units of the quote currency for one unit of the base currency.
FX_RATE = DecimalType(18, 8)

#: The ISO 4217 code of the money in a gold row. Every gold table that holds money has it in
#: its key: no figure adds currencies (docs/decisions/0010-money-per-currency.md).
CURRENCY = StructField("currency", StringType(), False)
#: The key of the per-day money tables (gold.sales_by_day, gold.daily_billing).
DAY_AND_CURRENCY = ("event_date", "currency")

#: What every silver event row carries besides its payload: identity, time and provenance.
EVENT_META = (
    StructField("event_id", StringType(), False),
    StructField("event_time", TimestampType(), False),
    StructField("ingest_time", TimestampType(), False),
    StructField("contract_version", IntegerType(), False),
    StructField("event_date", DateType(), False),
)


def payload_fields(*event_types: str, exclude: tuple[str, ...] = ()) -> list[StructField]:
    """The payload columns of the latest contract versions of `event_types`, in order.

    A column found in several contracts appears once; a column that not every source
    carries is nullable. This is how silver schemas follow the contracts without a copy.
    """
    catalog = default_catalog()
    seen: dict[str, StructField] = {}
    required: dict[str, int] = {}
    for event_type in event_types:
        for column in payload_schema(catalog.latest(event_type)).fields:
            if column.name in exclude:
                continue
            seen.setdefault(column.name, column)
            required[column.name] = required.get(column.name, 0) + (not column.nullable)
    return [
        StructField(c.name, c.dataType, required[c.name] < len(event_types), c.metadata)
        for c in seen.values()
    ]


def _silver(
    name: str,
    sources: tuple[str, ...],
    description: str,
    *,
    extra: tuple[StructField, ...] = (),
    exclude: tuple[str, ...] = (),
) -> TableDef:
    """An append-only silver event table: one row per event id, typed from the contracts."""
    return TableDef(
        layer="silver",
        name=name,
        description=description,
        schema=StructType(
            [*EVENT_META[:4], *extra, *payload_fields(*sources, exclude=exclude), EVENT_META[4]]
        ),
        partition_by=("event_date",),
        keys=("event_id",),
        sources=sources,
    )


SILVER_ORDERS = _silver(
    "orders",
    ("OrderPlaced",),
    "One row per order placed (OrderPlaced); the lines are in silver.order_lines.",
    extra=(StructField("line_count", IntegerType(), False),),
    exclude=("lines",),
)

_LINE = payload_schema(default_catalog().latest("OrderPlaced"))["lines"].dataType
assert isinstance(_LINE, ArrayType)
assert isinstance(_LINE.elementType, StructType)

SILVER_ORDER_LINES = TableDef(
    layer="silver",
    name="order_lines",
    description="One row per line of an order placed, with its amount (quantity x unit price).",
    schema=StructType(
        [
            StructField("event_id", StringType(), False),
            StructField("line_number", IntegerType(), False),
            StructField("order_id", StringType(), False),
            *_LINE.elementType.fields,
            StructField("line_amount", MONEY, False),
            StructField("event_time", TimestampType(), False),
            StructField("ingest_time", TimestampType(), False),
            StructField("event_date", DateType(), False),
        ]
    ),
    partition_by=("event_date",),
    keys=("event_id", "line_number"),
    sources=("OrderPlaced",),
)

SILVER_ORDER_UPDATES = _silver(
    "order_updates",
    ("OrderCancelled", "OrderShipped"),
    "What happened to orders after they were placed: one row per cancellation or shipment.",
    extra=(StructField("update_type", StringType(), False),),
)

SILVER_CUSTOMER_ACTIVITY = _silver(
    "customer_activity",
    ("CustomerRegistered", "CustomerLoggedIn", "CustomerProfileUpdated"),
    "Every customer action: sign-ups, logins and profile changes, one row per event.",
    extra=(StructField("activity", StringType(), False),),
    exclude=("email", "name"),  # personal: only silver.customers holds (their pseudonyms)
)

SILVER_INVENTORY_MOVEMENTS = _silver(
    "inventory_movements",
    ("InventoryAdjusted",),
    "Every stock movement (receipts, sales, returns, corrections), one row per event.",
)

SILVER_INVOICES = _silver("invoices", ("InvoiceIssued",), "One row per invoice issued.")
SILVER_PAYMENTS = _silver("payments", ("PaymentCaptured",), "One row per payment captured.")
SILVER_REFUNDS = _silver("refunds", ("RefundIssued",), "One row per refund issued.")

SILVER_CUSTOMERS = TableDef(
    layer="silver",
    name="customers",
    description=(
        "Current profile per customer, upserted: a change applies only if its event time is "
        "newer than the one the row holds, so events arriving out of order cannot regress it. "
        "The personal fields (email, name) hold pseudonyms, keyed hashes that still join; "
        "the raw values live only in bronze."
    ),
    schema=StructType(
        [
            StructField("customer_id", StringType(), False),
            *[
                f
                for f in payload_fields("CustomerRegistered", "CustomerProfileUpdated")
                if f.name != "customer_id"
            ],
            StructField("registered_at", TimestampType(), True),
            StructField("profile_updated_at", TimestampType(), False),
            StructField("last_event_id", StringType(), False),
            StructField("updated_at", TimestampType(), False),
        ]
    ),
    keys=("customer_id",),
    sources=("CustomerRegistered", "CustomerProfileUpdated"),
)

SILVER_INVENTORY = TableDef(
    layer="silver",
    name="inventory",
    description=(
        "Stock on hand per sku and warehouse, upserted by the movements' sequence: a movement "
        "applies only if its sequence is higher than the row's, so order of arrival is moot."
    ),
    schema=StructType(
        [
            StructField("sku", StringType(), False),
            StructField("warehouse", StringType(), False),
            StructField("on_hand", LongType(), False),
            StructField("reorder_point", LongType(), False),
            StructField("sequence", LongType(), False),
            StructField("event_time", TimestampType(), False),
            StructField("last_event_id", StringType(), False),
            StructField("updated_at", TimestampType(), False),
        ]
    ),
    keys=("sku", "warehouse"),
    sources=("InventoryAdjusted",),
)

# --- gold: report-ready figures, each row stamped with the event time it is complete to ----

#: Every gold row says how complete it is: events up to `complete_up_to` (the stream's
#: watermark when the row was written) are in; later ones may still arrive.
GOLD_STAMP = (
    StructField("complete_up_to", TimestampType(), True),
    StructField("updated_at", TimestampType(), False),
)

GOLD_ORDERS_PER_MINUTE = TableDef(
    layer="gold",
    name="orders_per_minute",
    description=(
        "Orders placed and their gross value per minute of event time, region, channel and "
        "currency (the order's; values are in it, never added across currencies)."
    ),
    schema=StructType(
        [
            StructField("minute", TimestampType(), False),
            StructField("region", StringType(), False),
            StructField("channel", StringType(), False),
            CURRENCY,
            StructField("orders", LongType(), False),
            StructField("order_value", MONEY_SUM, False),
            *GOLD_STAMP,
            StructField("event_date", DateType(), False),
        ]
    ),
    partition_by=("event_date",),
    keys=("minute", "region", "channel", "currency"),
)

GOLD_SALES_BY_DAY = TableDef(
    layer="gold",
    name="sales_by_day",
    description=(
        "Sales per day of event time and currency; today's rows are today's sales: orders, "
        "revenue, average order value, cancellations, refunds, net revenue, payments and "
        "invoicing, each in the row's currency (never added across currencies). "
        "Cancellations count under the cancelled order's currency (XXX when an OrderCancelled "
        "v1 did not state it)."
    ),
    schema=StructType(
        [
            StructField("event_date", DateType(), False),
            CURRENCY,
            StructField("orders", LongType(), False),
            StructField("order_value", MONEY_SUM, False),
            StructField("average_order_value", MONEY_SUM, True),
            StructField("cancellations", LongType(), False),
            StructField("refunds", LongType(), False),
            StructField("refund_amount", MONEY_SUM, False),
            StructField("net_revenue", MONEY_SUM, False),
            StructField("payments", LongType(), False),
            StructField("payment_amount", MONEY_SUM, False),
            StructField("invoiced_amount", MONEY_SUM, False),
            *GOLD_STAMP,
        ]
    ),
    keys=DAY_AND_CURRENCY,
)

GOLD_SIGNUPS_PER_HOUR = TableDef(
    layer="gold",
    name="signups_per_hour",
    description="New customers (CustomerRegistered) per hour of event time.",
    schema=StructType(
        [
            StructField("hour", TimestampType(), False),
            StructField("signups", LongType(), False),
            *GOLD_STAMP,
            StructField("event_date", DateType(), False),
        ]
    ),
    partition_by=("event_date",),
    keys=("hour",),
)

#: The periods of gold.active_customers (its `period` column) and their length in seconds:
#: the stream computes them, the dashboard and the tests read them from here.
ACTIVE_PERIODS = (("5 minutes", 300), ("1 hour", 3600))

GOLD_ACTIVE_CUSTOMERS = TableDef(
    layer="gold",
    name="active_customers",
    description=(
        "Distinct customers who signed up, logged in or ordered in the last 5 minutes and the "
        "last hour before the newest event time (`as_of`)."
    ),
    schema=StructType(
        [
            StructField("period", StringType(), False),
            StructField("period_seconds", LongType(), False),
            StructField("as_of", TimestampType(), False),
            StructField("active_customers", LongType(), False),
            *GOLD_STAMP,
        ]
    ),
    keys=("period",),
)

_STOCK_COLUMNS = (
    StructField("sku", StringType(), False),
    StructField("warehouse", StringType(), False),
    StructField("on_hand", LongType(), False),
    StructField("reorder_point", LongType(), False),
)

GOLD_INVENTORY_CURRENT = TableDef(
    layer="gold",
    name="inventory_current",
    description="Stock on hand per sku and warehouse now, with its reorder point.",
    schema=StructType(
        [
            *_STOCK_COLUMNS,
            StructField("low_stock", BooleanType(), False),
            StructField("last_movement_at", TimestampType(), False),
            # The movement's sequence: the stream merges a movement only over an older one.
            StructField("sequence", LongType(), False),
            *GOLD_STAMP,
        ]
    ),
    keys=("sku", "warehouse"),
)

GOLD_LOW_STOCK = TableDef(
    layer="gold",
    name="low_stock",
    description="Sku and warehouse pairs whose stock on hand is below the reorder point.",
    schema=StructType(
        [
            *_STOCK_COLUMNS,
            StructField("shortfall", LongType(), False),
            StructField("last_movement_at", TimestampType(), False),
            *GOLD_STAMP,
        ]
    ),
    keys=("sku", "warehouse"),
)

# --- ops: how the stream is doing, for status, freshness SLAs and alerts ---------------------

# Delta enforces no NOT NULL inside arrays and maps: nested fields are nullable.
_LAG = StructType(
    [
        StructField("topic", StringType(), True),
        StructField("partition", IntegerType(), True),
        StructField("end_offset", LongType(), True),
        StructField("processed_offset", LongType(), True),
        StructField("lag", LongType(), True),
    ]
)

OPS_STREAM_BATCHES = TableDef(
    layer="ops",
    name="stream_batches",
    description=(
        "One row per micro-batch of the silver/gold query: rates, duration, rows per table, "
        "watermark, and Kafka lag per partition (end offset minus offset processed)."
    ),
    schema=StructType(
        [
            StructField("app_id", StringType(), False),
            StructField("batch_id", LongType(), False),
            StructField("started_at", TimestampType(), False),
            StructField("finished_at", TimestampType(), False),
            StructField("duration_ms", LongType(), False),
            StructField("input_rows", LongType(), False),
            StructField("valid_rows", LongType(), False),
            StructField("quarantined_rows", LongType(), False),
            StructField("duplicate_rows", LongType(), False),
            StructField("late_rows", LongType(), False),
            StructField("processed_rows_per_s", DoubleType(), False),
            StructField("bronze_input_rows_per_s", DoubleType(), True),
            StructField("bronze_processed_rows_per_s", DoubleType(), True),
            StructField("rows_written", MapType(StringType(), LongType(), True), False),
            StructField("max_event_time", TimestampType(), True),
            StructField("watermark", TimestampType(), True),
            StructField("kafka_lag", ArrayType(_LAG, True), False),
            StructField("total_lag", LongType(), False),
            StructField("batch_date", DateType(), False),
        ]
    ),
    partition_by=("batch_date",),
    keys=("app_id", "batch_id"),
)

OPS_LATE_EVENTS = TableDef(
    layer="ops",
    name="late_events",
    description=(
        "Events that arrived after the watermark had passed their time. They are in silver "
        "and gold all the same; this record tells the batch side which days to re-backfill."
    ),
    schema=StructType(
        [
            StructField("event_id", StringType(), False),
            StructField("event_type", StringType(), False),
            StructField("event_time", TimestampType(), False),
            StructField("ingest_time", TimestampType(), False),
            StructField("watermark", TimestampType(), False),
            StructField("lateness_s", DoubleType(), False),
            StructField("recorded_at", TimestampType(), False),
            StructField("event_date", DateType(), False),
        ]
    ),
    partition_by=("event_date",),
    keys=("event_id",),
)

#: Stamp of a daily aggregate row: when the batch side computed it.
DAILY_STAMP = (StructField("computed_at", TimestampType(), False),)

GOLD_DAILY_SALES = TableDef(
    layer="gold",
    name="daily_sales",
    description=(
        "Sales per day, region, channel, product category and currency, from order lines: "
        "orders containing the category, units and revenue in the order's currency (an order "
        "spans several categories)."
    ),
    schema=StructType(
        [
            StructField("event_date", DateType(), False),
            StructField("region", StringType(), False),
            StructField("channel", StringType(), False),
            StructField("category", StringType(), False),
            CURRENCY,
            StructField("orders", LongType(), False),
            StructField("units", LongType(), False),
            StructField("revenue", MONEY_SUM, False),
            *DAILY_STAMP,
        ]
    ),
    partition_by=("event_date",),
    keys=("event_date", "region", "channel", "category", "currency"),
)

GOLD_DAILY_CUSTOMERS = TableDef(
    layer="gold",
    name="daily_customers",
    description=(
        "Customers per day: sign-ups, active customers (signed up, logged in or ordered) "
        "and returning customers (active, registered before that day)."
    ),
    schema=StructType(
        [
            StructField("event_date", DateType(), False),
            StructField("signups", LongType(), False),
            StructField("active_customers", LongType(), False),
            StructField("returning_customers", LongType(), False),
            *DAILY_STAMP,
        ]
    ),
    partition_by=("event_date",),
    keys=("event_date",),
)

GOLD_COHORT_RETENTION = TableDef(
    layer="gold",
    name="cohort_retention",
    description=(
        "Weekly cohort retention: of the customers who signed up in a week (Monday), how many "
        "were active in each later week. One partition per activity day's week start."
    ),
    schema=StructType(
        [
            StructField("cohort_week", DateType(), False),
            StructField("activity_week", DateType(), False),
            StructField("weeks_since_signup", IntegerType(), False),
            StructField("cohort_size", LongType(), False),
            StructField("active_customers", LongType(), False),
            StructField("retention", DoubleType(), False),
            *DAILY_STAMP,
        ]
    ),
    partition_by=("activity_week",),
    keys=("cohort_week", "activity_week"),
)

GOLD_DAILY_INVENTORY = TableDef(
    layer="gold",
    name="daily_inventory",
    description=(
        "Stock per day, sku and warehouse: closing stock (the day's last movement by "
        "sequence), units moved out, whether it closed out of stock, and turnover."
    ),
    schema=StructType(
        [
            StructField("event_date", DateType(), False),
            StructField("sku", StringType(), False),
            StructField("warehouse", StringType(), False),
            StructField("closing_on_hand", LongType(), False),
            StructField("units_out", LongType(), False),
            StructField("units_in", LongType(), False),
            StructField("stock_out", BooleanType(), False),
            StructField("turnover", DoubleType(), True),
            *DAILY_STAMP,
        ]
    ),
    partition_by=("event_date",),
    keys=("event_date", "sku", "warehouse"),
)

GOLD_DAILY_BILLING = TableDef(
    layer="gold",
    name="daily_billing",
    description=(
        "Billing per day and currency: invoiced, paid and refunded amounts and counts, and "
        "outstanding (invoiced that day and not yet paid, as known when computed)."
    ),
    schema=StructType(
        [
            StructField("event_date", DateType(), False),
            CURRENCY,
            StructField("invoices", LongType(), False),
            StructField("invoiced_amount", MONEY_SUM, False),
            StructField("payments", LongType(), False),
            StructField("paid_amount", MONEY_SUM, False),
            StructField("refunds", LongType(), False),
            StructField("refunded_amount", MONEY_SUM, False),
            StructField("outstanding_amount", MONEY_SUM, False),
            *DAILY_STAMP,
        ]
    ),
    partition_by=("event_date",),
    keys=DAY_AND_CURRENCY,
)

OPS_RECONCILIATION = TableDef(
    layer="ops",
    name="reconciliation",
    description=(
        "Each day's gold figures as the stream wrote them against a recomputation from "
        "silver: one row per day, currency, figure and check run, with the difference."
    ),
    schema=StructType(
        [
            StructField("event_date", DateType(), False),
            StructField("table_name", StringType(), False),
            StructField("figure", StringType(), False),
            # The currency of the compared figures; null for a table kept without one.
            StructField("currency", StringType(), True),
            StructField("stream_value", StringType(), True),
            StructField("silver_value", StringType(), True),
            StructField("difference", DoubleType(), True),
            StructField("matches", BooleanType(), False),
            StructField("corrected", BooleanType(), False),
            StructField("checked_at", TimestampType(), False),
        ]
    ),
    partition_by=("event_date",),
    keys=("event_date", "table_name", "figure", "currency", "checked_at"),
)

OPS_QUALITY_RESULTS = TableDef(
    layer="ops",
    name="quality_results",
    description=(
        "Every quality check ever run: one row per check, table, partition and validation, "
        "with whether it passed, whether it gates downstream, and its failing rows."
    ),
    schema=StructType(
        [
            StructField("validation_id", StringType(), False),
            StructField("table_name", StringType(), False),
            # The day validated ("2026-11-26"), or "all" for a table without day partitions.
            StructField("partition", StringType(), False),
            StructField("suite", StringType(), False),
            StructField("check_name", StringType(), False),
            StructField("description", StringType(), False),
            StructField("blocking", BooleanType(), False),
            StructField("passed", BooleanType(), False),
            StructField("rows_checked", LongType(), False),
            StructField("failing_rows", LongType(), False),
            # A few failing values or rows, as JSON, for a first look without a query.
            StructField("examples", StringType(), True),
            StructField("run_id", StringType(), True),
            StructField("validated_at", TimestampType(), False),
            StructField("validated_date", DateType(), False),
        ]
    ),
    partition_by=("validated_date",),
    keys=("validation_id", "partition", "check_name"),
)

OPS_QUARANTINE_REPLAYS = TableDef(
    layer="ops",
    name="quarantine_replays",
    description=(
        "Each attempt to replay a quarantined record after a fix: its Kafka coordinates, "
        "whether it now passed validation and reached silver, or why it still fails."
    ),
    schema=StructType(
        [
            StructField("topic", StringType(), False),
            StructField("partition", IntegerType(), False),
            StructField("offset", LongType(), False),
            StructField("event_id", StringType(), True),
            StructField("event_type", StringType(), True),
            StructField("original_reason", StringType(), False),
            StructField("replayed", BooleanType(), False),
            # Why it is still invalid (null when it was replayed).
            StructField("reason", StringType(), True),
            StructField("replay_id", StringType(), False),
            StructField("replayed_at", TimestampType(), False),
            StructField("replay_date", DateType(), False),
        ]
    ),
    partition_by=("replay_date",),
    keys=("replay_id", "topic", "partition", "offset"),
)

OPS_ERASURES = TableDef(
    layer="ops",
    name="erasures",
    description=(
        "Each erasure of a customer's personal data (`rapport gdpr erase`): how many rows it "
        "rewrote per table and which tables' old versions it purged. It holds no personal "
        "value itself, only the customer id, which the contracts do not mark personal."
    ),
    schema=StructType(
        [
            StructField("erasure_id", StringType(), False),
            StructField("customer_id", StringType(), False),
            StructField("bronze_rows", LongType(), False),
            StructField("quarantine_rows", LongType(), False),
            StructField("silver_rows", LongType(), False),
            StructField("replay_rows", LongType(), False),
            StructField("purged_tables", ArrayType(StringType()), False),
            StructField("requested_at", TimestampType(), False),
            StructField("finished_at", TimestampType(), False),
        ]
    ),
    keys=("erasure_id",),
)

# --- ref: reference data, loaded from files in the repository -------------------------------

REF_FX_RATES = TableDef(
    layer="ref",
    name="fx_rates",
    description=(
        "Exchange rates as reference data: on `rate_date`, one `base_currency` is `rate` "
        "`quote_currency`, as published by `source`. Loaded from reference/fx_rates.csv; a "
        "report that wants one figure across currencies converts through these, by day."
    ),
    schema=StructType(
        [
            StructField("rate_date", DateType(), False),
            StructField("base_currency", StringType(), False),
            StructField("quote_currency", StringType(), False),
            StructField("rate", FX_RATE, False),
            StructField("source", StringType(), False),
            StructField("loaded_at", TimestampType(), False),
        ]
    ),
    keys=("rate_date", "base_currency", "quote_currency"),
)

SILVER_TABLES: tuple[TableDef, ...] = (
    SILVER_ORDERS,
    SILVER_ORDER_LINES,
    SILVER_ORDER_UPDATES,
    SILVER_CUSTOMER_ACTIVITY,
    SILVER_CUSTOMERS,
    SILVER_INVENTORY_MOVEMENTS,
    SILVER_INVENTORY,
    SILVER_INVOICES,
    SILVER_PAYMENTS,
    SILVER_REFUNDS,
)
GOLD_TABLES: tuple[TableDef, ...] = (
    GOLD_ORDERS_PER_MINUTE,
    GOLD_SALES_BY_DAY,
    GOLD_SIGNUPS_PER_HOUR,
    GOLD_ACTIVE_CUSTOMERS,
    GOLD_INVENTORY_CURRENT,
    GOLD_LOW_STOCK,
)
#: The batch side's daily aggregates (orchestration), computed from silver per day.
DAILY_TABLES: tuple[TableDef, ...] = (
    GOLD_DAILY_SALES,
    GOLD_DAILY_CUSTOMERS,
    GOLD_COHORT_RETENTION,
    GOLD_DAILY_INVENTORY,
    GOLD_DAILY_BILLING,
)
OPS_TABLES: tuple[TableDef, ...] = (
    OPS_STREAM_BATCHES,
    OPS_LATE_EVENTS,
    OPS_RECONCILIATION,
    OPS_QUALITY_RESULTS,
    OPS_QUARANTINE_REPLAYS,
    OPS_ERASURES,
)
REF_TABLES: tuple[TableDef, ...] = (REF_FX_RATES,)

#: Every table Rapport manages, in dependency order.
TABLES: tuple[TableDef, ...] = (
    BRONZE_EVENTS,
    BRONZE_QUARANTINE,
    *SILVER_TABLES,
    *GOLD_TABLES,
    *DAILY_TABLES,
    *OPS_TABLES,
    *REF_TABLES,
)


def table(qualified_name: str) -> TableDef:
    """Look a table up by 'layer.name'; a clear error lists the known ones."""
    for candidate in TABLES:
        if candidate.qualified_name == qualified_name:
            return candidate
    known = ", ".join(t.qualified_name for t in TABLES)
    raise KeyError(f"no table {qualified_name!r} in the catalog; known tables: {known}")


#: Which tables each table is computed from (lineage for Dagster's graph and the docs).
#: Bronze comes from Kafka; every silver table and the quarantine from bronze.events.
UPSTREAM: dict[str, tuple[str, ...]] = {
    BRONZE_QUARANTINE.qualified_name: (BRONZE_EVENTS.qualified_name,),
    **{t.qualified_name: (BRONZE_EVENTS.qualified_name,) for t in SILVER_TABLES},
    GOLD_ORDERS_PER_MINUTE.qualified_name: (SILVER_ORDERS.qualified_name,),
    GOLD_SALES_BY_DAY.qualified_name: tuple(
        t.qualified_name
        for t in (
            SILVER_ORDERS,
            SILVER_ORDER_UPDATES,
            SILVER_REFUNDS,
            SILVER_PAYMENTS,
            SILVER_INVOICES,
        )
    ),
    GOLD_SIGNUPS_PER_HOUR.qualified_name: (SILVER_CUSTOMER_ACTIVITY.qualified_name,),
    GOLD_ACTIVE_CUSTOMERS.qualified_name: (
        SILVER_CUSTOMER_ACTIVITY.qualified_name,
        SILVER_ORDERS.qualified_name,
    ),
    GOLD_INVENTORY_CURRENT.qualified_name: (SILVER_INVENTORY.qualified_name,),
    GOLD_LOW_STOCK.qualified_name: (GOLD_INVENTORY_CURRENT.qualified_name,),
    GOLD_DAILY_SALES.qualified_name: (
        SILVER_ORDERS.qualified_name,
        SILVER_ORDER_LINES.qualified_name,
    ),
    GOLD_DAILY_CUSTOMERS.qualified_name: (
        SILVER_CUSTOMER_ACTIVITY.qualified_name,
        SILVER_ORDERS.qualified_name,
        SILVER_CUSTOMERS.qualified_name,
    ),
    GOLD_COHORT_RETENTION.qualified_name: (
        SILVER_CUSTOMER_ACTIVITY.qualified_name,
        SILVER_ORDERS.qualified_name,
        SILVER_CUSTOMERS.qualified_name,
    ),
    GOLD_DAILY_INVENTORY.qualified_name: (SILVER_INVENTORY_MOVEMENTS.qualified_name,),
    GOLD_DAILY_BILLING.qualified_name: (
        SILVER_INVOICES.qualified_name,
        SILVER_PAYMENTS.qualified_name,
        SILVER_REFUNDS.qualified_name,
    ),
    OPS_STREAM_BATCHES.qualified_name: (BRONZE_EVENTS.qualified_name,),
    OPS_LATE_EVENTS.qualified_name: (BRONZE_EVENTS.qualified_name,),
    OPS_QUALITY_RESULTS.qualified_name: (),
    OPS_QUARANTINE_REPLAYS.qualified_name: (BRONZE_QUARANTINE.qualified_name,),
    OPS_ERASURES.qualified_name: (),
    REF_FX_RATES.qualified_name: (),
    OPS_RECONCILIATION.qualified_name: (
        GOLD_SALES_BY_DAY.qualified_name,
        GOLD_ORDERS_PER_MINUTE.qualified_name,
        GOLD_SIGNUPS_PER_HOUR.qualified_name,
    ),
}
