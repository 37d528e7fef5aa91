"""The long-running stream: start the queries, log each batch, stop cleanly on SIGTERM.

Two processes, each with its own Spark driver (docs/decisions/0012-gold-first.md):

- the hot process runs the gold query (Kafka straight to gold), at normal CPU priority;
- the background process, its child, runs bronze (Kafka to bronze.events) and silver
  (bronze to silver) at a low CPU priority (Linux's SCHED_IDLE, `stream.background_idle`,
  and `stream.background_nice`), so that a core goes to gold first and silver takes what
  is left.

The hot process starts the background one and supervises it: a background process that
fails is started again (up to three times in ten minutes; its queries resume from their
checkpoints), one that ends cleanly or too often stops the stream with an error; SIGTERM
stops both; a SIGKILL of the hot process kills its child too
(Linux's parent-death signal), so a crash never leaves half a stream running.

Run in the foreground with `rapport stream start --foreground`, or in the background through
`rapport stream start` / `rapport up` (see `streaming.stream_service`).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from rapport.lakehouse.ownership import BRONZE_QUERY, GOLD_QUERY, REFINE_QUERY
from rapport.lakehouse.spark import get_spark
from rapport.runtime.processes import child_env
from rapport.settings import Settings, settings_env
from streaming.hot import GoldStream, start_gold_query
from streaming.ingest import start_bronze_query, start_refine_query
from streaming.refine import Refiner

if TYPE_CHECKING:
    from pyspark.sql.streaming.query import StreamingQuery

log = logging.getLogger("rapport.stream")


#: The two processes of the stream and the queries each runs.
HOT, BACKGROUND = "hot", "background"
ROLES: dict[str, tuple[str, ...]] = {
    HOT: (GOLD_QUERY,),
    BACKGROUND: (BRONZE_QUERY, REFINE_QUERY),
}


def status_file(settings: Settings, role: str = HOT) -> Path:
    """Where a stream process publishes its state and its queries' last progress."""
    return settings.run_dir / ("stream.status.json" if role == HOT else f"stream.{role}.json")


class StatusBoard:
    """Keeps the stream's state and each query's last batch, written atomically as JSON."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._state: dict[str, Any] = {"pid": os.getpid(), "state": "starting", "queries": {}}

    def set_state(self, state: str, **extra: Any) -> None:
        with self._lock:
            self._state.update(state=state, updated_at=_now(), **extra)
            self._write()

    def record_progress(self, progress: dict[str, Any]) -> None:
        with self._lock:
            self._state["queries"][progress.get("name") or progress["id"]] = progress
            self._state["updated_at"] = _now()
            self._write()

    def record_batch(self, batch: dict[str, Any]) -> None:
        """The refine query's last ops.stream_batches row: lag, watermark, rows per table."""
        with self._lock:
            self._state["last_batch"] = batch
            self._state["updated_at"] = _now()
            self._write()

    def record_gold_batch(self, batch: dict[str, Any]) -> None:
        """The hot query's last ops.stream_batches row: how far gold has read Kafka."""
        with self._lock:
            self._state["last_gold_batch"] = batch
            self._state["updated_at"] = _now()
            self._write()

    def rates(self, query: str) -> tuple[float | None, float | None]:
        """Input and processed rows per second of `query`'s last progress report."""
        with self._lock:
            last = self._state["queries"].get(query) or {}
        return last.get("input_rows_per_s"), last.get("processed_rows_per_s")

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._state, indent=2, default=str))
        tmp.replace(self.path)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def batch_summary(progress: dict[str, Any]) -> dict[str, Any]:
    """The few numbers of a StreamingQueryProgress worth a log line and the status file."""
    duration = (progress.get("durationMs") or {}).get("triggerExecution")
    return {
        "name": progress.get("name"),
        "id": progress.get("id"),
        "batch_id": progress.get("batchId"),
        "rows": progress.get("numInputRows", 0),
        "input_rows_per_s": round(progress.get("inputRowsPerSecond") or 0.0, 1),
        "processed_rows_per_s": round(progress.get("processedRowsPerSecond") or 0.0, 1),
        "batch_duration_ms": duration,
        # Where the batch's time went: planning, the offset and commit logs, the batch itself.
        "duration_ms": {k: v for k, v in (progress.get("durationMs") or {}).items() if v},
        "timestamp": progress.get("timestamp"),
        "end_offsets": [s.get("endOffset") for s in progress.get("sources", [])],
    }


