"""Table upkeep: compact small files, VACUUM unreferenced ones, clean orphaned checkpoints.

A stream commits a few small files per micro-batch; left alone, reads slow down and storage
grows. These functions are what a schedule (orchestration) or `rapport maintain` calls.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from rapport.lakehouse.delta_insert import retry_conflicts
from rapport.lakehouse.ownership import writer_engine
from rapport.lakehouse.tables import TABLES, TableDef
from rapport.settings import Settings

if TYPE_CHECKING:
    from delta.tables import DeltaTable
    from pyspark.sql import SparkSession

#: Delta refuses a VACUUM retention below this (its default deletedFileRetentionDuration)
#: unless its safety check is off.
DELTA_SAFE_RETENTION_HOURS = 168.0

#: Delta's session switch for that safety check.
RETENTION_CHECK_CONF = "spark.databricks.delta.retentionDurationCheck.enabled"

#: How many tasks VACUUM lists a table's files with.
LISTING_PARALLELISM_CONF = "spark.sql.sources.parallelPartitionDiscovery.parallelism"


@dataclass(frozen=True)
class CompactionResult:
    """What OPTIMIZE did to one table."""

    table: str
    files_removed: int
    files_added: int
    duration_s: float


@dataclass(frozen=True)
class VacuumResult:
    """What VACUUM did to one table; `files_deleted` is None when Delta did not log it."""

    table: str
    retention_hours: float
    files_deleted: int | None
    duration_s: float


@dataclass(frozen=True)
class CheckpointFolder:
    """One streaming query's checkpoint: `<checkpoints>/<layer>/<table>/<query>/`."""

    table: str
    query: str
    path: Path
    size_bytes: int
    batches: int
    active: bool


@dataclass(frozen=True)
class CheckpointReport:
    """Every checkpoint folder found, and which orphaned ones were deleted (if applied)."""

    folders: tuple[CheckpointFolder, ...]
    #: Spark already trims each active checkpoint to this many batches
    #: (spark.sql.streaming.minBatchesToRetain); only orphaned folders need us.
    batches_kept_by_spark: int
    deleted: tuple[Path, ...] = ()

    @property
    def orphaned(self) -> tuple[CheckpointFolder, ...]:
        return tuple(f for f in self.folders if not f.active)


# --- compaction -----------------------------------------------------------------------------


def _existing(
    spark: SparkSession, settings: Settings, tables: Iterable[TableDef]
) -> Iterator[tuple[TableDef, DeltaTable]]:
    """The catalog's tables that exist on storage: maintenance never creates a table."""
    from delta.tables import DeltaTable

    for table in tables:
        location = table.location(settings)
        if DeltaTable.isDeltaTable(spark, location):
            yield table, DeltaTable.forPath(spark, location)


def compact(
    spark: SparkSession, settings: Settings, tables: Iterable[TableDef] = TABLES
) -> list[CompactionResult]:
    """Rewrite each table's small files into large ones, so reads open fewer files.

    It changes no data, and the stream's appends never conflict with it. A MERGE (silver's
    writes) committing the same files meanwhile does: whichever of the two commits second
    fails with a conflict, and runs again (`retry_conflicts`).
    """
    results = []
    for table, delta_table in _existing(spark, settings, tables):
        started = time.monotonic()
        if writer_engine(table.qualified_name) == "delta-rs":
            results.append(_compact_with_delta_rs(settings, table, started))
            continue
        compaction = delta_table.optimize()
        metrics = retry_conflicts(
            table.qualified_name,
            lambda: compaction.executeCompaction().select("metrics.*").collect(),  # noqa: B023
        )
        results.append(
            CompactionResult(
                table=table.qualified_name,
                files_removed=sum(int(m.numFilesRemoved) for m in metrics),
                files_added=sum(int(m.numFilesAdded) for m in metrics),
                duration_s=time.monotonic() - started,
            )
        )
    return results


def _compact_with_delta_rs(settings: Settings, table: TableDef, started: float) -> CompactionResult:
    """Compaction of a table delta-rs owns, by delta-rs: one writing engine per table."""
    from rapport.lakehouse.delta_rs import open_table

    metrics = open_table(settings, table).optimize.compact()
    return CompactionResult(
        table=table.qualified_name,
        files_removed=int(metrics.get("numFilesRemoved", 0)),
        files_added=int(metrics.get("numFilesAdded", 0)),
        duration_s=time.monotonic() - started,
    )


# --- VACUUM ---------------------------------------------------------------------------------


def vacuum_retention(settings: Settings, retention_hours: float | None, force: bool) -> float:
    """The retention to use, refused when below the configured minimum and not forced.

    Too short a retention deletes files that a running reader, a time-travel query or a
    stream restarted after a pause still needs; that loss cannot be undone.
    """
    maintenance = settings.maintenance
    retention = maintenance.vacuum_retention_hours if retention_hours is None else retention_hours
    if retention < 0:
        raise ValueError(f"VACUUM retention must be 0 hours or more, not {retention:g}")
    if retention < maintenance.min_vacuum_retention_hours and not force:
        raise ValueError(
            f"VACUUM retention of {retention:g} h is below "
            f"maintenance.min_vacuum_retention_hours ({maintenance.min_vacuum_retention_hours:g} "
            "h): files that readers, time travel or a paused stream still need would be "
            "deleted. Use --force (force=True) if nothing else reads or writes these tables."
        )
    return retention


@contextmanager
def _session_conf(spark: SparkSession, conf: dict[str, str]) -> Iterator[None]:
    """Apply `conf` to the session for one call, then put the previous values back."""
    previous = {key: spark.conf.get(key, None) for key in conf}
    for key, value in conf.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, old in previous.items():
            if old is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, old)


