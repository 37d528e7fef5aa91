"""One stream through three faults in turn, counted against the ledger after each.

1. A producer whose clock runs a day ahead: its events carry times a day in the future,
   and its Kafka client stamps its records a day ahead too. The topics take the broker's
   clock instead (LogAppendTime), and an event time more than
   `stream.max_event_time_ahead_s` ahead of it goes to quarantine as `event_time_ahead`.
   Were they let in, the watermark would jump a day and every other producer's events
   would count as late.
2. The lakehouse's disk fills up while the others' next events wait in Kafka: the stream
   stops with a clear error, and resumes exactly once when space is back. The lakehouse
   and the checkpoints live on a small tmpfs of their own (mounting it needs root, as CI
   has; the test says so otherwise).
3. Retention outruns the stream: records it has not read yet are deleted from Kafka. Both
   queries that read Kafka stop with KAFKA_DATA_LOSS and say what to do, never skip them
   silently. The recovery of docs/reliability.md#retention-overrun then restores every
   figure: one run with fail_on_data_loss off goes past the gap, and the historical load of
   the days from the services' exports brings the lost events back, each exactly once.

One stream lives through all three, as a real one would, and each fault starts from the
state the one before left. (They were three tests, each with a stream and tables of its
own; together they cost half the time in `make test`.) The report's counts are the run's
totals after each fault.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import functions as F

from jobs.history import load_days
from rapport.contracts.catalog import default_catalog
from rapport.lakehouse.tables import (
    BRONZE_EVENTS,
    BRONZE_QUARANTINE,
    OPS_LATE_EVENTS,
    OPS_STREAM_BATCHES,
)
from rapport.runtime.kafka_offsets import end_offsets
from rapport.settings import Settings
from rapport.simulator.ledger import Ledger
from rapport.simulator.shop import Shop, ShopConfig
from rapport.simulator.wire import ChaosConfig, WireRecord, encode
from streaming.hot import GoldStream, start_gold_query
from streaming.ingest import start_bronze_query
from streaming.runner import explain_failure
from tests.helpers.chaos import Report, scale
from tests.helpers.ledger_checks import assert_tables_match, tally
from tests.helpers.streams import START, drain, run_stream, send, shop_records, times

pytestmark = [pytest.mark.kafka, pytest.mark.spark, pytest.mark.chaos]


# -- a producer's clock a day ahead ---------------------------------------------------------


def ahead_records(count: int) -> list[WireRecord]:
    """A day-ahead producer's events (a shop of its own), as the ledger must count them."""
    shop = Shop(ShopConfig(seed=99, run_tag="ahead"), default_catalog())
    start = datetime.now(UTC) + timedelta(days=1)
    events = [e for _, e in zip(range(count), shop.events(times(start, 500)), strict=False)]
    return [
        WireRecord(e.contract.domain, e.key.encode(), encode(e, {}), "malformed", reason="ahead")
        for e in events
    ]


def send_with_own_clock(settings: Settings, records: list[WireRecord], clock: datetime) -> None:
    """Produce as a client whose clock reads `clock`: it stamps its records with that time."""
    from confluent_kafka import Producer

    producer = Producer({**settings.kafka.librdkafka_config(), "acks": "all",
                         "enable.idempotence": True})  # fmt: skip
    failures: list[str] = []
    for r in records:
        producer.produce(
            settings.kafka.topics[r.domain].name, key=r.key, value=r.value,
            timestamp=int(clock.timestamp() * 1000),
            on_delivery=lambda err, _m: failures.append(str(err)) if err else None,
        )  # fmt: skip
    assert producer.flush(60) == 0
    assert not failures, failures[:3]


# -- a disk that fills up -------------------------------------------------------------------


