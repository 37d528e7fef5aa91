"""One micro-batch of bronze rows through validation and silver, exactly once.

`Refiner.process` is the foreachBatch function of the refine (silver) query. Per batch it:

1. classifies every bronze row (`streaming.validation`) and appends the rejected ones to
   bronze.quarantine;
2. appends the new valid events to the silver event tables, deduplicated against what the
   tables already hold (so a duplicate delivered hours later never counts twice), and
   upserts silver.customers and silver.inventory by event time and sequence;
3. records the events that arrived behind the watermark in ops.late_events;
4. recomputes gold.active_customers from silver (a distinct count over a sliding window);
5. appends one row of metrics (rates, rows per table, watermark, Kafka lag) to ops.stream_batches.

The other gold tables are the hot query's (`streaming.hot`), straight from Kafka. A batch load
(`Refiner.load`: the history load, a quarantine replay) has no hot query beside it, so it
merges the gold increments of the rows that were new to silver itself.

Exactly once: silver's inserts are insert-only MERGEs on the table's keys
(`rapport.lakehouse.delta_insert`), so a batch replayed after a crash inserts nothing it had
committed, and the upserts apply only newer changes; the other writes carry Delta's
idempotent-write options (txnAppId = the query's id, txnVersion = the batch id). Even a full
replay from bronze changes nothing. The app id is the streaming query's id, which
lives in the checkpoint: a new checkpoint gets a new id, and a checkpoint older than the
tables is refused (`check_checkpoint`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F

from rapport.lakehouse.delta_insert import insert_absent, retry_conflicts
from rapport.lakehouse.delta_rs import Txn
from rapport.lakehouse.ownership import REFINE_QUERY
from rapport.lakehouse.spark import hadoop_path, read_checkpoint_file, use_pool
from rapport.lakehouse.tables import (
    BRONZE_QUARANTINE,
    GOLD_ACTIVE_CUSTOMERS,
    OPS_LATE_EVENTS,
    OPS_STREAM_BATCHES,
    SILVER_CUSTOMER_ACTIVITY,
    SILVER_CUSTOMERS,
    SILVER_INVENTORY,
    SILVER_INVENTORY_MOVEMENTS,
    SILVER_INVOICES,
    SILVER_ORDER_LINES,
    SILVER_ORDER_UPDATES,
    SILVER_ORDERS,
    SILVER_PAYMENTS,
    SILVER_REFUNDS,
    TableDef,
)
from rapport.runtime.kafka_offsets import EndOffsetWatcher
from rapport.settings import Settings
from streaming import gold, metrics, silver
from streaming.gold_writer import GoldWriter
from streaming.increments import SilverRows, gold_increments
from streaming.validation import classify_bronze, quarantine_rows

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger("rapport.stream.refine")


#: Silver tables with one row per event, appended after deduplication by event id.
EVENT_TABLES: tuple[TableDef, ...] = (
    SILVER_ORDERS,
    SILVER_ORDER_UPDATES,
    SILVER_CUSTOMER_ACTIVITY,
    SILVER_INVENTORY_MOVEMENTS,
    SILVER_INVOICES,
    SILVER_PAYMENTS,
    SILVER_REFUNDS,
)


class CheckpointMismatchError(RuntimeError):
    """The checkpoint is older than the tables: Delta would silently skip the next writes."""


def refine_checkpoint(settings: Settings) -> str:
    """Checkpoint of the refine query (beside the ops table it writes last in every batch)."""
    return OPS_STREAM_BATCHES.checkpoint(settings, REFINE_QUERY)


def _utc(micros: int | None) -> datetime | None:
    return None if micros is None else datetime.fromtimestamp(micros / 1e6, UTC)


def _dates(values: Iterable[str]) -> str:
    return ", ".join(f"DATE'{v}'" for v in sorted(values))


@dataclass
class BatchReport:
    """What one batch did: the ops.stream_batches row, before it is written."""

    batch_id: int
    started: float
    input_rows: int = 0
    valid_rows: int = 0
    quarantined_rows: int = 0
    new_events: int = 0
    late_rows: int = 0
    rows_written: dict[str, int] = field(default_factory=dict)
    max_event_time: datetime | None = None
    watermark: datetime | None = None


class Refiner:
    """The refine query's batch function, with the little state it carries between batches."""

    def __init__(
        self,
        settings: Settings,
        *,
        bronze_rates: Callable[[], tuple[float | None, float | None]] | None = None,
        on_batch: Callable[[dict[str, Any]], None] | None = None,
        on_verdicts: Callable[[DataFrame], None] | None = None,
    ) -> None:
        self.settings = settings
        self.app_id: str | None = None
        self.max_event_time: datetime | None = None
        self.processed: dict[tuple[str, int], int] = {}
        self.bronze_rates = bronze_rates or (lambda: (None, None))
        self.on_batch = on_batch
        #: Called with each batch's verdicts once its tables are written (the quarantine
        #: replay records per record what happened); None for the stream.
        self.on_verdicts = on_verdicts
        self.offsets = EndOffsetWatcher(settings)
        self.pool = ThreadPoolExecutor(settings.stream.write_threads, "rapport-write")
        #: Gold's writer for batch loads (the stream's gold is the hot query's).
        self.gold = GoldWriter(settings)
        self.delay = timedelta(seconds=settings.stream.watermark_delay_s)
        self._batch_id = -1
        #: A batch load (no watermark, gold's increments merged here) rather than the stream.
        self._loading = False
        #: Rows each write of the current batch committed, counted once where it is written.
        self._written: dict[str, int] = {}

    # --- start-up ---------------------------------------------------------------------------

    def prepare(self, spark: SparkSession) -> None:
        """Check the checkpoint against the tables, and resume the watermark and positions."""

        self.app_id = check_checkpoint(spark, self.settings)
        ops = spark.read.format("delta").load(OPS_STREAM_BATCHES.location(self.settings))
        self.max_event_time = self._stream_newest(spark, ops)
        if self.app_id is not None:
            last = (
                ops.where(F.col("app_id") == self.app_id)
                .orderBy(F.col("batch_id").desc())
                .select("kafka_lag")
                .first()
            )
            for lag in last["kafka_lag"] if last else []:
                if lag["processed_offset"] is not None:
                    self.processed[(lag["topic"], lag["partition"])] = lag["processed_offset"]

    def _stream_newest(self, spark: SparkSession, ops: DataFrame | None = None) -> datetime | None:
        """The newest event time the stream has seen (ops.stream_batches, if not given)."""
        if ops is None:
            ops = spark.read.format("delta").load(OPS_STREAM_BATCHES.location(self.settings))
        newest = ops.agg(F.unix_micros(F.max("max_event_time")).alias("t")).first()
        return _utc(newest["t"] if newest else None)

    def bind(self, query_id: str) -> None:
        """Take the app id from the started query (the id its checkpoint keeps)."""
        app_id = f"rapport-{REFINE_QUERY}-{query_id}"
        if self.app_id is not None and self.app_id != app_id:
            raise CheckpointMismatchError(
                f"the refine query started as {app_id}, but its checkpoint said {self.app_id}"
            )
        self.app_id = app_id

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.offsets.close()

    # --- one batch --------------------------------------------------------------------------

    def process(self, batch: DataFrame, batch_id: int) -> None:
        """The foreachBatch function: validation, silver, gold and metrics for one batch."""
        deadline = time.monotonic() + 60
        while self.app_id is None and time.monotonic() < deadline:
            time.sleep(0.05)  # start() returns the query id right after the first trigger
        if self.app_id is None:
            raise RuntimeError("refine batch started before the query id was bound")
        self._batch_id = batch_id
        use_pool(batch.sparkSession, REFINE_QUERY)
        self._run(batch, stream=True, complete_up_to=None)

    def begin_load(self, app_id: str, version: int) -> None:
        """Write as a batch load: these transaction ids, and gold's increments merged here."""
        self.app_id, self._batch_id, self._loading = app_id, version, True

    def load(
        self,
        bronze_rows: DataFrame,
        *,
        app_id: str,
        version: int,
        complete_up_to: datetime | None,
    ) -> BatchReport:
        """A batch load (the historical load) through the stream's own code, not a copy.

        Validation, quarantine, silver and gold as in `process`, but nothing is late (there is
        no watermark), gold is stamped `complete_up_to`, and no ops.stream_batches row is
        written. The writes carry `app_id`/`version` as Delta transaction ids and deduplicate
        by key, so loading the same rows twice changes nothing.
        """
        self.begin_load(app_id, version)
        # gold.active_customers ends at the newest event time seen: the stream's, or the
        # load's if newer. A load that fills a gap inside its windows recomputes it.
        self.max_event_time = self._stream_newest(bronze_rows.sparkSession)
        return self._run(bronze_rows, stream=False, complete_up_to=complete_up_to)

    def _run(
        self, batch: DataFrame, *, stream: bool, complete_up_to: datetime | None
    ) -> BatchReport:
        """One batch, cached while it is read several times."""
        report = BatchReport(self._batch_id, time.monotonic())
        self._written = {}
        batch = batch.persist()
        try:
            self._process(batch, report, stream=stream, complete_up_to=complete_up_to)
        finally:
            batch.unpersist()
        return report

    def _process(
        self,
        batch: DataFrame,
        report: BatchReport,
        *,
        stream: bool,
        complete_up_to: datetime | None,
    ) -> None:

        spark = batch.sparkSession
        verdicts = classify_bronze(batch, self.settings).persist()
        try:
            counts = verdicts.agg(
                F.count("*").alias("all"),
                F.count_if("valid").alias("valid"),
                F.unix_micros(F.max(F.when(F.col("valid"), F.col("event_time")))).alias("newest"),
            ).first()
            assert counts is not None
            report.input_rows, report.valid_rows = counts["all"], counts["valid"]
            report.quarantined_rows = report.input_rows - report.valid_rows
            watermark: datetime | None = None
            if stream:
                self._track_positions(verdicts)
                watermark = self.max_event_time - self.delay if self.max_event_time else None
                newest = _utc(counts["newest"])
                if newest and (self.max_event_time is None or newest > self.max_event_time):
                    self.max_event_time = newest
                report.max_event_time = self.max_event_time
                report.watermark = self.max_event_time - self.delay if self.max_event_time else None
            else:
                report.max_event_time = _utc(counts["newest"])
                report.watermark = complete_up_to
                newest = report.max_event_time
                if newest and (self.max_event_time is None or newest > self.max_event_time):
                    self.max_event_time = newest

            if report.input_rows:
                events = silver.valid_events(verdicts).localCheckpoint(eager=True)
                self._write_tables(spark, verdicts, events, watermark, report)
            if self.on_verdicts is not None:
                self.on_verdicts(verdicts)
        finally:
            verdicts.unpersist()
        if stream:
            self._write_metrics(report)

    def _track_positions(self, verdicts: DataFrame) -> None:
        """Remember the next Kafka offset per partition, for the lag in the metrics."""

        positions = verdicts.groupBy("topic", "partition").agg(F.max("offset").alias("o"))
        for row in positions.collect():
            key = (row["topic"], row["partition"])
            self.processed[key] = max(self.processed.get(key, 0), row["o"] + 1)

    def _write_tables(
        self,
        spark: SparkSession,
        verdicts: DataFrame,
        events: DataFrame,
        watermark: datetime | None,
        report: BatchReport,
    ) -> None:

        dates = [
            r[0]
            for r in events.select(F.date_format("event_date", "yyyy-MM-dd")).distinct().collect()
        ]
        kafka_dates = [
            r[0]
            for r in verdicts.where(~F.col("valid"))
            .select(F.date_format("kafka_timestamp", "yyyy-MM-dd"))
            .distinct()
            .collect()
        ]

        # Phase 1: every silver table and the quarantine, in parallel (independent commits),
        # but silver.order_lines: an order commits before its lines (phase 2), so a reader
        # that sees a line finds its order (quality's line_belongs_to_order).
        present = {r[0] for r in events.select("event_type").distinct().collect()}
        jobs: dict[str, Callable[[], DataFrame | None]] = {
            BRONZE_QUARANTINE.qualified_name: lambda: self._append_new(
                spark, BRONZE_QUARANTINE, quarantine_rows(verdicts), kafka_dates, "kafka_date"
            ),
            SILVER_CUSTOMERS.qualified_name: lambda: self._upsert_customers(spark, events),
            SILVER_INVENTORY.qualified_name: lambda: self._upsert_inventory(spark, events),
        }
        for table in EVENT_TABLES:
            if present & set(table.sources):  # no anti-join for a table with nothing new
                jobs[table.qualified_name] = lambda t=table: self._append_new(  # type: ignore[misc]
                    spark, t, silver.event_rows(events, t), dates
                )
        new = self._run_parallel(spark, jobs, report)
        try:
            fresh = {t.name: new.get(t.qualified_name) for t in EVENT_TABLES}
            report.new_events = sum(
                report.rows_written.get(t.qualified_name, 0) for t in EVENT_TABLES
            )

            # Phase 2: order lines, late events and the gold the hot query does not keep. In a
            # batch load (history, quarantine replay) the rows new to silver are new to gold as
            # well, so their increments are merged too; the stream's gold comes from
            # `streaming.hot`.
            stamp = report.watermark
            phase2: dict[str, Callable[[], DataFrame | None]] = {
                SILVER_ORDER_LINES.qualified_name: lambda: self._append_new(
                    spark, SILVER_ORDER_LINES, silver.order_line_rows(events), dates
                ),
                OPS_LATE_EVENTS.qualified_name: lambda: self._record_late(
                    spark, events, fresh, watermark, dates
                ),
                GOLD_ACTIVE_CUSTOMERS.qualified_name: lambda: self._gold_active(
                    spark, fresh, stamp
                ),
            }
            if self._loading:
                increments = gold_increments(SilverRows(**fresh), stamp)
                txn = Txn(str(self.app_id), self._batch_id)
                report.rows_written.update(self.gold.apply(increments, txn))
            written = self._run_parallel(spark, phase2, report)
            report.late_rows = report.rows_written.get(OPS_LATE_EVENTS.qualified_name, 0)
            for frame in written.values():
                if frame is not None:
                    frame.unpersist()
        finally:
            for frame in new.values():
                if frame is not None:
                    frame.unpersist()

    def _run_parallel(
        self,
        spark: SparkSession,
        jobs: dict[str, Callable[[], DataFrame | None]],
        report: BatchReport,
    ) -> dict[str, DataFrame | None]:
        """Run table writes concurrently; each returns its written rows (persisted) or None."""
        pool = spark.sparkContext.getLocalProperty("spark.scheduler.pool")

        def timed(name: str, job: Callable[[], DataFrame | None]) -> DataFrame | None:
            began = time.monotonic()
            if pool is not None:  # the writes run in the scheduler pool of the batch
                use_pool(spark, pool)
            try:
                return job()
            finally:
                log.debug("%s written in %.2f s", name, time.monotonic() - began)

        futures = {name: self.pool.submit(timed, name, job) for name, job in jobs.items()}
        results: dict[str, DataFrame | None] = {}
        errors: list[tuple[str, Exception]] = []
        for name, future in futures.items():
            try:
                results[name] = future.result()
            except Exception as failure:  # re-raised below, once the others end
                errors.append((name, failure))
        for name, frame in results.items():
            if name not in report.rows_written:
                counted = self._written.get(name)
                if counted is None:
                    counted = frame.count() if frame is not None else 0
                report.rows_written[name] = counted
        if errors:
            failed, first = errors[0]
            raise RuntimeError(f"writing {failed} failed: {first}") from first
        return results

    # --- writes -----------------------------------------------------------------------------

    def _txn(self, writer: Any) -> Any:
        """Delta's idempotent write: a (app id, batch id) it has committed is skipped."""
        return writer.option("txnAppId", self.app_id).option("txnVersion", self._batch_id)

    def append_new(self, table: TableDef, rows: DataFrame, dates: Sequence[str]) -> int:
        """Append the rows whose key `table` lacks in these event days (e.g. bronze for a
        load); returns how many."""
        appended = self._append_new(rows.sparkSession, table, rows, dates)
        if appended is not None:
            appended.unpersist()
        return self._written.get(table.qualified_name, 0)

    def _append_new(
        self,
        spark: SparkSession,
        table: TableDef,
        rows: DataFrame,
        dates: Sequence[str],
        date_column: str = "event_date",
    ) -> DataFrame | None:
        """Insert the rows whose key the table does not hold yet; returns them (persisted).

        Safe beside other writers of the same days (the stream and a load): an insert-only
        MERGE that Delta checks for conflicts, retried (`rapport.lakehouse.delta_insert`).
        """

        if not dates:
            return None
        location = table.location(self.settings)
        fresh, inserted = insert_absent(spark, location, rows, table.keys, date_column, dates)
        self._written[table.qualified_name] = inserted
        return fresh

    def _merge(
        self,
        spark: SparkSession,
        table: TableDef,
        changes: DataFrame,
        when: str,
        updates: dict[str, str] | None = None,
    ) -> DataFrame | None:
        from delta.tables import DeltaTable

        changes = changes.persist()
        self._written[table.qualified_name] = found = changes.count()
        if not found:
            return changes
        location = table.location(self.settings)
        on = " AND ".join(f"t.{k} = s.{k}" for k in table.keys)

        def upsert() -> None:
            merge = DeltaTable.forPath(spark, location).alias("t").merge(changes.alias("s"), on)
            if updates is None:
                merge = merge.whenMatchedUpdateAll(condition=when)
            else:
                merge = merge.whenMatchedUpdate(condition=when, set=dict(updates))
            merge.whenNotMatchedInsertAll().execute()

        # The MERGE reads the table itself, so running it again after a conflict is exact.
        retry_conflicts(location, upsert)
        return changes

    def _upsert_customers(self, spark: SparkSession, events: DataFrame) -> DataFrame | None:
        return self._merge(
            spark,
            SILVER_CUSTOMERS,
            silver.customer_changes(events),
            silver.CUSTOMER_MERGE_WHEN,
            silver.customer_merge_updates(),
        )

    def _upsert_inventory(self, spark: SparkSession, events: DataFrame) -> DataFrame | None:
        movements = silver.event_rows(events, SILVER_INVENTORY_MOVEMENTS)
        return self._merge(
            spark,
            SILVER_INVENTORY,
            silver.inventory_changes(movements),
            silver.INVENTORY_MERGE_WHEN,
        )

    def _record_late(
        self,
        spark: SparkSession,
        events: DataFrame,
        fresh: dict[str, DataFrame | None],
        watermark: datetime | None,
        dates: Sequence[str],
    ) -> DataFrame | None:
        """Events new to silver whose time is behind the watermark the batch started with."""

        new_ids = [f.select("event_id") for f in fresh.values() if f is not None]
        if watermark is None or not new_ids:
            return None
        ids = new_ids[0]
        for more in new_ids[1:]:
            ids = ids.unionByName(more)
        mark = F.lit(watermark).cast("timestamp")
        late = (
            events.where(F.col("event_time") < mark)
            .dropDuplicates(["event_id"])
            .join(ids, "event_id")
            .select(
                "event_id",
                "event_type",
                "event_time",
                "ingest_time",
                mark.alias("watermark"),
                ((F.unix_micros(mark) - F.unix_micros("event_time")) / 1e6).alias("lateness_s"),
                F.current_timestamp().alias("recorded_at"),
                "event_date",
            )
        )
        return self._append_new(spark, OPS_LATE_EVENTS, late, dates)

    def _silver(self, spark: SparkSession, table: TableDef) -> DataFrame:
        return spark.read.format("delta").load(table.location(self.settings))

    def _replace(self, table: TableDef, rows: DataFrame, predicate: str | None) -> DataFrame:
        """Replace the gold rows matching `predicate` (all of them when None) with `rows`."""
        rows = rows.localCheckpoint(eager=True)
        writer = rows.write.format("delta").mode("overwrite")
        if predicate is not None:
            writer = writer.option("replaceWhere", predicate)
        self._txn(writer).save(table.location(self.settings))
        return rows

    def _gold_active(
        self, spark: SparkSession, fresh: dict[str, DataFrame | None], stamp: datetime | None
    ) -> DataFrame | None:
        if self.max_event_time is None:
            return None
        if fresh["orders"] is None and fresh["customer_activity"] is None:
            return None
        as_of = self.max_event_time
        longest = max(seconds for _, seconds in gold.ACTIVE_WINDOWS)
        start = as_of - timedelta(seconds=longest)
        days = _dates(
            {
                (start + timedelta(days=i)).date().isoformat()
                for i in range((as_of.date() - start.date()).days + 1)
            }
        )
        since = f"event_date IN ({days}) AND event_time > TIMESTAMP'{start:%Y-%m-%d %H:%M:%S.%f}'"
        rows = gold.active_customers(
            self._silver(spark, SILVER_CUSTOMER_ACTIVITY).where(since),
            self._silver(spark, SILVER_ORDERS).where(since),
            as_of,
            stamp,
        )
        return self._replace(GOLD_ACTIVE_CUSTOMERS, rows, None)

    # --- metrics ----------------------------------------------------------------------------

    def _write_metrics(self, report: BatchReport) -> None:
        """Append the batch's ops.stream_batches row and hand its summary to the status file."""
        try:
            ends = self.offsets.end_offsets()
        except Exception as exc:  # lag is a metric; Kafka may be restarting
            log.warning("could not read Kafka end offsets for the lag: %s", exc)
            ends = {}
        row = metrics.batch_row(
            app=str(self.app_id),
            batch_id=report.batch_id,
            finished=datetime.now(UTC),
            duration_s=time.monotonic() - report.started,
            counts={
                "input_rows": report.input_rows,
                "valid_rows": report.valid_rows,
                "quarantined_rows": report.quarantined_rows,
                "duplicate_rows": report.valid_rows - report.new_events,
                "late_rows": report.late_rows,
            },
            rows_written=report.rows_written,
            max_event_time=report.max_event_time,
            watermark=report.watermark,
            lag=metrics.kafka_lag(ends, self.processed),
            bronze_rates=self.bronze_rates(),
        )
        metrics.write_batch_row(self.settings, row)
        summary = metrics.summary(row)
        if report.input_rows:
            log.info(
                "refine batch %s: %s rows (%s valid, %s quarantined, %s duplicate, %s late) "
                "in %s ms; watermark %s; Kafka lag %s",
                report.batch_id,
                report.input_rows,
                report.valid_rows,
                report.quarantined_rows,
                row["duplicate_rows"],
                report.late_rows,
                row["duration_ms"],
                summary["watermark"],
                row["total_lag"],
            )
        if self.on_batch is not None:
            self.on_batch(summary)


