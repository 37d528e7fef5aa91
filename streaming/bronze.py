"""Kafka records to bronze rows: keep every byte, read the CloudEvents envelope best-effort.

Pure: a DataFrame of Spark's Kafka source schema in, a DataFrame of `bronze.events`' schema
out. No I/O here, so it is tested on a static DataFrame.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from rapport.lakehouse.tables import BRONZE_EVENTS

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame


#: The CloudEvents attributes bronze reads; any JSON value of them is kept as its text.
ENVELOPE = "id string, type string, source string, time string"


def to_bronze(kafka_records: DataFrame) -> DataFrame:
    """Add the envelope columns and ingest time; never drop or alter a record.

    A value that is not JSON, or JSON without CloudEvents attributes, gets null envelope
    columns and is still kept: validation and quarantine happen downstream of bronze.
    """

    # One parse of each value for the four attributes (four get_json_object calls parsed it
    # four times: a fifth of the stream's JVM time in a profile). Not JSON: a null struct.
    envelope = F.from_json(F.col("value").cast("string"), ENVELOPE)
    event_time = F.try_to_timestamp(envelope["time"])
    return _bronze_rows(
        kafka_records,
        event_id=envelope["id"],
        event_type=envelope["type"],
        event_source=envelope["source"],
        event_time=event_time,
        event_date=F.to_date(F.coalesce(event_time, F.col("timestamp"))),
    )


def unread(kafka_records: DataFrame) -> DataFrame:
    """Kafka records in bronze's columns, the envelope and the ingest time not read (null).

    For the hot path, which keeps only valid events: their verdict supplies the envelope
    (`streaming.validation`), so the JVM does not parse every record's JSON a second time.
    The verdict worker stamps the ingest time too (`classify_bronze(stamp_ingest=True)`):
    the batch's timestamp (`current_timestamp()`) is a new constant in the generated code of
    every micro-batch, so Spark compiled the query's stages again for each batch and the JIT
    started over (half the hot JVM's CPU went to the C2 compiler in a profile).
    """

    unset = {
        "event_id": "string", "event_type": "string", "event_source": "string",
        "event_time": "timestamp", "event_date": "date", "ingest_time": "timestamp",
    }  # fmt: skip
    return _bronze_rows(kafka_records, **{k: F.lit(None).cast(t) for k, t in unset.items()})


def _bronze_rows(kafka_records: DataFrame, **envelope: Column) -> DataFrame:
    """Kafka's columns with the given envelope columns and ingest time, in bronze's order."""
    envelope.setdefault("ingest_time", F.current_timestamp())
    return kafka_records.select(
        *(column.alias(name) for name, column in envelope.items()),
        "key", "value", "headers", "topic", "partition", "offset",
        F.col("timestamp").alias("kafka_timestamp"),
    ).select(*BRONZE_EVENTS.schema.fieldNames())  # fmt: skip


#: Topic name prefix of records loaded from landing-zone files rather than Kafka.
LANDING_TOPIC_PREFIX = "landing:"


def landing_to_bronze(lines: DataFrame, day: date) -> DataFrame:
    """Lines of landing-zone files (`file`, `line`, `value` bytes) as bronze rows.

    Files have no Kafka coordinates, so the topic is 'landing:<file>' and the offset the
    line number: they identify a record as uniquely, and a reload deduplicates on them. The
    Kafka timestamp is the start of the landing day, which is where a record without a
    readable time lands.
    """

    records = lines.select(
        F.lit(None).cast("binary").alias("key"),
        F.col("value"),
        F.lit(None).cast("array<struct<key:string,value:binary>>").alias("headers"),
        F.concat(F.lit(LANDING_TOPIC_PREFIX), F.col("file")).alias("topic"),
        F.lit(0).alias("partition"),
        F.col("line").cast("long").alias("offset"),
        F.lit(day.isoformat()).cast("timestamp").alias("timestamp"),
    )
    return to_bronze(records)
