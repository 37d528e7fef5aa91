"""Fix and replay: list the quarantined records by reason, and replay them through the Refiner.

A record lands in bronze.quarantine when it fails validation. Once the cause is fixed (a new
compatible contract version registered, the contracts folder updated, or the record's
`value` corrected in bronze.quarantine with an SQL UPDATE), `replay` rebuilds bronze rows
from the quarantined ones (same Kafka coordinates, the quarantine's key and value bytes) and
hands them to the stream's own `Refiner.load`: the same validation, quarantine, silver and
gold code as the stream and the history load, no second implementation.

Choices:

- Nothing is appended to bronze.events. Bronze already holds the record as Kafka delivered
  it, is append-only (an audit trail) and keyed by the coordinates, which the replay keeps.
  An operator's corrected bytes exist only in bronze.quarantine (whose Delta history keeps
  the UPDATE); the replay reads them from there.
- A record that still fails keeps its one quarantine row: the Refiner appends to the
  quarantine only coordinates it does not hold yet. Its new reason is recorded in
  ops.quarantine_replays, and `list_quarantine` shows the latest reason.
- Every attempt (dry runs excepted) is one ops.quarantine_replays row per record. A record
  replayed successfully is never attempted again (anti-join on `replayed`), unless asked
  (`include_replayed`, to refill silver after rebuilding it from bronze: the original bytes
  there may be the bad ones).
- Idempotent: silver appends only event ids it lacks, the upserts apply only newer changes
  and gold is recomputed from silver, so a replay that ran its Refiner writes but died
  before recording its attempts is simply replayed again, and adds nothing twice.
- Replayed events get the replay's time as `ingest_time` (when this version of the record
  entered the lakehouse); the gold rows they touch are stamped with the stream's newest
  watermark, as the stream stamps a late event's day.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F

from rapport.lakehouse.spark import hadoop_path
from rapport.lakehouse.tables import BRONZE_QUARANTINE, OPS_QUARANTINE_REPLAYS, OPS_STREAM_BATCHES
from rapport.settings import Settings
from streaming.bronze import to_bronze

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

#: A record's identity across bronze, the quarantine and the replays: its Kafka coordinates.
COORDINATES = ("topic", "partition", "offset")

#: Delta transaction app id of the replay's writes (the version is the replay's start, in ms).
REPLAY_APP_ID = "rapport-quarantine-replay"

#: Columns of `summarise`, in order (the CLI prints them).
SUMMARY_COLUMNS = (
    "reason",
    "event_type",
    "records",
    "retried",
    "first_quarantined_at",
    "last_quarantined_at",
    "example_topic",
    "example_partition",
    "example_offset",
)


class QuarantineError(RuntimeError):
    """A state the operator can fix (no lakehouse yet, registry down); says what to do."""


@dataclass(frozen=True)
class Selection:
    """Which quarantined records: Kafka days (inclusive), a reason substring, replayed too?"""

    since: date | None = None
    until: date | None = None
    reason_contains: str | None = None
    include_replayed: bool = False

    def __post_init__(self) -> None:
        if self.since and self.until and self.until < self.since:
            raise ValueError(f"until {self.until} is before since {self.since}")


@dataclass
class ReasonOutcome:
    """What a replay did to the records of one original reason."""

    attempted: int = 0
    replayed: int = 0
    still_invalid: int = 0


@dataclass
class ReplayReport:
    """What one replay did (or, in a dry run, would do)."""

    replay_id: str
    dry_run: bool
    attempted: int = 0
    replayed: int = 0
    still_invalid: int = 0
    #: Per original (quarantine) reason.
    by_reason: dict[str, ReasonOutcome] = field(default_factory=dict)
    #: Why the records that still fail fail now, with their counts.
    new_reasons: dict[str, int] = field(default_factory=dict)
    #: Events new to the silver event tables (0 when they were there already, and in a dry run).
    new_events: int = 0
    rows_written: dict[str, int] = field(default_factory=dict)


# --- pure DataFrame functions ---------------------------------------------------------------


def select_pending(quarantine: DataFrame, replays: DataFrame, selection: Selection) -> DataFrame:
    """The selected quarantine rows, with `original_reason`, the latest `reason` and how many
    failed replays (`retried`) each had; those replayed successfully are left out unless
    `selection.include_replayed`."""

    rows = quarantine
    if selection.since is not None:
        rows = rows.where(F.col("kafka_date") >= F.lit(selection.since))
    if selection.until is not None:
        rows = rows.where(F.col("kafka_date") <= F.lit(selection.until))
    if not selection.include_replayed:
        done = replays.where(F.col("replayed")).select(*COORDINATES)
        rows = rows.join(done, list(COORDINATES), "left_anti")
    failures = (
        replays.where(~F.col("replayed"))
        .groupBy(*COORDINATES)
        .agg(
            F.max_by("reason", "replayed_at").alias("latest_reason"),
            F.count("*").alias("retried"),
        )
    )
    rows = (
        rows.join(failures, list(COORDINATES), "left")
        .withColumn("original_reason", F.col("reason"))
        .withColumn("reason", F.coalesce("latest_reason", "original_reason"))
        .withColumn("retried", F.coalesce("retried", F.lit(0)).cast("long"))
        .drop("latest_reason")
    )
    if selection.reason_contains:
        text = selection.reason_contains.lower()
        rows = rows.where(
            F.lower("reason").contains(text) | F.lower("original_reason").contains(text)
        )
    return rows


def summarise(pending: DataFrame) -> DataFrame:
    """One row per (reason, event type): how many records, when, one example to look at."""

    # The earliest record (then the lowest coordinates) is the example: the same every time.
    example = F.min(F.struct("quarantined_at", *COORDINATES))
    return (
        pending.groupBy("reason", "event_type")
        .agg(
            F.count("*").alias("records"),
            F.count_if(F.col("retried") > 0).alias("retried"),
            F.min("quarantined_at").alias("first_quarantined_at"),
            F.max("quarantined_at").alias("last_quarantined_at"),
            example.alias("example"),
        )
        .select(
            "reason",
            "event_type",
            "records",
            "retried",
            "first_quarantined_at",
            "last_quarantined_at",
            F.col("example.topic").alias("example_topic"),
            F.col("example.partition").alias("example_partition"),
            F.col("example.offset").alias("example_offset"),
        )
        .orderBy(F.col("records").desc(), "reason", "event_type")
    )


def as_bronze(pending: DataFrame) -> DataFrame:
    """bronze.events rows rebuilt from quarantined ones: same coordinates, key and value.

    Through `to_bronze`, the stream's own reading of the envelope: a corrected value gets its
    own event id, type and day. Quarantine keeps no headers, and nothing downstream reads them.
    """

    return to_bronze(
        pending.select(
            "key",
            "value",
            F.lit(None).cast("array<struct<key:string,value:binary>>").alias("headers"),
            *COORDINATES,
            F.col("kafka_timestamp").alias("timestamp"),
        )
    )


def attempt_rows(
    pending: DataFrame, verdicts: DataFrame, replay_id: str, at: datetime
) -> DataFrame:
    """ops.quarantine_replays rows: each pending record with the verdict its replay got."""

    outcome = verdicts.select(
        *COORDINATES,
        F.col("valid").alias("replayed"),
        F.when(~F.col("valid"), F.col("reason")).alias("new_reason"),
        F.col("event_id").alias("new_event_id"),
        F.col("event_type").alias("new_event_type"),
    )
    stamp = F.lit(at).cast("timestamp")
    return (
        pending.join(outcome, list(COORDINATES))
        .select(
            *COORDINATES,
            F.coalesce("new_event_id", "event_id").alias("event_id"),
            F.coalesce("new_event_type", "event_type").alias("event_type"),
            "original_reason",
            "replayed",
            F.col("new_reason").alias("reason"),
            F.lit(replay_id).alias("replay_id"),
            stamp.alias("replayed_at"),
            F.to_date(stamp).alias("replay_date"),
        )
        .select(*OPS_QUARANTINE_REPLAYS.schema.fieldNames())
    )


# --- I/O ------------------------------------------------------------------------------------


def _exists(spark: SparkSession, location: str) -> bool:
    fs, path = hadoop_path(spark, f"{location}/_delta_log")
    return bool(fs.exists(path))


def require_quarantine(settings: Settings, spark: SparkSession | None = None) -> None:
    """Fail with the next step when there is no lakehouse (no bronze.quarantine) yet.

    Without a session only a local lakehouse can be checked (instantly, before Spark starts);
    object stores are checked once there is one.
    """
    location = BRONZE_QUARANTINE.location(settings)
    if spark is not None:
        found = _exists(spark, location)
    elif "://" in location:
        return
    else:
        found = (Path(location) / "_delta_log").is_dir()
    if not found:
        raise QuarantineError(
            f"no lakehouse at {settings.lakehouse} yet (no {BRONZE_QUARANTINE.qualified_name} "
            "table): run `rapport up` or a backfill first"
        )


def require_registry(settings: Settings) -> None:
    """Fail with the next step when validation cannot reach the registry or finds no contracts.

    Checked before Spark starts: the Python workers would otherwise fail mid-job, deep in a
    Java stack trace.
    """
    from rapport.contracts.catalog import load_catalog
    from registry.client import RegistryClient, RegistryError

    subject = next(iter(load_catalog(settings.contracts_dir))).subject
    try:
        RegistryClient(settings.registry, timeout_s=5.0).versions(subject)
    except RegistryError as exc:
        if exc.error_code == 40401:  # reachable, but the contracts were never registered
            raise QuarantineError(
                f"the schema registry at {settings.registry.url} has no {subject}: register "
                "the contracts with `rapport contracts register` first"
            ) from exc
        raise QuarantineError(str(exc)) from exc


def _read(spark: SparkSession, settings: Settings, table: Any) -> DataFrame:
    """The table, or an empty frame of its schema when it was never created."""
    location = table.location(settings)
    if not _exists(spark, location):
        return spark.createDataFrame([], table.schema)
    return spark.read.format("delta").load(location)


def _pending(spark: SparkSession, settings: Settings, selection: Selection) -> DataFrame:
    require_quarantine(settings, spark)
    return select_pending(
        _read(spark, settings, BRONZE_QUARANTINE),
        _read(spark, settings, OPS_QUARANTINE_REPLAYS),
        selection,
    )


def list_quarantine(
    spark: SparkSession,
    settings: Settings,
    since: date | None = None,
    reason_contains: str | None = None,
    *,
    until: date | None = None,
) -> list[dict[str, Any]]:
    """The records still in quarantine (not replayed), by reason and event type."""
    pending = _pending(spark, settings, Selection(since, until, reason_contains))
    return [row.asDict() for row in summarise(pending).collect()]


def stream_watermark(spark: SparkSession, settings: Settings) -> datetime | None:
    """The stream's newest watermark, to stamp the gold rows a replay recomputes."""

    frame = _read(spark, settings, OPS_STREAM_BATCHES)
    row = frame.agg(F.unix_micros(F.max("watermark")).alias("w")).first()
    micros = row["w"] if row is not None else None
    return None if micros is None else datetime.fromtimestamp(micros / 1e6, UTC)


