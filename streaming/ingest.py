"""The streaming queries: read the event topics from Kafka, append to bronze.events in Delta.

Exactly once: Spark's checkpoint records the Kafka offsets of each micro-batch, and Delta's
streaming sink commits each batch with the query id and batch id as a transaction, so a
batch replayed after a crash is recognised and not written twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lakehouse.settings import Settings
from lakehouse.tables import BRONZE_EVENTS, BRONZE_QUARANTINE
from streaming.bronze import to_bronze
from streaming.validation import classify_bronze, quarantine_rows

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming.query import StreamingQuery

BRONZE_QUERY = "bronze_events"
VALIDATION_QUERY = "validate_events"


def kafka_source(spark: SparkSession, settings: Settings) -> DataFrame:
    """A streaming DataFrame over every event topic, in bounded micro-batches."""
    stream = settings.stream
    return (
        spark.readStream.format("kafka")
        .options(**settings.kafka.spark_source_options())
        .option("subscribe", ",".join(settings.kafka.event_topics))
        .option("startingOffsets", stream.starting_offsets)
        .option("maxOffsetsPerTrigger", str(stream.max_offsets_per_trigger))
        .option("failOnDataLoss", str(stream.fail_on_data_loss).lower())
        .option("includeHeaders", "true")
        .load()
    )


def start_bronze_query(spark: SparkSession, settings: Settings) -> StreamingQuery:
    """Start appending every Kafka record to bronze.events; returns the running query."""
    return (
        to_bronze(kafka_source(spark, settings))
        .writeStream.queryName(BRONZE_QUERY)
        .format("delta")
        .outputMode("append")
        .option("checkpointLocation", BRONZE_EVENTS.checkpoint(settings, BRONZE_QUERY))
        .trigger(processingTime=settings.stream.trigger_interval)
        .start(BRONZE_EVENTS.location(settings))
    )


def process_validation_batch(batch: DataFrame, settings: Settings) -> None:
    """Judge one micro-batch of bronze rows; put the rejected ones in bronze.quarantine.

    The write is a MERGE on the Kafka coordinates, so a batch replayed after a crash (or a
    whole checkpoint rebuilt) never quarantines a record twice.
    """
    from delta.tables import DeltaTable

    batch = batch.persist()
    try:
        verdicts = classify_bronze(batch, settings).persist()
        rejected = quarantine_rows(batch, verdicts)
        (
            DeltaTable.forPath(batch.sparkSession, BRONZE_QUARANTINE.location(settings))
            .alias("q")
            .merge(
                rejected.alias("r"),
                "q.topic = r.topic AND q.partition = r.partition AND q.offset = r.offset",
            )
            .whenNotMatchedInsertAll()
            .execute()
        )
        verdicts.unpersist()
    finally:
        batch.unpersist()


def start_validation_query(spark: SparkSession, settings: Settings) -> StreamingQuery:
    """Follow bronze.events and judge every new row (valid events go on to silver in #4)."""
    bronze = spark.readStream.format("delta").load(BRONZE_EVENTS.location(settings))
    return (
        bronze.writeStream.queryName(VALIDATION_QUERY)
        .foreachBatch(lambda batch, _batch_id: process_validation_batch(batch, settings))
        .option("checkpointLocation", BRONZE_QUARANTINE.checkpoint(settings, VALIDATION_QUERY))
        .trigger(processingTime=settings.stream.trigger_interval)
        .start()
    )