def _checkpoint_entries(spark: SparkSession, checkpoint: str, name: str) -> list[str] | None:
    """Names under `checkpoint`/`name` (a folder), [name] for a file, None if absent.

    Through Hadoop's FileSystem, so local folders and s3a:// checkpoints read alike.
    """
    fs, path = hadoop_path(spark, f"{checkpoint}/{name}")
    if not fs.exists(path):
        return None
    if fs.getFileStatus(path).isFile():
        return [name]
    return [status.getPath().getName() for status in fs.listStatus(path)]


def last_committed_batch(spark: SparkSession, checkpoint: str) -> int | None:
    """The highest batch id the checkpoint has committed, or None for a new checkpoint."""
    ids = [int(n) for n in _checkpoint_entries(spark, checkpoint, "commits") or [] if n.isdigit()]
    return max(ids) if ids else None


def refined_bronze_version(spark: SparkSession, settings: Settings) -> int | None:
    """The refine query has read every bronze commit before this version (None: it never
    committed a batch). From its newest committed offset, Delta's (version, index), where a
    fully read version v shows as (v + 1, -1)."""
    checkpoint = refine_checkpoint(settings)
    batch = last_committed_batch(spark, checkpoint)
    if batch is None:
        return None
    text = read_checkpoint_file(spark, f"{checkpoint}/offsets/{batch}")
    if text is None:
        return None
    return int(json.loads(text.splitlines()[-1])["reservoirVersion"])


