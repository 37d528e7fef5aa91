"""Writing the small, hot tables from the driver with delta-rs: milliseconds a commit, once.

Delta on Spark costs about 0.2 s per append and 1 s per small MERGE on two cores; delta-rs does
either in about 15 ms (docs/decisions/0011-hot-path.md has the figures). The stream's gold
tables and ops.stream_batches are therefore written here, and only here: one writing engine
per table, because two engines racing on one local Delta log can overwrite each other's commit.

Every write carries Delta's `txn` action (app id, version). `committed(...)` tells whether a
version was already written, so a micro-batch replayed after a crash skips the tables it had
committed. Spark reads these tables as usual: the `txn` action is part of the protocol.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from rapport.lakehouse.layout import delta_uri
from rapport.lakehouse.tables import TableDef
from rapport.settings import Settings

if TYPE_CHECKING:
    import pyarrow as pa
    from deltalake import DeltaTable

log = logging.getLogger("rapport.delta_rs")

T = TypeVar("T")

#: How often a write is retried when another writer committed the same version first.
COMMIT_RETRIES = 5


@dataclass(frozen=True)
class Txn:
    """Delta's idempotent-write marker: this (app id, version) is written at most once."""

    app_id: str
    version: int


def arrow_schema(table: TableDef) -> pa.Schema:
    """The table's schema as Arrow, converted from the catalog's Spark schema (one source)."""
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(table.schema, timestamp_utc=True)


def open_table(settings: Settings, table: TableDef) -> DeltaTable:
    """The table's current snapshot (it must exist: the catalog creates every table)."""
    from deltalake import DeltaTable

    return DeltaTable(delta_uri(table.location(settings)))


class StaleSnapshotError(RuntimeError):
    """The table moved past the version a write was computed from (see `replace`)."""


def committed(delta: DeltaTable, txn: Txn) -> bool:
    """Whether `txn` (or a later version of its app) is already in the table."""
    done = delta.transaction_version(txn.app_id)
    return done is not None and done >= txn.version


def _properties(txn: Txn) -> Any:
    from deltalake.transaction import CommitProperties, Transaction

    return CommitProperties(app_transactions=[Transaction(txn.app_id, txn.version)])


def _with_retries(settings: Settings, table: TableDef, write: Callable[[], T]) -> T:
    """Run `write`; if another writer won the race to the next version, reload and try again."""
    from deltalake.exceptions import CommitFailedError

    for attempt in range(1, COMMIT_RETRIES + 1):
        try:
            return write()
        except CommitFailedError as exc:
            if attempt == COMMIT_RETRIES:
                raise
            log.warning("%s: commit conflict (%s), retry %s", table.qualified_name, exc, attempt)
            time.sleep(0.05 * attempt)
    raise AssertionError("unreachable")


def _once(
    settings: Settings,
    table: TableDef,
    txn: Txn | None,
    commit: Callable[[DeltaTable, Any], None],
    expected_version: int | None = None,
) -> bool:
    """Open the table, skip if `txn` is already in it, else `commit(table, properties)`.

    Retried on a lost commit race; False when the txn was already committed. With an
    `expected_version`, never retried: StaleSnapshotError unless the commit lands right
    after that version.
    """

    uri = delta_uri(table.location(settings))
    with _writers_lock:
        lock = _writer_locks.setdefault(uri, threading.Lock())

    def write() -> bool:
        delta = _snapshot(uri)
        if txn is not None and committed(delta, txn):
            return False
        if expected_version is not None and delta.version() != expected_version:
            raise StaleSnapshotError(f"{table.qualified_name} is past version {expected_version}")
        commit(delta, _properties(txn) if txn is not None else None)
        return True

    with lock:  # a kept snapshot is one writer's at a time
        if expected_version is None:
            return _with_retries(settings, table, write)
        from deltalake.exceptions import CommitFailedError

        try:
            return write()
        except CommitFailedError as lost:
            raise StaleSnapshotError(f"{table.qualified_name}: {lost}") from lost


