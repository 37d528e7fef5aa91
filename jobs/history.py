"""The historical load: days of landing-zone files into bronze, silver and gold, exactly once.

The landing zone holds exports in the contract format, one CloudEvent JSON per line, in
`<landing>/date=YYYY-MM-DD/*.jsonl` (what `rapport simulate --history-days` writes). A day is
read into bronze rows (`streaming.bronze.landing_to_bronze`), appended to bronze.events where
its coordinates are new, and then refined by the stream's own `Refiner` (validation,
quarantine, silver dedup and upserts, gold): one implementation for stream and batch.
Loading a day twice changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from typing import TYPE_CHECKING

from rapport.lakehouse.spark import hadoop_path
from rapport.lakehouse.tables import BRONZE_EVENTS
from rapport.settings import Settings
from streaming.bronze import landing_to_bronze
from streaming.refine import BatchReport, Refiner

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


@dataclass
class LoadReport:
    """What a load did, for Dagster's materialization metadata and the CLI."""

    days: list[str]
    days_without_files: list[str] = field(default_factory=list)
    new_bronze_rows: int = 0
    #: The refinement's own report (records, valid, quarantined, new events, rows per table);
    #: None when no day had files.
    refined: BatchReport | None = None


def day_folder(settings: Settings, day: date) -> str:
    return f"{settings.landing}/date={day.isoformat()}"


def _numbered_lines(item: tuple[str, bytes]) -> Iterator[tuple[str, int, bytes]]:
    """(file, line number, bytes) of every non-empty line; the file as 'date=.../name'."""
    path, content = item
    name = "/".join(path.rstrip("/").split("/")[-2:])
    for number, line in enumerate(content.split(b"\n")):
        if line.strip():
            yield name, number, line


def read_landing_day(spark: SparkSession, settings: Settings, day: date) -> DataFrame | None:
    """The day's landing files as bronze rows, or None when the day has no folder."""
    folder = day_folder(settings, day)
    fs, path = hadoop_path(spark, folder)
    if not fs.exists(path):
        return None
    # Whole files, so every line keeps its number (a stable key for deduplication).
    files = spark.sparkContext.binaryFiles(f"{folder}/*.jsonl")
    lines = spark.createDataFrame(
        files.flatMap(_numbered_lines), "file string, line long, value binary"
    )
    return landing_to_bronze(lines, day)


def end_of(day: date) -> datetime:
    """The first instant after `day` (UTC): a loaded day is complete up to it."""
    return datetime.combine(day + timedelta(days=1), clock.min, tzinfo=UTC)


def load_days(spark: SparkSession, settings: Settings, days: Sequence[date]) -> LoadReport:
    """Load these landing days into bronze, silver and gold; idempotent."""
    days = sorted(set(days))
    report = LoadReport(days=[d.isoformat() for d in days])
    frames = []
    for day in days:
        frame = read_landing_day(spark, settings, day)
        if frame is None:
            report.days_without_files.append(day.isoformat())
        else:
            frames.append(frame)
    if not frames:
        return report
    bronze = frames[0]
    for more in frames[1:]:
        bronze = bronze.unionByName(more)
    bronze = bronze.localCheckpoint(eager=True)
    bronze_days = [
        r[0] for r in bronze.selectExpr("CAST(event_date AS STRING)").distinct().collect()
    ]
    refiner = Refiner(settings)
    # A new transaction version per load: Delta runs every write, and the key-based
    # deduplication (bronze by coordinates, silver by event id) keeps a reload a no-op.
    app_id = f"rapport-history-{days[0].isoformat()}-{days[-1].isoformat()}"
    version = time.time_ns() // 1_000_000
    try:
        refiner.begin_load(app_id, version)  # bronze's append carries the same ids
        report.new_bronze_rows = refiner.append_new(BRONZE_EVENTS, bronze, bronze_days)
        # All the days' rows, not only the new ones: a load that stopped after bronze
        # still gets its silver and gold on the rerun.
        report.refined = refiner.load(
            bronze, app_id=app_id, version=version, complete_up_to=end_of(days[-1])
        )
    finally:
        refiner.close()
        bronze.unpersist()
    report.refined.rows_written[BRONZE_EVENTS.qualified_name] = report.new_bronze_rows
    return report