def _vacuum_conf(settings: Settings, retention: float) -> dict[str, str]:
    """Session settings for one VACUUM.

    VACUUM lists the table's files with spark.sql.sources.parallelPartitionDiscovery.
    parallelism tasks, 10,000 by default: on a small table that is a minute of empty tasks
    (88 s against 12 s for ten files on 2 cores), so it is sized like the session's
    shuffles unless the settings set it.
    Below Delta's 168 h floor its retention check is turned off: `vacuum_retention` has
    already let the retention through.
    """
    conf = {
        LISTING_PARALLELISM_CONF: settings.spark.conf.get(
            LISTING_PARALLELISM_CONF, str(max(2, settings.spark.shuffle_partitions))
        )
    }
    if retention < DELTA_SAFE_RETENTION_HOURS:
        conf[RETENTION_CHECK_CONF] = "false"
    return conf


def latest_version(delta_table: DeltaTable) -> int:
    """The table's newest version (one history entry read)."""
    return int(delta_table.history(1).collect()[0].version)


def _files_deleted_since(delta_table: DeltaTable, version: int) -> int | None:
    """numDeletedFiles of the VACUUM END commit after `version`, if Delta logged one.

    DeltaTable.vacuum() returns an empty DataFrame; the count is only in the table history.
    Only the commits since `version` are read: a streamed table has a very long history.
    """
    newer = latest_version(delta_table) - version
    for commit in delta_table.history(max(newer, 1)).collect():
        if commit.version > version and commit.operation == "VACUUM END":
            deleted = (commit.operationMetrics or {}).get("numDeletedFiles")
            return int(deleted) if deleted is not None else None
    return None


def vacuum(
    spark: SparkSession,
    settings: Settings,
    tables: Iterable[TableDef] = TABLES,
    retention_hours: float | None = None,
    force: bool = False,
) -> list[VacuumResult]:
    """Delete files no table version within the retention still references (storage cost).

    The session settings it needs (`_vacuum_conf`) hold for this call only. They are
    session-wide meanwhile: run it in its own session, not beside a running stream.
    """
    retention = vacuum_retention(settings, retention_hours, force)
    results = []
    for table, delta_table in _existing(spark, settings, tables):
        started = time.monotonic()
        if writer_engine(table.qualified_name) == "delta-rs":
            deleted: int | None = _vacuum_with_delta_rs(settings, table, retention)
        else:
            before = latest_version(delta_table)
            with _session_conf(spark, _vacuum_conf(settings, retention)):
                delta_table.vacuum(retention)
            deleted = _files_deleted_since(delta_table, before)
        results.append(
            VacuumResult(
                table=table.qualified_name,
                retention_hours=retention,
                files_deleted=deleted,
                duration_s=time.monotonic() - started,
            )
        )
    return results


def _vacuum_with_delta_rs(settings: Settings, table: TableDef, retention: float) -> int:
    """VACUUM of a table delta-rs owns, by delta-rs; the retention was checked already.

    It also drops log entries past the table's log retention: the hot query commits every
    second, and an unbounded log slows every reader's start.
    """
    from rapport.lakehouse.delta_rs import open_table

    delta = open_table(settings, table)
    deleted = delta.vacuum(
        retention_hours=int(retention), dry_run=False, enforce_retention_duration=False
    )
    delta.cleanup_metadata()
    return len(deleted)


# --- streaming checkpoints ------------------------------------------------------------------


def _local_checkpoints(settings: Settings) -> Path:
    scheme = urlparse(settings.checkpoints).scheme
    if len(scheme) > 1:  # one letter is a Windows drive, as in rapport.settings
        raise NotImplementedError(
            f"checkpoint cleanup reads local folders only; checkpoint_root is "
            f"{settings.checkpoints!r} ({scheme}://). Clean it with that storage's own tools."
        )
    return Path(settings.checkpoints)


def _size_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def _batches(folder: Path) -> int:
    """Batches whose offsets are still recorded (Spark names each file by its batch id)."""
    offsets = folder / "offsets"
    if not offsets.is_dir():
        return 0
    return sum(1 for f in offsets.iterdir() if f.is_file() and f.name.isdigit())


def checkpoint_report(settings: Settings, active_queries: Iterable[str]) -> CheckpointReport:
    """Every checkpoint folder with its size and batches, and whether a query still uses it.

    A renamed or removed query leaves its checkpoint behind; Spark never cleans those.
    """
    active = set(active_queries)
    root = _local_checkpoints(settings)
    folders = [
        CheckpointFolder(
            table=f"{query.parent.parent.name}.{query.parent.name}",
            query=query.name,
            path=query,
            size_bytes=_size_bytes(query),
            batches=_batches(query),
            active=query.name in active,
        )
        for query in sorted(root.glob("*/*/*"))
        if query.is_dir()
    ]
    return CheckpointReport(
        folders=tuple(folders),
        batches_kept_by_spark=settings.maintenance.checkpoint_batches_to_retain,
    )


def clean_checkpoints(
    settings: Settings, active: Iterable[str], apply: bool = False
) -> CheckpointReport:
    """Report checkpoints and, only with `apply`, delete the orphaned ones.

    A dry run by default: deleting a checkpoint makes its query, if it ever runs again,
    start over from its starting offsets.
    """
    report = checkpoint_report(settings, active)
    if not apply:
        return report
    for folder in report.orphaned:
        shutil.rmtree(folder.path)
    return CheckpointReport(
        folders=report.folders,
        batches_kept_by_spark=report.batches_kept_by_spark,
        deleted=tuple(f.path for f in report.orphaned),
    )
