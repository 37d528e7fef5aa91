"""The plain peer: one textbook streaming query from Kafka to a daily gold table, timed on a burst.

Kafka -> from_json -> withWatermark -> dropDuplicatesWithinWatermark on the event id -> a
daily count and sum of OrderPlaced totals per currency (update mode) -> foreachBatch MERGE
into one Delta table, 1 s trigger, RocksDB state and 2 shuffle partitions (rapport.lakehouse.spark's
session). It is what a competent engineer writes first; Rapport, which keeps many more
tables exact, is measured against it on the same records.

The burst is in Kafka before the query starts. The clock runs from the query's start until
the gold table, read with delta-rs (cheap, and outside the Spark that is measured), equals
the independent count of the records sent.
"""

from __future__ import annotations

import json
import statistics
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F

from bench.limit import envelope_schema
from bench.workload import DailyOrders
from rapport.contracts.catalog import default_catalog
from rapport.contracts.spark_schema import payload_schema
from rapport.runtime.processes import wait_until
from rapport.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.streaming.query import StreamingQuery

GOLD_COLUMNS = "day DATE, currency STRING, orders BIGINT, order_value DECIMAL(27,2)"


def valid_order(data: Column, subject: Column) -> Column:
    """Built-in checks that keep the malformed OrderPlaced copies out of the figures.

    The contract's currency enum; a total that parses as a decimal; and the key field
    equal to the envelope's subject, which also catches a key of the wrong JSON type
    (from_json turns the number 12345 into the string "12345").
    """
    contract = default_catalog().latest("OrderPlaced")
    currencies = contract.schema["properties"]["currency"]["enum"]
    return (
        data["currency"].isin(*currencies)
        & data["total"].isNotNull()
        & (data[contract.key_field] == subject)
    )


def daily_orders_stream(records: DataFrame, watermark_s: float) -> DataFrame:
    """Kafka records to the update-mode rows of (day, currency, orders, order_value)."""

    placed = default_catalog().latest("OrderPlaced")
    # Every record is parsed with OrderPlaced's payload: the peer needs no other fields, and
    # the other types' records still pass through parsing and deduplication, as in Rapport.
    event = F.from_json(F.col("value").cast("string"), envelope_schema(payload_schema(placed)))
    # inline() makes the envelope's fields columns. Being a generator, it also keeps Spark
    # 4.1 from pushing the filter below the parse, which would parse every record once more
    # per condition (SPARK-47672; measured here: about twice the time of a single parse).
    envelope = records.select(F.inline(F.array(event)))
    valid = F.col("id").isNotNull() & F.col("time").isNotNull() & F.col("type").isNotNull()
    is_order = F.col("type") == placed.subject
    events = (
        envelope.where(valid & (~is_order | valid_order(F.col("data"), F.col("subject"))))
        .select("id", "type", "time", "data.currency", "data.total")
        .withWatermark("time", f"{int(watermark_s)} seconds")
        .dropDuplicatesWithinWatermark(["id"])
    )
    return (
        events.where(is_order)
        .groupBy(F.to_date("time").alias("day"), "currency")
        .agg(F.count("*").alias("orders"), F.sum("total").alias("order_value"))
    )


def create_gold(spark: SparkSession, table: str) -> None:
    spark.sql(f"CREATE TABLE IF NOT EXISTS delta.`{table}` ({GOLD_COLUMNS}) USING DELTA")


