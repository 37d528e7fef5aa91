"""How fresh each of the stream's tables is: complete up to T, n seconds behind, SLA met or not.

"Behind" is how long the oldest event the stream has not yet written has been waiting in
Kafka: the newest ops.stream_batches row says which offset each partition was processed to,
Kafka says where each partition ends, and the first unprocessed record's timestamp says
since when it waits. Nothing waiting means 0 seconds behind, however quiet the shop is; a
stopped stream with events arriving falls behind by the second. The hot query writes most of
gold and the silver query the rest, each at its own pace, so each table is measured against
the query that writes it (`rapport.lakehouse.ownership.feeding_query`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from quality.slas import Slas, StreamSla
from rapport.lakehouse.delta_log import last_stream_batch
from rapport.lakehouse.ownership import feeding_query
from rapport.settings import Settings


@dataclass(frozen=True)
class StreamPosition:
    """Where the stream was at its newest batch."""

    finished_at: datetime | None
    #: The watermark: gold rows are complete for events up to here.
    complete_up_to: datetime | None
    newest_event: datetime | None
    #: Next offset to process per (topic, partition).
    processed: Mapping[tuple[str, int], int]


@dataclass(frozen=True)
class Freshness:
    """One table's freshness against its SLA at `measured_at`."""

    table: str
    measured_at: datetime
    behind_s: float | None
    sla_s: float
    complete_up_to: datetime | None
    last_batch_at: datetime | None
    #: Why behind_s is unknown (Kafka unreachable, no batch yet), else None.
    unknown_because: str | None = None

    @property
    def met(self) -> bool | None:
        """True or False against the SLA; None when it could not be measured."""
        return None if self.behind_s is None else self.behind_s <= self.sla_s

    def describe(self) -> str:
        """The sentence a report or alert shows."""
        upto = self.complete_up_to.isoformat(timespec="seconds") if self.complete_up_to else "-"
        if self.behind_s is None:
            return f"complete up to {upto}; lag unknown ({self.unknown_because})"
        verdict = "met" if self.met else "BREACHED"
        return (
            f"complete up to {upto}, {self.behind_s:.0f} s behind, SLA {self.sla_s:.0f} s {verdict}"
        )


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def position_of(batch: Mapping[str, Any] | None) -> StreamPosition | None:
    """The stream's position from its newest ops.stream_batches row (None: never ran)."""
    if batch is None:
        return None
    processed = {
        (lag["topic"], int(lag["partition"])): int(lag["processed_offset"])
        for lag in batch.get("kafka_lag") or []
        if lag.get("processed_offset") is not None
    }
    return StreamPosition(
        finished_at=_utc(batch.get("finished_at")),
        complete_up_to=_utc(batch.get("watermark")),
        newest_event=_utc(batch.get("max_event_time")),
        processed=processed,
    )


def behind_seconds(
    now: datetime,
    ends: Mapping[tuple[str, int], int],
    processed: Mapping[tuple[str, int], int],
    waiting_since: Mapping[tuple[str, int], datetime],
) -> float:
    """Age of the oldest waiting event: 0 when every partition is processed to its end.

    `waiting_since` holds the timestamp of the first unprocessed record of the partitions
    that have one; a partition with a lag but no timestamp (the record was deleted by
    retention) counts from the batch it was last seen in, which the caller folds in.
    """
    ages = [
        (now - waiting_since[tp]).total_seconds()
        for tp, end in ends.items()
        if end > processed.get(tp, 0) and tp in waiting_since
    ]
    return max([0.0, *ages])


#: A probe must answer fast when Kafka is down (kafka-python waits 30 s by default).
BOOTSTRAP_TIMEOUT_MS = 5000


def kafka_positions(
    settings: Settings, processed: Mapping[tuple[str, int], int]
) -> tuple[dict[tuple[str, int], int], dict[tuple[str, int], datetime]]:
    """Kafka's end offsets of the event topics, and the timestamp of the first record not yet
    processed in each partition that has one (one short-lived consumer for both)."""
    from kafka import KafkaConsumer

    from rapport.runtime.kafka_offsets import consumer_end_offsets

    consumer = KafkaConsumer(
        **settings.kafka.python_client_config(),
        enable_auto_commit=False,
        bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS,
    )
    try:
        ends = {
            (tp.topic, tp.partition): int(offset)
            for tp, offset in consumer_end_offsets(consumer, settings.kafka.event_topics).items()
        }
        return ends, _first_unprocessed(consumer, ends, processed)
    finally:
        consumer.close()


def _first_unprocessed(
    consumer: Any, ends: Mapping[tuple[str, int], int], processed: Mapping[tuple[str, int], int]
) -> dict[tuple[str, int], datetime]:
    from kafka import TopicPartition

    lagging = {tp: processed.get(tp, 0) for tp, end in ends.items() if end > processed.get(tp, 0)}
    if not lagging:
        return {}
    partitions = {TopicPartition(t, p): offset for (t, p), offset in lagging.items()}
    consumer.assign(list(partitions))
    starts = consumer.beginning_offsets(list(partitions))
    for tp, offset in partitions.items():
        consumer.seek(tp, max(offset, int(starts.get(tp, 0))))
    found: dict[tuple[str, int], datetime] = {}
    deadline = time.monotonic() + 10
    while len(found) < len(partitions) and time.monotonic() < deadline:
        for tp, records in consumer.poll(timeout_ms=500, max_records=50).items():
            key = (tp.topic, tp.partition)
            if records and key not in found:
                found[key] = datetime.fromtimestamp(records[0].timestamp / 1000, UTC)
                consumer.pause(tp)
    return found


def stream_freshness(
    settings: Settings, slas: Slas, now: datetime | None = None
) -> list[Freshness]:
    """Every stream table with an SLA, measured now against the query that writes it.

    The hot query (most of gold) and the silver query read Kafka at their own pace, so each
    has its own position; one Kafka probe and one Delta read per query.
    """
    now = now or datetime.now(UTC)
    measured: dict[str, tuple[StreamPosition | None, float | None, str | None]] = {}
    for query in sorted({feeding_query(sla.table) for sla in slas.stream}):
        position = position_of(last_stream_batch(settings, now.date(), query))
        behind: float | None = None
        unknown: str | None = None
        processed = position.processed if position else {}
        try:
            ends, waiting = kafka_positions(settings, processed)
            behind = behind_seconds(now, ends, processed, waiting)
        except Exception as exc:  # Kafka down: the SLA cannot be measured, which is reported
            unknown = f"Kafka unreachable ({exc})"
        measured[query] = (position, behind, unknown)
    found = []
    for sla in slas.stream:
        position, behind, unknown = measured[feeding_query(sla.table)]
        found.append(_freshness(sla, now, behind, unknown, position))
    return found


def _freshness(
    sla: StreamSla,
    now: datetime,
    behind: float | None,
    unknown: str | None,
    position: StreamPosition | None,
) -> Freshness:
    return Freshness(
        table=sla.table,
        measured_at=now,
        behind_s=behind,
        sla_s=sla.max_behind_s,
        complete_up_to=position.complete_up_to if position else None,
        last_batch_at=position.finished_at if position else None,
        unknown_because=unknown,
    )