def replay(
    spark: SparkSession,
    settings: Settings,
    *,
    since: date | None = None,
    until: date | None = None,
    reason_contains: str | None = None,
    include_replayed: bool = False,
    dry_run: bool = False,
) -> ReplayReport:
    """Replay the selected quarantined records through the Refiner; record every attempt.

    A dry run validates them the same way and reports, but writes nothing.
    """
    from rapport.lakehouse.spark_catalog import ensure_table
    from streaming.refine import Refiner
    from streaming.validation import classify_bronze

    selection = Selection(since, until, reason_contains, include_replayed)
    require_registry(settings)
    started = datetime.now(UTC)
    report = ReplayReport(
        replay_id=f"{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}", dry_run=dry_run
    )
    # Materialised: the plan reads ops.quarantine_replays, which this replay appends to.
    pending = _pending(spark, settings, selection).localCheckpoint(eager=True)
    if pending.isEmpty():
        return report
    bronze = as_bronze(pending)
    captured: list[DataFrame] = []

    def keep(verdicts: DataFrame) -> None:
        # Cut from its plan: the Refiner unpersists its verdicts when the batch ends.
        kept = verdicts.select(*COORDINATES, "valid", "reason", "event_id", "event_type")
        captured.append(kept.localCheckpoint(eager=True))

    if dry_run:
        keep(classify_bronze(bronze, settings))
    else:
        ensure_table(spark, settings, OPS_QUARANTINE_REPLAYS, register_name=False)
        refiner = Refiner(settings, on_verdicts=keep)
        try:
            refined = refiner.load(
                bronze,
                app_id=REPLAY_APP_ID,
                version=time.time_ns() // 1_000_000,
                complete_up_to=stream_watermark(spark, settings),
            )
        finally:
            refiner.close()
        report.new_events = refined.new_events
        report.rows_written = dict(refined.rows_written)
    attempts = attempt_rows(pending, captured[0], report.replay_id, started).localCheckpoint(
        eager=True
    )
    if not dry_run:
        attempts.write.format("delta").mode("append").save(
            OPS_QUARANTINE_REPLAYS.location(settings)
        )
        report.rows_written[OPS_QUARANTINE_REPLAYS.qualified_name] = attempts.count()
    _count(report, attempts)
    return report


def _count(report: ReplayReport, attempts: DataFrame) -> None:
    """Fill the report's figures from the attempt rows."""
    grouped = attempts.groupBy("original_reason", "replayed", "reason").count().collect()
    for row in grouped:
        outcome = report.by_reason.setdefault(row["original_reason"], ReasonOutcome())
        outcome.attempted += row["count"]
        report.attempted += row["count"]
        if row["replayed"]:
            outcome.replayed += row["count"]
            report.replayed += row["count"]
        else:
            outcome.still_invalid += row["count"]
            report.still_invalid += row["count"]
            report.new_reasons[row["reason"]] = (
                report.new_reasons.get(row["reason"], 0) + row["count"]
            )