class ProgressWatch:
    """One log line per micro-batch, and the status file kept current, by polling the queries.

    Polled from the supervising loop rather than through a StreamingQueryListener: PySpark
    turns each listener event into Python field by field over py4j, and that conversion
    raised and translated several Java exceptions per batch, each a search of the class
    path, a measurable share of a one-second batch's CPU. A progress read here is one call.
    """

    def __init__(self, board: StatusBoard) -> None:
        self.board = board
        self._seen: dict[str, int] = {}

    def poll(self, name: str, query: StreamingQuery) -> None:
        last = query.lastProgress
        if last is None or self._seen.get(name, -1) >= last.batchId:
            return
        progresses = [last]
        if last.batchId > self._seen.get(name, last.batchId - 1) + 1:  # more than one since
            progresses = [p for p in query.recentProgress if p.batchId > self._seen[name]]
        for progress in progresses:
            self._report(json.loads(progress.json))
        self._seen[name] = last.batchId

    def _report(self, progress: dict[str, Any]) -> None:
        summary = batch_summary(progress)
        if summary["rows"]:
            parts = summary["duration_ms"]
            log.info(
                "batch %s of %s: %s rows in %s ms (%s rows/s; %s)",
                summary["batch_id"],
                summary["name"],
                summary["rows"],
                summary["batch_duration_ms"],
                summary["processed_rows_per_s"],
                ", ".join(f"{k} {v}" for k, v in parts.items() if k != "triggerExecution"),
            )
        self.board.record_progress(summary)


#: Failures a query is restarted after, from its checkpoint, instead of stopping the stream.
#: Spark 4.1.1's Kafka source throws this at the end of the first batch after a restart that
#: replays an unfinished batch (SPARK-55271, fixed after 4.1.1); the batch itself is written
#: and committed, so running the query again is safe and needed. A Delta append that meets a
#: concurrent change of the table's metadata (`rapport gdpr erase` lifts bronze's appendOnly
#: for its rewrite) fails before it commits; run again, it appends the same batch once.
RESTARTABLE = (
    "KafkaMicroBatchStream.metrics",
    'the return value of "scala.Option.get()" is null',
    "DELTA_METADATA_CHANGED",
)


#: What to do when a query stops for a reason an operator must act on: (markers, advice).
#: The advice goes into the log and the status file (`rapport stream status` shows it).
EXPLAINED = (
    (
        # Spark's error class when planning finds the gap; the fetch's message inside a batch.
        ("KAFKA_DATA_LOSS", "Some data may have been lost because they are not available"),
        "Kafka no longer holds records the stream has not read: the topic's retention (or a "
        "deletion) outran the stream, and the query stopped instead of skipping them "
        "(stream.fail_on_data_loss). Recover as docs/reliability.md#retention-overrun says: "
        "start the stream once with RAPPORT_STREAM__FAIL_ON_DATA_LOSS=false to go past the "
        "gap, wait until it has caught up, then load the lost days from the services' exports "
        "in the landing zone (`rapport backfill --from DAY --to DAY`).",
    ),
    (
        ("No space left on device",),
        "The disk under the lakehouse or the checkpoints is full; the batch was not committed "
        "and will run again. Free space, then `rapport stream start` (docs/reliability.md).",
    ),
    (
        ("Cannot reach the schema registry",),
        "A record names a schema no worker has fetched before, and the registry is down: "
        "start it (`rapport registry start`), then `rapport stream start`. Nothing was "
        "skipped: the batch runs again from its checkpoint.",
    ),
)


def explain_failure(error: str) -> str | None:
    """What an operator should do about a query's failure, when Rapport knows."""
    return next((advice for markers, advice in EXPLAINED if any(m in error for m in markers)), None)


