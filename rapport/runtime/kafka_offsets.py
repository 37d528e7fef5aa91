"""Positions in Kafka: the end offsets of the event topics, and the records between two positions.

Benchmarks and tests use them to compare what is in Kafka with what a ledger says was sent;
stream lag (end offsets against processed offsets) is the same arithmetic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rapport.settings import Settings


def consumer_end_offsets(consumer: Any, names: Iterable[str]) -> dict[Any, int]:
    """Next offset per TopicPartition of the topics `names`, through an open consumer."""
    from kafka import TopicPartition

    partitions = [
        TopicPartition(name, p)
        for name in names
        for p in sorted(consumer.partitions_for_topic(name) or ())
    ]
    return dict(consumer.end_offsets(partitions))


def end_offsets(settings: Settings, topics: Iterable[str] | None = None) -> dict[Any, int]:
    """Next offset per TopicPartition of `topics` (default: every event topic)."""
    from kafka import KafkaConsumer

    names = list(topics) if topics is not None else settings.kafka.event_topics
    consumer = KafkaConsumer(**settings.kafka.python_client_config())
    try:
        return consumer_end_offsets(consumer, names)
    finally:
        consumer.close()


class EndOffsetWatcher:
    """A long-lived client for end offsets: the stream asks once per batch, cheaply."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._consumer: Any = None

    def end_offsets(self) -> dict[tuple[str, int], int]:
        """Next offset per (topic, partition) of every event topic."""
        from kafka import KafkaConsumer

        if self._consumer is None:
            self._consumer = KafkaConsumer(**self.settings.kafka.python_client_config())
        ends = consumer_end_offsets(self._consumer, self.settings.kafka.event_topics)
        return {(tp.topic, tp.partition): int(offset) for tp, offset in ends.items()}

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None


def records_between(
    settings: Settings, start: Mapping[Any, int], end: Mapping[Any, int]
) -> list[Any]:
    """Every record from `start` (inclusive) to `end` (exclusive), partition by partition."""
    from kafka import KafkaConsumer

    wanted = {tp: (start.get(tp, 0), last) for tp, last in end.items() if last > start.get(tp, 0)}
    remaining = sum(last - first for first, last in wanted.values())
    if not remaining:
        return []
    consumer = KafkaConsumer(
        **settings.kafka.python_client_config(), consumer_timeout_ms=10_000, max_poll_records=5000
    )
    found: list[Any] = []
    try:
        consumer.assign(list(wanted))
        for tp, (first, _) in wanted.items():
            consumer.seek(tp, first)
        for record in consumer:
            if record.offset < wanted[(record.topic, record.partition)][1]:
                found.append(record)
                remaining -= 1
                if remaining == 0:
                    break
    finally:
        consumer.close()
    return found