def start_peer(
    spark: SparkSession,
    settings: Settings,
    *,
    table: str,
    checkpoint: str,
    starting_offsets: str,
    watermark_s: float = 600.0,
    max_offsets_per_trigger: int | None = None,
) -> StreamingQuery:
    """Start the peer over the event topics from `starting_offsets`, MERGEing into `table`."""
    from delta.tables import DeltaTable

    create_gold(spark, table)
    reader = (
        spark.readStream.format("kafka")
        .options(**settings.kafka.spark_source_options())
        .option("subscribe", ",".join(settings.kafka.event_topics))
        .option("startingOffsets", starting_offsets)
    )
    if max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", max_offsets_per_trigger)

    def merge(batch: DataFrame, _batch_id: int) -> None:
        # Update mode emits each changed key once with its absolute figures, so the MERGE is
        # idempotent on replay. Persisted because isEmpty and MERGE would each re-run the
        # stateful plan; empty batches come when only the watermark moved.
        batch.persist()
        try:
            if batch.isEmpty():
                return
            gold = DeltaTable.forPath(batch.sparkSession, table).alias("t")
            (
                gold.merge(batch.alias("s"), "t.day = s.day AND t.currency = s.currency")
                .whenMatchedUpdateAll()
                .whenNotMatchedInsertAll()
                .execute()
            )
        finally:
            batch.unpersist()

    return (
        daily_orders_stream(reader.load(), watermark_s)
        .writeStream.outputMode("update")
        .option("checkpointLocation", checkpoint)
        .trigger(processingTime="1 second")
        .foreachBatch(merge)
        .queryName("plain-peer")
        .start()
    )


def read_gold(table: Any) -> DailyOrders:
    """The gold table's rows (a deltalake DeltaTable, brought up to date) as the count's shape."""
    table.update_incremental()
    return {
        (row["day"].isoformat(), row["currency"]): (row["orders"], Decimal(row["order_value"]))
        for row in table.to_pyarrow_table().to_pylist()
    }


def _progress(query: StreamingQuery) -> list[dict[str, Any]]:
    return [json.loads(p.json) for p in query.recentProgress]


def bench_peer(
    spark: SparkSession,
    settings: Settings,
    *,
    expected: DailyOrders,
    records: int,
    starting_offsets: str,
    burst_end: float,
    folder: str,
    deadline_s: float = 600.0,
    max_offsets_per_trigger: int | None = None,
) -> dict[str, Any]:
    """Start the peer on a burst already in Kafka; time it until gold equals `expected`.

    `burst_end` is the time.monotonic() at which Kafka had acknowledged the whole burst.
    """
    from deltalake import DeltaTable

    table = f"{folder}/gold_daily_orders"
    create_gold(spark, table)  # before the clock: a deployment creates its tables once
    gold = DeltaTable(table)
    started = time.monotonic()
    query = start_peer(
        spark,
        settings,
        table=table,
        checkpoint=f"{folder}/checkpoint",
        starting_offsets=starting_offsets,
        max_offsets_per_trigger=max_offsets_per_trigger,
    )
    try:
        # Stop waiting as soon as gold is exact, or the query died (its error is reported).
        wait_until(
            lambda: read_gold(gold) == expected or not query.isActive, deadline_s, interval_s=0.1
        )
        done = time.monotonic()
        exact = read_gold(gold) == expected
        error = query.exception()
    finally:
        query.stop()
    progress = [p for p in _progress(query) if p.get("numInputRows")]
    batch_s = [p["durationMs"]["triggerExecution"] / 1000 for p in progress]
    slowest = max(progress, key=lambda p: p["durationMs"]["triggerExecution"], default=None)
    seconds = done - started
    return {
        "records": records,
        "exact": exact,
        "error": str(error) if error else None,
        "exact_after_query_start_s": round(seconds, 1),
        "exact_after_burst_end_s": round(done - burst_end, 1),
        "rows_per_s": round(records / seconds) if exact else None,
        "batches_with_data": len(progress),
        "batch_s_median": round(statistics.median(batch_s), 1) if batch_s else None,
        "batch_s_max": round(max(batch_s), 1) if batch_s else None,
        "rows_per_batch_max": max((p["numInputRows"] for p in progress), default=0),
        # Where the slowest batch spent its time (addBatch is the foreachBatch: state and MERGE).
        "slowest_batch_ms": slowest["durationMs"] if slowest else None,
        "gold_rows": len(expected),
        "max_offsets_per_trigger": max_offsets_per_trigger,
    }