class RestartBudget:
    """At most `limit` restarts per query within `window_s`, and only for known failures."""

    def __init__(self, limit: int = 3, window_s: float = 600.0) -> None:
        self.limit, self.window_s = limit, window_s
        self._times: dict[str, list[float]] = {}

    def allow(self, query: str, error: str) -> bool:
        if not any(marker in error for marker in RESTARTABLE):
            return False
        return self.take(query)

    def take(self, query: str) -> bool:
        """One restart of `query` (a query or a process), whatever the failure, if in budget."""
        now = time.monotonic()
        recent = [t for t in self._times.get(query, []) if now - t < self.window_s]
        if len(recent) >= self.limit:
            return False
        self._times[query] = [*recent, now]
        return True


def _die_with_parent() -> None:
    """In the background process before exec: SIGKILL when the hot process dies (Linux)."""

    pr_set_pdeathsig = 1
    # Not Linux: no such call; SIGTERM and a kill of the process group still stop it.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def _idle_priority() -> None:
    """SCHED_IDLE for this process and every thread it starts (the JVM's inherit it)."""
    with contextlib.suppress(OSError, AttributeError):  # not Linux: the nice value alone
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


#: The code cache a JVM reserves with its tiered compilers; C1 alone otherwise gets 48 MiB.
TIERED_CODE_CACHE = "-XX:ReservedCodeCacheSize=240m"


def stream_java_options(options: str) -> str:
    """The stream JVMs' options, with the tiered code cache whenever C1 runs alone.

    `-XX:TieredStopAtLevel=1` sizes the code cache as for no tiers (48 MiB), which a
    stream process filled within minutes ("Out of space in CodeCache", decision 0016):
    options that ask for C1 alone and name no code cache size get the tiered one.
    """
    words = options.split()
    if "-XX:TieredStopAtLevel=1" in words and not any(
        w.startswith("-XX:ReservedCodeCacheSize=") for w in words
    ):
        words.append(TIERED_CODE_CACHE)
    return " ".join(words)


def stream_spark(settings: Settings, role: str = HOT) -> Settings:
    """The settings a stream process builds its Spark session from: its own JVM's options
    and heap (`stream.driver_java_options`; `stream.driver_memory` for the hot process,
    `stream.background_driver_memory` for the background one)."""
    heap = (
        settings.stream.driver_memory if role == HOT else settings.stream.background_driver_memory
    )
    return settings.with_spark(
        driver_java_options=stream_java_options(settings.stream.driver_java_options),
        driver_memory=heap,
    )


def start_background(settings: Settings) -> subprocess.Popen[bytes]:
    """Start the background process (bronze and silver), at a low priority, dying with this one."""
    nice = settings.stream.background_nice
    idle = settings.stream.background_idle

    def prepare() -> None:
        _die_with_parent()
        if nice:
            os.nice(nice)
        if idle:
            _idle_priority()

    argv = [sys.executable, "-m", "streaming.runner", f"--state-dir={settings.state_dir}",
            f"--role={BACKGROUND}"]  # fmt: skip
    env = child_env(settings_env(settings))  # exactly these settings, whatever the env
    return subprocess.Popen(argv, env=env, preexec_fn=prepare)  # no threads run yet