#: Per table: the snapshot this process last wrote through, with the identity (version,
#: modification time) of the commit it was at; and a lock per table.
_snapshots: dict[str, tuple[DeltaTable, tuple[int, int] | None]] = {}
_writer_locks: dict[str, threading.Lock] = {}
_writers_lock = threading.Lock()


def _snapshot(uri: str) -> DeltaTable:
    """The table's current snapshot, brought up to date from the one kept since the last write.

    Opening a table replays its log from the last checkpoint, up to a hundred commits; a
    table written every second (gold, ops.stream_batches) only needs the commits since this
    process's own last one, which is usually none.
    """
    from deltalake import DeltaTable

    kept, mark = _snapshots.get(uri, (None, None))
    if kept is not None and mark is not None and mark == _commit_mark(uri, mark[0]):
        kept.update_incremental()
    else:
        kept = DeltaTable(uri)
    if "://" not in uri:  # object stores: no cheap check that the table is the same one
        _snapshots[uri] = (kept, _commit_mark(uri, kept.version()))
    return kept


def _commit_mark(uri: str, version: int) -> tuple[int, int] | None:
    """A commit file's version and modification time, None when it is gone.

    A table deleted and created again at the same place has other commit files (or fewer):
    its kept snapshot no longer matches, and the table is read afresh, never written on
    from an old snapshot.
    """
    try:
        return version, os.stat(os.path.join(uri, "_delta_log", f"{version:020d}.json")).st_mtime_ns
    except OSError:
        return None


def append(settings: Settings, table: TableDef, rows: pa.Table, txn: Txn) -> bool:
    """Append `rows` once per `txn`; False when that version was already committed."""
    from deltalake import write_deltalake

    def commit(delta: DeltaTable, properties: Any) -> None:
        write_deltalake(delta, rows.cast(arrow_schema(table)), mode="append",
                        commit_properties=properties)  # fmt: skip

    return _once(settings, table, txn, commit)


def merge(
    settings: Settings,
    table: TableDef,
    rows: pa.Table,
    txn: Txn,
    *,
    updates: Mapping[str, str],
    when: str | None = None,
) -> bool:
    """MERGE `rows` (alias s) into the table (alias t) on its keys, once per `txn`.

    Matched rows get `updates` (SQL over t and s), if `when` holds; new keys are inserted
    as they are. False when that version was already committed.
    """
    on = " AND ".join(f"t.{k} = s.{k}" for k in table.keys)

    def commit(delta: DeltaTable, properties: Any) -> None:
        (
            delta.merge(
                rows.cast(arrow_schema(table)),
                on,
                source_alias="s",
                target_alias="t",
                commit_properties=properties,
            )
            .when_matched_update(dict(updates), predicate=when)
            .when_not_matched_insert_all()
            .execute()
        )

    return _once(settings, table, txn, commit)


def replace(
    settings: Settings,
    table: TableDef,
    rows: pa.Table,
    txn: Txn | None,
    predicate: str | None = None,
    expected_version: int | None = None,
) -> bool:
    """Replace the rows matching `predicate` (all of them when None) with `rows`.

    Every new row must match the predicate. With a `txn`, at most once per txn; without one
    (a batch job's replace of whole days) every call writes, which is idempotent anyway.
    Rows computed from the table itself pass the `expected_version` they read: a commit by
    another writer since then raises StaleSnapshotError instead of being overwritten.
    """
    from deltalake import write_deltalake

    def commit(delta: DeltaTable, properties: Any) -> None:
        write_deltalake(delta, rows.cast(arrow_schema(table)), mode="overwrite",
                        predicate=predicate, commit_properties=properties)  # fmt: skip

    return _once(settings, table, txn, commit, expected_version)


def read(
    settings: Settings, table: TableDef, filters: list[tuple[str, str, Any]] | None = None
) -> pa.Table:
    """The table's rows (optionally filtered by partition or column values), as Arrow."""
    return open_table(settings, table).to_pyarrow_table(filters=filters)
