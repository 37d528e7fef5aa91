"""The table catalog: every Delta table Rapport writes, its columns, partitioning and place.

This is the single source of truth for table definitions. The Spark writers, the catalog
registration (`lakehouse.catalog`), the docs and the tests all read these objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    DateType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

if TYPE_CHECKING:
    from lakehouse.settings import Settings

#: Schemas (namespaces) of the catalog, in the order data flows through them.
LAYERS = ("bronze", "silver", "gold", "ops")

#: Properties every table gets. Deletion vectors and column mapping stay off so that readers
#: other than Spark (delta-rs, for the embedded SQL and the dashboard) can read every table.
COMMON_PROPERTIES = {
    "delta.enableDeletionVectors": "false",
    "delta.columnMapping.mode": "none",
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

    def __post_init__(self) -> None:
        if self.layer not in LAYERS:
            raise ValueError(f"unknown layer {self.layer!r}; expected one of {LAYERS}")
        missing = set(self.partition_by) - set(self.schema.fieldNames())
        if missing:
            raise ValueError(f"{self.qualified_name}: partition columns {missing} not in schema")

    @property
    def qualified_name(self) -> str:
        return f"{self.layer}.{self.name}"

    @property
    def all_properties(self) -> dict[str, str]:
        return {**COMMON_PROPERTIES, **self.properties}

    def location(self, settings: Settings) -> str:
        return f"{settings.lakehouse}/{self.layer}/{self.name}"

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
)

#: Every table Rapport manages, in dependency order.
TABLES: tuple[TableDef, ...] = (BRONZE_EVENTS, BRONZE_QUARANTINE)


def table(qualified_name: str) -> TableDef:
    """Look a table up by 'layer.name'; a clear error lists the known ones."""
    for candidate in TABLES:
        if candidate.qualified_name == qualified_name:
            return candidate
    known = ", ".join(t.qualified_name for t in TABLES)
    raise KeyError(f"no table {qualified_name!r} in the catalog; known tables: {known}")
