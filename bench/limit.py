"""The limit: Spark's own batch read of the event topics, and read + from_json + Delta append.

No streaming, no state, no validation beyond what from_json does: the rows per second of
these two batch jobs bound what any Spark pipeline over the same records can sustain on
this machine, so Rapport's figures are read as a share of them.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rapport.contracts.catalog import default_catalog
from rapport.contracts.envelope import REQUIRED_ATTRIBUTES
from rapport.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType


def envelope_schema(payload: StructType) -> StructType:
    """The CloudEvents envelope as Spark reads it: the attributes, `time` as a timestamp,
    the registry id, and `data` typed as `payload`."""
    from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

    attributes = [
        StructField(name, TimestampType() if name == "time" else StringType())
        for name in REQUIRED_ATTRIBUTES
    ]
    return StructType(
        [*attributes, StructField("schemaid", LongType()), StructField("data", payload)]
    )


def all_payloads() -> StructType:
    """Every event type's payload fields in one struct (absent ones read as null)."""
    from pyspark.sql.types import StructType

    from rapport.lakehouse.tables import payload_fields

    return StructType(payload_fields(*default_catalog().event_types()))


def kafka_topics(spark: SparkSession, settings: Settings) -> DataFrame:
    """Every record of the event topics, as one batch DataFrame of Spark's Kafka schema."""
    return (
        spark.read.format("kafka")
        .options(**settings.kafka.spark_source_options())
        .option("subscribe", ",".join(settings.kafka.event_topics))
        .option("startingOffsets", "earliest")
        .option("endingOffsets", "latest")
        .load()
    )


def parsed(records: DataFrame) -> DataFrame:
    """Kafka records with their envelope and payload parsed (one from_json per record)."""
    from pyspark.sql import functions as F

    event = F.from_json(F.col("value").cast("string"), envelope_schema(all_payloads()))
    return records.select("topic", "partition", "offset", "timestamp", event.alias("e")).select(
        "topic", "partition", "offset", "timestamp", "e.*"
    )


@dataclass(frozen=True)
class Run:
    rows: int
    seconds: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds


def read_once(spark: SparkSession, settings: Settings) -> Run:
    """Read every record, touching each value (a bare count could skip the bytes)."""
    from pyspark.sql import functions as F

    began = time.perf_counter()
    row = kafka_topics(spark, settings).agg(F.count("*"), F.sum(F.length("value"))).first()
    assert row is not None
    return Run(int(row[0]), time.perf_counter() - began)


def parse_append_once(spark: SparkSession, settings: Settings, path: str) -> Run:
    """Read, parse and append every record to one new Delta table."""
    began = time.perf_counter()
    parsed(kafka_topics(spark, settings)).write.format("delta").mode("append").save(path)
    seconds = time.perf_counter() - began
    # The rows the append committed, from its own log entry (not timed).
    from delta.tables import DeltaTable

    metrics = DeltaTable.forPath(spark, path).history(1).first()
    assert metrics is not None
    return Run(int(metrics["operationMetrics"]["numOutputRows"]), seconds)


def _figures(runs: list[Run]) -> dict[str, Any]:
    best = max(runs, key=lambda r: r.rows_per_s)
    return {
        "rows": best.rows,
        "seconds": round(best.seconds, 2),
        "rows_per_s": round(best.rows_per_s),
        "all_runs_rows_per_s": [round(r.rows_per_s) for r in runs],
    }


def bench_limit(spark: SparkSession, settings: Settings, repeats: int = 2) -> dict[str, Any]:
    """Both jobs `repeats` times over everything in the event topics; the best run of each.

    The best, not the median, because the limit is what the engine can do: the first run
    also pays for loading classes and opening connections.
    """
    reads = [read_once(spark, settings) for _ in range(repeats)]
    folder = tempfile.mkdtemp(prefix="rapport-bench-limit-")
    try:
        appends = [
            parse_append_once(spark, settings, f"{folder}/events-{i}") for i in range(repeats)
        ]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    conf = spark.conf
    return {
        "read": _figures(reads),
        "parse_append": _figures(appends),
        "spark": {
            "master": conf.get("spark.master"),
            "shuffle_partitions": conf.get("spark.sql.shuffle.partitions"),
            "delta_snapshot_partitions": conf.get("spark.databricks.delta.snapshotPartitions"),
        },
    }
