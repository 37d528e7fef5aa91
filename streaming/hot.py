"""The hot path: Kafka straight to gold in one query, a few milliseconds of commits per batch.

Per micro-batch: every Kafka record gets its verdict (`streaming.validation`, the same code
as silver's), valid events (of every type, so that each partition's arrivals move gold's
complete_up_to) are deduplicated by event id in Spark's state store, and what the new
events add to each gold table is merged through delta-rs (`streaming.gold_writer`). The
batch never reads silver or gold, so its cost hardly grows with the tables.

Exactly once:
- Spark logs each batch's Kafka offsets and its watermark before the batch runs; a batch
  replayed after a crash reads the same records, reloads the same dedup state and computes
  the same increments;
- each gold write carries Delta's txn (app id of the query, batch id) and is skipped when the
  table already has it, so a replay never adds twice;
- duplicates are caught within `stream.dedup_horizon_s` of processing time. A copy that comes
  later is counted again; `rapport stream rebuild-gold` recomputes gold from bronze exactly
  (docs/operations.md).

A new checkpoint (first start, or a lost one) rebuilds gold from bronze first and starts the
query at the Kafka offsets right after what bronze held: the same answer as if the query had
run all along (`rebuild_from_bronze`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F

from rapport.lakehouse.delta_rs import Txn
from rapport.lakehouse.ownership import GOLD_QUERY
from rapport.lakehouse.spark import codegen_compiles, read_checkpoint_file, use_pool
from rapport.lakehouse.tables import (
    BRONZE_EVENTS,
    GOLD_SALES_BY_DAY,
    SILVER_CUSTOMER_ACTIVITY,
    SILVER_INVENTORY_MOVEMENTS,
    SILVER_INVOICES,
    SILVER_ORDER_UPDATES,
    SILVER_ORDERS,
    SILVER_PAYMENTS,
    SILVER_REFUNDS,
    TableDef,
)
from rapport.runtime.kafka_offsets import EndOffsetWatcher, end_offsets
from rapport.settings import Settings
from streaming import metrics, silver
from streaming.bronze import LANDING_TOPIC_PREFIX, unread
from streaming.gold_writer import GoldWriter
from streaming.increments import (
    EVENT_FIELDS,
    GOLD_PAYLOAD,
    SilverRows,
    gold_increments,
    local_increments,
)
from streaming.validation import HOT_CARRY, classify_bronze

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming.query import StreamingQuery

log = logging.getLogger("rapport.stream.hot")


#: The silver tables whose rows gold adds up, by the SilverRows field they fill.
GOLD_SOURCES: dict[str, TableDef] = {
    "orders": SILVER_ORDERS,
    "order_updates": SILVER_ORDER_UPDATES,
    "refunds": SILVER_REFUNDS,
    "payments": SILVER_PAYMENTS,
    "invoices": SILVER_INVOICES,
    "customer_activity": SILVER_CUSTOMER_ACTIVITY,
    "inventory_movements": SILVER_INVENTORY_MOVEMENTS,
}


def gold_checkpoint(settings: Settings) -> str:
    """Checkpoint of the gold query (offsets, commits and the dedup state)."""
    return GOLD_SALES_BY_DAY.checkpoint(settings, GOLD_QUERY)


#: The Kafka coordinates the hot query keeps beside an event's columns (for its lag figures).
HOT_EXTRA = ("topic", "partition", "kafka_timestamp")


def hot_events(kafka_records: DataFrame, settings: Settings) -> DataFrame:
    """The valid events among Kafka records, in the columns the hot query hands on.

    Every valid event goes on, whatever its type: the batch function reads each Kafka
    partition's newest arrival from them (gold's complete_up_to), and a partition whose
    events no gold table adds up (logins, profile changes) must move it too. Filtered out
    here, they held complete_up_to back by up to ten minutes (decision 0018's addendum).
    Only the payload fields gold reads ride along (`GOLD_PAYLOAD`; none for other types).
    """
    # One Python task per Kafka partition (12 here) costs more in start-up than a small
    # batch costs to classify: the verdicts run in as many tasks as the machine has cores.
    records = kafka_records.coalesce(settings.stream.classify_tasks)
    verdicts = classify_bronze(
        unread(records), settings, HOT_CARRY, stamp_ingest=True, payload=GOLD_PAYLOAD
    )
    return silver.event_columns(verdicts.where(F.col("valid")), *HOT_EXTRA)


def deduplicated_events(kafka_records: DataFrame, settings: Settings) -> DataFrame:
    """`hot_events`, each event id once within the dedup horizon (a streaming plan only).

    The horizon runs on processing time (when the verdict worker read the record), not on
    event time: an event hours late in event time is still counted. A replayed batch sees
    the watermark logged with its offsets and the same state version, so it drops the same
    copies; its own records get later times, which no earlier watermark makes late.
    """

    horizon = f"{int(settings.stream.dedup_horizon_s)} seconds"
    events = hot_events(kafka_records, settings)
    return events.withWatermark("ingest_time", horizon).dropDuplicatesWithinWatermark(["event_id"])


def silver_rows(events: DataFrame, present: set[str]) -> SilverRows:
    """The events in the shape of the silver tables gold reads (types absent: None)."""
    return SilverRows(
        **{
            name: silver.event_rows(events, t) if present & set(t.sources) else None
            for name, t in GOLD_SOURCES.items()
        }
    )


def batch_end_offsets(
    spark: SparkSession, checkpoint: str, batch_id: int
) -> dict[tuple[str, int], int]:
    """The Kafka offsets batch `batch_id` reads up to, from the checkpoint's offset log.

    Spark writes the log before the batch runs: line 1 the version, line 2 the batch's
    metadata, then one line per source, here Kafka's {"topic": {"partition": next offset}}.
    """
    text = read_checkpoint_file(spark, f"{checkpoint}/offsets/{batch_id}")
    if text is None:
        return {}
    lines = text.splitlines()
    ends: dict[tuple[str, int], int] = {}
    for line in lines[2:]:
        for topic, partitions in json.loads(line).items():
            for partition, offset in partitions.items():
                ends[(topic, int(partition))] = int(offset)
    return ends


class GoldStream:
    """The gold query's batch function and the little it keeps between batches."""

    def __init__(
        self,
        settings: Settings,
        *,
        on_batch: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.settings = settings
        self.writer = GoldWriter(settings)
        self.on_batch = on_batch
        self.app_id: str | None = None
        self.max_event_time: datetime | None = None
        #: Per (topic, partition): the newest Kafka timestamp read, next offset, end offset.
        self.arrived: dict[tuple[str, int], datetime] = {}
        self.processed: dict[tuple[str, int], int] = {}
        self.ends: dict[tuple[str, int], int] = {}
        #: gold's complete_up_to: every record Kafka received before it is counted.
        self.stamp: datetime | None = None
        self.offsets = EndOffsetWatcher(settings)

    def bind(self, query_id: str) -> None:
        self.app_id = metrics.app_id(GOLD_QUERY, query_id)

    def close(self) -> None:
        self.offsets.close()

    def process(self, batch: DataFrame, batch_id: int) -> None:
        """The foreachBatch function: increments of this batch's new events into gold.

        One Spark job runs the micro-batch (read, classify, deduplicate) and hands its new
        events to the driver as Arrow; the increments are added up there
        (`streaming.increments.local_increments`) and merged with delta-rs.
        """
        started = time.monotonic()
        deadline = started + 60
        while self.app_id is None and time.monotonic() < deadline:
            time.sleep(0.05)  # start() returns the query id right after the first trigger
        if self.app_id is None:
            raise RuntimeError("gold batch started before the query id was bound")
        spark = batch.sparkSession
        use_pool(spark, GOLD_QUERY)
        compiled = codegen_compiles(spark)
        events = batch.select("topic", "partition", "kafka_timestamp", *EVENT_FIELDS).toArrow()
        if events.num_rows:
            per_partition = events.group_by(["topic", "partition"]).aggregate(
                [("kafka_timestamp", "max"), ("event_time", "max")]
            )
            for r in per_partition.to_pylist():
                self.observe(r["topic"], r["partition"], _utc(r["event_time_max"]),
                             _utc(r["kafka_timestamp_max"]))  # fmt: skip
        read = time.monotonic()
        stamp = self.complete_up_to(spark, batch_id)
        stamped = time.monotonic()
        written: dict[str, int] = {}
        if events.num_rows:
            increments = local_increments(events.select(list(EVENT_FIELDS)), stamp)
            written = self.writer.apply(increments, Txn(self.app_id, batch_id))
        # Where the batch function's time went: the Spark job (read, verdicts, dedup), the
        # completeness stamp (offset log and Kafka's ends), the gold merges.
        parts = {"read": read - started, "stamp": stamped - read,
                 "gold": time.monotonic() - stamped}  # fmt: skip
        compiled = codegen_compiles(spark) - compiled
        self._write_metrics(batch_id, started, events.num_rows, written, stamp, parts, compiled)

    def observe(
        self, topic: str, partition: int, newest: datetime | None, arrived: datetime | None
    ) -> None:
        """Remember the newest event time, and per partition the newest Kafka timestamp read."""
        if newest is not None and (self.max_event_time is None or newest > self.max_event_time):
            self.max_event_time = newest
        known = self.arrived.get((topic, partition))
        if arrived is not None and (known is None or arrived > known):
            self.arrived[(topic, partition)] = arrived

    def complete_up_to(self, spark: SparkSession, batch_id: int) -> datetime | None:
        """Until when every record Kafka received is in gold: arrival-time completeness.

        A partition read to its end (checked now) is complete up to now; one with records
        left is complete up to the newest Kafka timestamp read from it. Never moves back.
        """
        self.processed = batch_end_offsets(spark, gold_checkpoint(self.settings), batch_id)
        checked = datetime.now(UTC)
        try:
            self.ends = self.offsets.end_offsets()
        except Exception as exc:  # lag is a metric; Kafka may be restarting
            log.warning("could not read Kafka end offsets: %s", exc)
            self.ends = {}
            return self.stamp
        bounds = [
            checked if end <= self.processed.get(key, 0) else self.arrived.get(key)
            for key, end in self.ends.items()
        ]
        if bounds and all(b is not None for b in bounds):
            bound = min(b for b in bounds if b is not None)
            if self.stamp is None or bound > self.stamp:
                self.stamp = bound
        return self.stamp

    def _write_metrics(
        self,
        batch_id: int,
        started: float,
        events: int,
        written: dict[str, int],
        stamp: datetime | None,
        parts: dict[str, float],
        compiled: int,
    ) -> None:
        assert self.app_id is not None
        row = metrics.batch_row(
            app=self.app_id,
            batch_id=batch_id,
            finished=datetime.now(UTC),
            duration_s=time.monotonic() - started,
            counts={"input_rows": events, "valid_rows": events},
            rows_written=written,
            max_event_time=self.max_event_time,
            watermark=stamp,
            lag=metrics.kafka_lag(self.ends, self.processed),
        )
        metrics.write_batch_row(self.settings, row)
        if events:
            log.info("gold batch %s: %s new events in %s ms (%s); Kafka lag %s; %s classes "
                     "compiled", batch_id, events, row["duration_ms"], ", ".join(
                     f"{k} {v * 1000:.0f}" for k, v in parts.items()), row["total_lag"],
                     compiled)  # fmt: skip
        if self.on_batch is not None:
            self.on_batch(metrics.summary(row))


def _utc(value: datetime | None) -> datetime | None:
    """Spark hands timestamps back naive, in the session's zone (UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def rebuild_from_bronze(
    spark: SparkSession, settings: Settings, app: str
) -> dict[tuple[str, int], int]:
    """Recompute every gold table from bronze, exactly; returns Kafka's next offsets after it.

    Bronze is read at one snapshot: its Kafka records up to some offset per partition, and
    every record a batch load put there. Their verdicts, each valid event id once, give gold
    in full; the hot query then starts right after those offsets.
    """

    bronze = spark.read.format("delta").load(BRONZE_EVENTS.location(settings)).persist()
    try:
        kafka = bronze.where(~F.col("topic").startswith(LANDING_TOPIC_PREFIX))
        positions = {
            (r["topic"], r["partition"]): r["o"] + 1
            for r in kafka.groupBy("topic", "partition").agg(F.max("offset").alias("o")).collect()
        }
        verdicts = classify_bronze(bronze, settings)
        events = silver.valid_events(verdicts).persist()
        present = {r[0] for r in events.select("event_type").distinct().collect()}
        newest = events.agg(F.unix_micros(F.max("event_time"))).first()
        newest_time = datetime.fromtimestamp(newest[0] / 1e6, UTC) if newest and newest[0] else None
        delay = timedelta(seconds=settings.stream.watermark_delay_s)
        stamp = newest_time - delay if newest_time else None
        full = gold_increments(silver_rows(events, present), stamp)
        written = GoldWriter(settings).replace_all(full, Txn(app, 0))
        events.unpersist()
    finally:
        bronze.unpersist()
    log.info("gold rebuilt from bronze: %s; the gold query starts after %s", written, positions)
    return positions


def starting_offsets(
    positions: dict[tuple[str, int], int], partitions: list[tuple[str, int]]
) -> str | None:
    """Kafka source `startingOffsets` JSON: next offsets where bronze knew them, else earliest.

    Spark wants every partition named once offsets are given; -2 means the earliest. None
    when bronze knew no position (the configured start applies).
    """
    if not positions:
        return None
    found: dict[str, dict[str, int]] = {}
    for topic, partition in sorted({*partitions, *positions}):
        found.setdefault(topic, {})[str(partition)] = positions.get((topic, partition), -2)
    return json.dumps(found)


def start_gold_query(spark: SparkSession, gold_stream: GoldStream) -> StreamingQuery:
    """Start the hot query; on a new checkpoint, rebuild gold from bronze first."""
    from streaming.ingest import kafka_source
    from streaming.refine import planned_batches

    settings = gold_stream.settings
    use_pool(spark, GOLD_QUERY)  # the rebuild and, inherited by its thread, the query
    checkpoint = gold_checkpoint(settings)
    starting: str | None = None
    # No batch planned yet (a new checkpoint, or one killed before its first offsets were
    # logged): the starting offsets still decide where the query reads from.
    if planned_batches(spark, checkpoint) == 0:
        rebuild_id = metrics.app_id(f"{GOLD_QUERY}_rebuild", f"{time.time_ns()}")
        positions = rebuild_from_bronze(spark, settings, rebuild_id)
        topics = settings.kafka.event_topics
        positions = {k: v for k, v in positions.items() if k[0] in topics}
        partitions = [(tp.topic, tp.partition) for tp in end_offsets(settings)]
        starting = starting_offsets(positions, partitions)
    source = kafka_source(spark, settings, starting_offsets=starting)
    query = (
        deduplicated_events(source, settings)
        .writeStream.queryName(GOLD_QUERY)
        .foreachBatch(gold_stream.process)
        .option("checkpointLocation", checkpoint)
        .trigger(processingTime=settings.stream.gold_trigger_interval)
        .start()
    )
    gold_stream.bind(str(query.id))
    return query
