"""The bronze and silver queries: Kafka to bronze.events, and bronze.events to silver.

Exactly once: Spark's checkpoint records the source positions of each micro-batch. Bronze is
written by Delta's streaming sink, which commits each batch with the query id and batch id
as a transaction, so a batch replayed after a crash is not written twice. The refine query
does the same through `streaming.refine` (txnAppId/txnVersion, plus deduplication).

Separate queries: bronze keeps landing, the audit trail complete, even while a problem
downstream (a registry outage, a bad deploy) stops the refine query; and gold, read straight
from Kafka by the hot query (`streaming.hot`), never waits for silver's slower batches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rapport.lakehouse.ownership import BRONZE_QUERY, GOLD_QUERY, REFINE_QUERY
from rapport.lakehouse.spark import use_pool
from rapport.lakehouse.tables import BRONZE_EVENTS
from rapport.settings import Settings
from streaming.bronze import to_bronze
from streaming.refine import Refiner, refine_checkpoint

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming.query import StreamingQuery


#: The queries the stream runs; any other checkpoint folder is an orphan (see maintenance).
ACTIVE_QUERIES = (BRONZE_QUERY, GOLD_QUERY, REFINE_QUERY)


def kafka_source(
    spark: SparkSession, settings: Settings, *, starting_offsets: str | None = None
) -> DataFrame:
    """A streaming DataFrame over every event topic, in bounded micro-batches.

    `starting_offsets` (Spark's JSON of next offsets per partition) replaces the configured
    'earliest'/'latest' for a new checkpoint; a checkpoint's own positions always win.
    """
    stream = settings.stream
    return (
        spark.readStream.format("kafka")
        .options(**settings.kafka.spark_source_options())
        .option("subscribe", ",".join(settings.kafka.event_topics))
        .option("startingOffsets", starting_offsets or stream.starting_offsets)
        .option("maxOffsetsPerTrigger", str(stream.max_offsets_per_trigger))
        .option("failOnDataLoss", str(stream.fail_on_data_loss).lower())
        .option("includeHeaders", "true")
        .load()
    )


def start_bronze_query(spark: SparkSession, settings: Settings) -> StreamingQuery:
    """Start appending every Kafka record to bronze.events; returns the running query."""
    use_pool(spark, BRONZE_QUERY)  # inherited by the query's thread
    return (
        to_bronze(kafka_source(spark, settings))
        .writeStream.queryName(BRONZE_QUERY)
        .format("delta")
        .outputMode("append")
        .option("checkpointLocation", BRONZE_EVENTS.checkpoint(settings, BRONZE_QUERY))
        .trigger(processingTime=settings.stream.trigger_interval)
        .start(BRONZE_EVENTS.location(settings))
    )


def start_refine_query(spark: SparkSession, refiner: Refiner) -> StreamingQuery:
    """Follow bronze.events: validation, quarantine, silver and metrics per batch.

    `refiner.prepare` runs first: it refuses a checkpoint older than the tables, and resumes
    the watermark and Kafka positions from ops.stream_batches.
    """
    settings = refiner.settings
    use_pool(spark, REFINE_QUERY)  # inherited by the query's thread
    refiner.prepare(spark)
    bronze = (
        spark.readStream.format("delta")
        .option("maxBytesPerTrigger", str(settings.stream.max_bytes_per_refine_batch))
        # Bronze is append-only but for an erasure's rewrite (jobs.gdpr), whose rows were
        # refined already: its commit is passed over, not read as new rows or refused.
        .option("skipChangeCommits", "true")
        .load(BRONZE_EVENTS.location(settings))
    )
    query = (
        bronze.writeStream.queryName(REFINE_QUERY)
        .foreachBatch(refiner.process)
        .option("checkpointLocation", refine_checkpoint(settings))
        .trigger(processingTime=settings.stream.silver_trigger_interval)
        .start()
    )
    refiner.bind(str(query.id))
    return query
