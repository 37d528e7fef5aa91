"""One writer among the registry instances that share a topic, elected through Kafka.

Two instances deciding writes at once could hand out the same id or version. So, as
Confluent's instances elect a leader, every instance joins the consumer group
`<topic>.writers`, subscribed to the registry topic (one partition); Kafka's group
coordinator gives that partition to exactly one member, and that member writes. The others
forward writes to it (`registry.api`). The writer announces its URL in the topic (a LEADER
record, `registry.store`), so every instance knows where to forward. When the writer stops
or dies, its session ends, the group rebalances and another instance takes over.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from rapport.settings import Settings

log = logging.getLogger("rapport.registry")

#: Heartbeats keep the membership; a writer that stops answering is replaced after this long.
SESSION_TIMEOUT_MS = 10_000


class WriterElection:
    """Membership in the writers' group; `is_writer` while this instance holds the partition."""

    def __init__(self, settings: Settings, on_elected: Callable[[], None]) -> None:
        self.settings = settings
        self.group = f"{settings.registry.topic}.writers"
        self._on_elected = on_elected
        self._writer = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._consumer: Any = None

    @property
    def is_writer(self) -> bool:
        return self._writer.is_set()

    def start(self) -> None:
        from kafka import ConsumerRebalanceListener, KafkaConsumer

        election = self

        class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
            def on_partitions_revoked(self, revoked: Any) -> None:
                if election._writer.is_set():
                    log.info("registry: no longer the writer of %s", election.group)
                election._writer.clear()

            def on_partitions_assigned(self, assigned: Any) -> None:
                if assigned:
                    election._writer.set()
                    log.info("registry: elected the writer of %s", election.group)
                    election._on_elected()

        self._consumer = KafkaConsumer(
            **self.settings.kafka.python_client_config(),
            group_id=self.group,
            enable_auto_commit=False,
            auto_offset_reset="latest",
            session_timeout_ms=SESSION_TIMEOUT_MS,
            heartbeat_interval_ms=SESSION_TIMEOUT_MS // 5,
            max_poll_records=1,
            client_id="rapport-registry-election",
        )
        self._consumer.subscribe([self.settings.registry.topic], listener=Listener())
        self._thread = threading.Thread(
            target=self._run, name=f"election-{self.group}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        """Poll, so that the group sees this member alive; the records themselves are unused."""
        while not self._stop.is_set():
            try:
                self._consumer.poll(timeout_ms=500)
            except Exception as exc:  # a broker outage: no writer here until it is back
                if self._stop.is_set():
                    return
                self._writer.clear()
                log.warning("registry election in %s failed: %s", self.group, exc)
                self._stop.wait(1.0)

    def stop(self) -> None:
        """Leave the group at once (the next member takes over without waiting a timeout)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._writer.clear()
        if self._consumer is not None:
            try:
                self._consumer.close()
            except Exception:
                log.debug("closing the election consumer failed", exc_info=True)
            self._consumer = None