def run(settings: Settings, role: str = HOT) -> int:
    """Run `role`'s queries until SIGTERM/SIGINT or a failure; returns an exit code.

    The hot process starts the background one first, restarts it when it fails (within the
    restart budget) and stops when it stops.
    """
    if role == BACKGROUND:  # its own Spark UI, next to the hot process's
        settings = settings.with_spark(ui_port=settings.spark.ui_port + 1)
    board = StatusBoard(status_file(settings, role))
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: stopping after the current batch", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    board.set_state("starting")
    background: subprocess.Popen[bytes] | None = None
    if role == HOT:
        status_file(settings, BACKGROUND).unlink(missing_ok=True)
        background = start_background(settings)
    spark = get_spark(stream_spark(settings, role), app_name=f"rapport-stream-{role}")
    progress = ProgressWatch(board)
    queries = ROLES[role]
    # The batch functions of this process's queries, kept across restarts of a query.
    starters: dict[str, Callable[[], Any]] = {}
    closers: list[Callable[[], None]] = []
    if GOLD_QUERY in queries:
        gold = GoldStream(settings, on_batch=board.record_gold_batch)
        starters[GOLD_QUERY] = lambda: start_gold_query(spark, gold)
        closers.append(gold.close)
    if BRONZE_QUERY in queries:
        starters[BRONZE_QUERY] = lambda: start_bronze_query(spark, settings)
    if REFINE_QUERY in queries:
        refiner = Refiner(
            settings, bronze_rates=lambda: board.rates(BRONZE_QUERY), on_batch=board.record_batch
        )
        starters[REFINE_QUERY] = lambda: start_refine_query(spark, refiner)
        closers.append(refiner.close)
    running = {name: start() for name, start in starters.items()}
    for name, query in running.items():
        log.info("query %s started (id %s)", name, query.id)
    board.set_state("running", queries_started=list(running))
    log.info("stream %s process running %s: %s -> %s", role, ", ".join(running),
             ", ".join(settings.kafka.event_topics), settings.lakehouse)  # fmt: skip
    exit_code = 0
    restarts = RestartBudget()
    try:
        while not stop.is_set():
            for name, query in list(running.items()):
                progress.poll(name, query)
                if query.isActive:
                    continue
                error = query.exception()
                if error is not None and restarts.allow(name, str(error)):
                    log.warning("query %s failed, restarting it from its checkpoint: %s",
                                name, error)  # fmt: skip
                    running[name] = starters[name]()
                    continue
                log.error("query %s terminated: %s", name, error)
                advice = explain_failure(str(error))
                if advice is not None:
                    log.error("what to do: %s", advice)
                board.set_state("failing", failed_query=name, advice=advice,
                                error=str(error)[:2000])  # fmt: skip
                exit_code = 1
                stop.set()
            if background is not None and background.poll() is not None and not stop.is_set():
                # A crash of bronze and silver (a JVM error, a kill) does not stop gold: the
                # process restarts, its queries resume from their checkpoints.
                code = background.returncode
                if code != 0 and restarts.take(BACKGROUND):
                    log.error("the background process (bronze, silver) exited with code %s: "
                              "restarting it", code)  # fmt: skip
                    background = start_background(settings)
                    continue
                log.error("the background process (bronze, silver) exited with code %s", code)
                exit_code = 1
                stop.set()
            time.sleep(0.5)
    finally:
        board.set_state("stopping")
        if background is not None and background.poll() is None:
            background.terminate()  # stops its queries beside ours
        for q in running.values():
            # stop() interrupts the running batch; Delta's commit is atomic, and the
            # checkpoint replays the batch on the next start, so nothing is lost or doubled.
            q.stop()
        for close in closers:
            close()
        spark.stop()
        if background is not None:
            try:
                background.wait(timeout=120)
            except subprocess.TimeoutExpired:
                log.error("the background process did not stop within 120 s: killed")
                background.kill()
                exit_code = 1
        board.set_state("stopped" if exit_code == 0 else "failed")
    return exit_code


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m streaming.runner`, used by the background service.

    Settings come from the environment (`rapport.settings.settings_env` puts them there);
    `--state-dir` is repeated on the command line so the process can be told apart.
    """

    parser = argparse.ArgumentParser(prog="python -m streaming.runner")
    parser.add_argument("--state-dir", type=Path, default=None)
    parser.add_argument("--role", choices=sorted(ROLES), default=HOT)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format=f"%(asctime)s %(levelname)s [{args.role}] %(name)s: %(message)s"
    )
    logging.getLogger("py4j").setLevel(logging.WARNING)  # one line per Java call otherwise
    logging.getLogger("kafka").setLevel(logging.WARNING)  # a line per connection
    settings = Settings(state_dir=args.state_dir) if args.state_dir else Settings()
    return run(settings, args.role)


if __name__ == "__main__":
    raise SystemExit(main())