@contextlib.contextmanager
def small_disk(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted at `folder`: a disk that can really fill up."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                             capture_output=True, text=True, check=False)  # fmt: skip
    if mounted.returncode != 0:
        pytest.fail(f"the disk-full scenario mounts a tmpfs and needs root: {mounted.stderr}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _write_until_full(path: Path, chunk: bytes) -> None:
    with path.open("ab", buffering=0) as out:
        while True:
            try:
                out.write(chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                return


def fill(disk: Path) -> Path:
    """Write a ballast file until the disk says ENOSPC; returns it (delete it to free space)."""
    ballast = disk / "ballast"
    _write_until_full(ballast, b"\0" * (1 << 20))
    _write_until_full(ballast, b"\0" * 4096)  # the last few kilobytes too
    free = os.statvfs(disk)
    assert free.f_bavail * free.f_frsize < 64 * 1024
    return ballast


# -- retention overrun ----------------------------------------------------------------------


def expire(settings: Settings, before: dict[Any, int]) -> None:
    """Delete every partition's records below the given offsets, as retention would."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(**settings.kafka.python_client_config())
    try:
        admin.delete_records(before)
    finally:
        admin.close()


def export(settings: Settings, records: list[WireRecord]) -> list[Any]:
    """The services' export of the events' days into the landing zone, one line per event."""
    lines: dict[Any, list[bytes]] = defaultdict(list)
    for r in records:
        if r.event is not None and r.kind == "event":
            lines[r.event.time.date()].append(r.value)
    for day, values in lines.items():
        folder = Path(settings.landing) / f"date={day.isoformat()}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "services-export.jsonl").write_bytes(b"\n".join(values) + b"\n")
    return sorted(lines)


def test_one_stream_through_a_day_ahead_clock_a_full_disk_and_a_retention_overrun(
    spark: Any, isolated: Any, schema_registry: Any, tmp_path: Path, chaos_report: Report
) -> None:
    with small_disk(tmp_path / "disk", "256m") as disk:
        settings = isolated(lake=disk, watermark_delay_s=600.0).model_copy(
            update={"landing_root": str(tmp_path / "landing")}
        )
        ledger = Ledger()
        # Duplicates stay within a minute of their original: none of them is late either.
        chaos = ChaosConfig(duplicates=0.03, duplicate_max_delay=50, malformed=0.02)
        calm = shop_records(seed=53, actions=scale(600, 3000), start=START, chaos=chaos)
        first, second = calm[: len(calm) // 2], calm[len(calm) // 2 :]
        last_calm = max(r.event.time for r in calm if r.event is not None)

        # 1. A producer a day ahead sends beside the others; the stream takes both.
        ahead = ahead_records(scale(60, 300))
        send(settings, first, ledger)
        send_with_own_clock(settings, ahead, datetime.now(UTC) + timedelta(days=1))
        for r in ahead:
            ledger.record(r)
        run_stream(spark, settings)

        # 2. The disk fills up while the others' next events, in order and on time, wait.
        ballast = fill(disk)
        send(settings, second, ledger)
        with pytest.raises(Exception, match="No space left on device") as failure:
            run_stream(spark, settings)
        advice = explain_failure(str(failure.value))
        assert advice is not None
        assert "Free space" in advice
        os.unlink(ballast)
        run_stream(spark, settings)

        counts = tally(spark, settings, ledger)
        quarantine = spark.read.format("delta").load(BRONZE_QUARANTINE.location(settings))
        held = quarantine.where(F.col("reason").startswith("event_time_ahead: ")).count()
        late = spark.read.format("delta").load(OPS_LATE_EVENTS.location(settings)).count()
        batches = spark.read.format("delta").load(OPS_STREAM_BATCHES.location(settings))
        newest = batches.agg(F.max("max_event_time")).first()[0]
        stamps = (
            spark.read.format("delta").load(BRONZE_EVENTS.location(settings))
            .agg(F.min("kafka_timestamp"), F.max("kafka_timestamp")).first()
        )  # fmt: skip
        chaos_report("producer clock a day ahead", counts, held_aside=held, late_events=late,
                     newest_event_time=newest)  # fmt: skip
        chaos_report("lakehouse disk full", counts, failed_with="No space left on device")
        assert held == len(ahead)
        assert late == 0, "a day-ahead clock made other producers' events late"
        assert newest is not None
        assert newest.replace(tzinfo=UTC) <= last_calm, (newest, last_calm)
        # The broker's clock stamped every record, not the producer's (LogAppendTime).
        assert stamps[1].replace(tzinfo=UTC) < datetime.now(UTC) + timedelta(minutes=1), stamps
        assert (counts.lost, counts.duplicated) == (0, 0), counts
        assert counts.quarantined == counts.to_quarantine, counts

        # 3. Retention deletes half of what the stream has not read yet.
        after = last_calm + timedelta(minutes=1)
        behind = shop_records(seed=41, actions=scale(800, 4000), start=after, chaos=ChaosConfig())
        read = end_offsets(settings)
        send(settings, behind, ledger)
        written = end_offsets(settings)
        expire(settings, {tp: read[tp] + (written[tp] - read[tp]) // 2 for tp in read})

        # Both queries that read Kafka stop, and say what to do.
        gold = GoldStream(settings)
        starts: list[Callable[[], Any]] = [
            lambda: start_gold_query(spark, gold),
            lambda: start_bronze_query(spark, settings),
        ]
        for start in starts:
            with pytest.raises(
                Exception, match=r"KAFKA_DATA_LOSS|Some data may have been lost"
            ) as failure:
                drain(start())
            assert explain_failure(str(failure.value)) is not None
        gold.close()

        # Recovery, as documented: past the gap once, then the lost days from the exports.
        past_the_gap = settings.model_copy(
            update={"stream": settings.stream.model_copy(update={"fail_on_data_loss": False})}
        )
        run_stream(spark, past_the_gap)
        gap = tally(spark, settings, ledger)
        days = export(settings, behind)
        load_days(spark, settings, days)

        counts = tally(spark, settings, ledger)
        chaos_report("retention overrun + recovery", counts, lost_before_recovery=gap.lost,
                     days_reloaded=len(days))  # fmt: skip
        assert gap.lost > 0, "the deletion should have cost the stream events"
        assert (counts.lost, counts.duplicated) == (0, 0), counts
        assert counts.quarantined == counts.to_quarantine, counts
        assert_tables_match(spark, settings, ledger)