def planned_batches(spark: SparkSession, checkpoint: str) -> int:
    """How many batches the checkpoint's offset log holds (0: the query never planned one)."""
    return sum(1 for n in _checkpoint_entries(spark, checkpoint, "offsets") or [] if n.isdigit())


def checkpoint_query_id(spark: SparkSession, checkpoint: str) -> str | None:
    """The query id a checkpoint keeps in its `metadata` file, or None if there is none yet."""
    if _checkpoint_entries(spark, checkpoint, "metadata") is None:
        return None
    row = spark.read.json(f"{checkpoint}/metadata").first()
    return str(row["id"]) if row is not None else None


def check_checkpoint(spark: SparkSession, settings: Settings) -> str | None:
    """The app id the refine query will write with; fails loudly on a stale checkpoint.

    Delta skips a write whose (txnAppId, txnVersion) it has seen. Had a checkpoint been
    restored from an old copy, its batch ids would repeat ones the tables already hold and
    every write would be skipped in silence. So: no checkpoint yet means a new query id and
    a full, deduplicated replay of bronze; a checkpoint behind ops.stream_batches is refused.
    """

    checkpoint = refine_checkpoint(settings)
    query_id = checkpoint_query_id(spark, checkpoint)
    if query_id is None:
        return None
    app_id = f"rapport-{REFINE_QUERY}-{query_id}"
    committed = last_committed_batch(spark, checkpoint)
    ops = spark.read.format("delta").load(OPS_STREAM_BATCHES.location(settings))
    written = ops.where(F.col("app_id") == app_id).agg(F.max("batch_id")).first()
    highest = written[0] if written else None
    # The tables may be one batch ahead: a crash after the writes, before the commit.
    if highest is not None and highest > (committed if committed is not None else -1) + 1:
        raise CheckpointMismatchError(
            f"the refine checkpoint {checkpoint} has committed up to batch {committed}, but "
            f"the tables hold batch {highest} of the same query: the checkpoint was lost or "
            "restored from an old copy, and Delta would skip the next writes in silence. "
            "Remove the checkpoint folder to rebuild silver and gold from bronze (they "
            "deduplicate by event id, so nothing counts twice), then start the stream again."
        )
    return app_id
