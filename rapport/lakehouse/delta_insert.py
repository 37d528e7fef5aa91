"""Adding rows whose key a Delta table lacks, safely beside other writers of the same days.

A read of the table followed by a blind append lets two writers (the stream and a history
load, say) both find an event id absent and both append it: Delta sees no conflict between
two appends. An insert-only MERGE declares what it read, the days' files, and Delta fails it
with a conflict (`CONFLICTS`) when another commit added or removed files
there after that read; the loser reads again and retries.

The caller also needs the rows it added (a load turns them into gold increments), exactly:
not one another writer added meanwhile. They are the rows found absent at the version read,
as long as the MERGE inserted all of them; if it inserted fewer, another writer committed
some of them between that read and the MERGE's own, and the rows are recovered from the
MERGE's commit (`_rows_inserted_by`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from delta.exceptions import (
    ConcurrentAppendException,
    ConcurrentDeleteDeleteException,
    ConcurrentDeleteReadException,
    ConcurrentWriteException,
    DeltaConcurrentModificationException,
    MetadataChangedException,
    ProtocolChangedException,
)

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

log = logging.getLogger("rapport.lakehouse.insert")

T = TypeVar("T")

#: What another writer's commit can make a write fail with; a fresh attempt is exact. (Not
#: ConcurrentTransactionException: one query id writing twice at once is a bug to surface.)
CONFLICTS = (
    ConcurrentAppendException,
    ConcurrentDeleteReadException,
    ConcurrentDeleteDeleteException,
    ConcurrentWriteException,
    MetadataChangedException,
    ProtocolChangedException,
    DeltaConcurrentModificationException,
)

#: Attempts before a write gives up (each after a conflict with another writer's commit).
CONFLICT_RETRIES = 8


class WriteConflictError(RuntimeError):
    """Other writers won every attempt; the batch fails and runs again from its checkpoint."""


def insert_absent(
    spark: SparkSession,
    location: str,
    rows: DataFrame,
    keys: Sequence[str],
    date_column: str,
    dates: Sequence[str],
) -> tuple[DataFrame, int]:
    """Insert the rows of these days whose key the table lacks; returns them (persisted,
    cut from their plan) and how many."""
    days = _day_filter(date_column, dates)

    def attempt() -> tuple[DataFrame, int]:
        before = _version(spark, location)
        existing = spark.read.format("delta").option("versionAsOf", before).load(location)
        # Materialised and cut from its plan: a plan that reads the table would be computed
        # again after the write below, and then find nothing new.
        fresh = _absent(rows, existing.where(days), keys).localCheckpoint(eager=True)
        found = fresh.count()
        if not found:
            return fresh, 0
        try:
            inserted = _merge_insert(spark, location, fresh, keys, date_column, dates)
        except CONFLICTS:
            fresh.unpersist()
            raise
        if inserted != found:
            fresh = _rows_inserted_by(spark, location, fresh, days, keys, before, inserted)
        return fresh, inserted

    return retry_conflicts(location, attempt)


def retry_conflicts(location: str, write: Callable[[], T]) -> T:
    """Run a Delta write that reads what it needs itself again after a conflict with
    another writer's commit."""
    for attempt in range(1, CONFLICT_RETRIES + 1):
        try:
            return write()
        except CONFLICTS as conflict:
            reason = str(conflict).splitlines()[0][:200]
            log.info("%s: %s; attempt %d of %d", location, reason, attempt, CONFLICT_RETRIES)
    raise WriteConflictError(
        f"{location}: {CONFLICT_RETRIES} write conflicts in a row with other writers; "
        "the batch fails and runs again"
    )


def _day_filter(date_column: str, dates: Sequence[str]) -> Column:
    from pyspark.sql import functions as F

    return F.col(date_column).isin(*[F.lit(d).cast("date") for d in dates])


def _absent(rows: DataFrame, existing: DataFrame, keys: Sequence[str]) -> DataFrame:
    return rows.join(existing.select(*keys), list(keys), "left_anti")


def _version(spark: SparkSession, location: str) -> int:
    from delta.tables import DeltaTable

    newest = DeltaTable.forPath(spark, location).history(1).select("version").first()
    assert newest is not None, f"{location} has no commits"
    return int(newest[0])


def _merge_insert(
    spark: SparkSession,
    location: str,
    fresh: DataFrame,
    keys: Sequence[str],
    date_column: str,
    dates: Sequence[str],
) -> int:
    """MERGE ... WHEN NOT MATCHED INSERT *, reading only these days' files; rows inserted."""
    from delta.tables import DeltaTable

    days = ", ".join(f"DATE'{d}'" for d in sorted(dates))
    on = " AND ".join([f"t.`{k}` = s.`{k}`" for k in keys] + [f"t.`{date_column}` IN ({days})"])
    metrics = (
        DeltaTable.forPath(spark, location)
        .alias("t")
        .merge(fresh.alias("s"), on)
        .whenNotMatchedInsertAll()
        .execute()
        .first()
    )
    assert metrics is not None
    return int(metrics["num_inserted_rows"])


def _rows_inserted_by(
    spark: SparkSession,
    location: str,
    fresh: DataFrame,
    days: Column,
    keys: Sequence[str],
    before: int,
    inserted: int,
) -> DataFrame:
    """The rows of `fresh` that our MERGE (a commit after `before`) inserted.

    Our commit is the MERGE that inserted `inserted` rows of `fresh`, all absent from the
    version before it and present in its own; no other commit can be both, as a commit of
    those keys in between would have failed ours.
    """
    from delta.tables import DeltaTable

    table = DeltaTable.forPath(spark, location)
    newest = _version(spark, location)
    commits = (
        table.history(newest - before)
        .where(f"version > {before} AND operation = 'MERGE'")
        .select("version", "operationMetrics")
        .orderBy("version")
        .collect()
    )

    def at(version: int) -> DataFrame:
        return spark.read.format("delta").option("versionAsOf", version).load(location).where(days)

    for commit in commits:
        if int((commit["operationMetrics"] or {}).get("numTargetRowsInserted", -1)) != inserted:
            continue
        ours = _absent(fresh, at(commit["version"] - 1), keys).localCheckpoint(eager=True)
        if ours.count() == inserted and _absent(ours, at(commit["version"]), keys).isEmpty():
            log.info(
                "%s: another writer added %d of these rows first; version %d added the other %d",
                location,
                fresh.count() - inserted,
                commit["version"],
                inserted,
            )
            fresh.unpersist()
            return ours
        ours.unpersist()
    raise WriteConflictError(
        f"{location}: the MERGE after version {before} inserted {inserted} rows, but no commit "
        "since holds them; the batch fails and runs again"
    )
