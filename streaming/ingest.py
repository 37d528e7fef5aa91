"""The streaming queries: read the event topics from Kafka, append to bronze.events in Delta.

Exactly once: Spark's checkpoint records the Kafka offsets of each micro-batch, and Delta's
streaming sink commits each batch with the query id and batch id as a transaction, so a
batch replayed after a crash is recognised and not written twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lakehouse.settings import Settings
from lakehouse.tables import BRONZE_EVENTS
from streaming.bronze import to_bronze

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming.query import StreamingQuery

BRONZE_QUERY = "bronze_events"


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
