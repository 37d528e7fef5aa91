"""Feed the shop's events to Kafka and run the stream's queries until they have drained."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from rapport.contracts.catalog import default_catalog
from rapport.lakehouse.ownership import BRONZE_QUERY, GOLD_QUERY, REFINE_QUERY
from rapport.settings import Settings
from rapport.simulator.ledger import Ledger
from rapport.simulator.shop import Shop, ShopConfig
from rapport.simulator.wire import ChaosConfig, WireRecord, wire_records
from registry.producer import EventProducer
from streaming.hot import GoldStream, start_gold_query
from streaming.ingest import start_bronze_query, start_refine_query
from streaming.refine import Refiner
from streaming.runner import RestartBudget

START = datetime(2026, 3, 1, 23, 0, tzinfo=UTC)  # the run crosses midnight: two days


def times(start: datetime, step_ms: int) -> Iterator[datetime]:
    at = start
    while True:
        yield at
        at += timedelta(milliseconds=step_ms)


def shop_records(seed: int, actions: int, start: datetime, chaos: ChaosConfig) -> list[WireRecord]:
    shop = Shop(ShopConfig(seed=seed, run_tag=f"r{seed}", v2_share=0.3), default_catalog())
    events = shop.events(times(start, 500))
    return list(
        wire_records((e for _, e in zip(range(actions), events, strict=False)), chaos, seed)
    )


def send(settings: Settings, records: Iterable[WireRecord], ledger: Ledger) -> None:
    topics = {d: settings.kafka.topics[d].name for d in default_catalog().domains()}
    with EventProducer(settings, transport="librdkafka") as producer:
        for r in records:
            producer.send_raw(topics[r.domain], r.key, r.value, r.reason or "event")
            ledger.record(r)


def produce_paced(
    settings: Settings, records: list[WireRecord], per_second: float, timeout_ms: int = 120_000
) -> tuple[list[WireRecord], list[tuple[WireRecord, str]]]:
    """Send at about `per_second`, acks=all with idempotence: (acknowledged, failed+error)."""
    from confluent_kafka import Producer

    producer = Producer({**settings.kafka.librdkafka_config(), "acks": "all",
                         "enable.idempotence": True, "message.timeout.ms": timeout_ms,
                         "partitioner": "murmur2_random", "linger.ms": 5})  # fmt: skip
    acked: list[WireRecord] = []
    failed: list[tuple[WireRecord, str]] = []
    started = time.monotonic()
    for n, record in enumerate(records):

        def done(error: Any, _message: Any, record: WireRecord = record) -> None:
            if error is None:
                acked.append(record)
            else:
                failed.append((record, str(error)))

        producer.produce(settings.kafka.topics[record.domain].name, key=record.key,
                         value=record.value, on_delivery=done)  # fmt: skip
        producer.poll(0)
        pause = started + n / per_second - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    remaining = producer.flush(timeout_ms / 1000 + 30)
    assert remaining == 0, f"{remaining} records neither acknowledged nor failed"
    return acked, failed


def drain(query: Any, *closing: Any) -> None:
    """Run a started query until it has processed everything available; then stop it."""
    try:
        query.processAllAvailable()
    finally:
        query.stop()
        for resource in closing:
            resource.close()


def drain_restarting(name: str, start: Callable[[], Any], *closing: Any) -> None:
    """`drain`, restarting the query after the failures the stream's runner restarts it
    after (`streaming.runner.RESTARTABLE`), as often as the runner would."""
    budget = RestartBudget()
    try:
        while True:
            try:
                drain(start())
                return
            except Exception as exc:
                if not budget.allow(name, str(exc)):
                    raise
    finally:
        for resource in closing:
            resource.close()


def run_stream(spark: Any, settings: Settings) -> None:
    """The three queries, one after the other, each until it has processed everything."""
    gold = GoldStream(settings)
    drain_restarting(GOLD_QUERY, lambda: start_gold_query(spark, gold), gold)
    drain_restarting(BRONZE_QUERY, lambda: start_bronze_query(spark, settings))
    refiner = Refiner(settings)
    drain_restarting(REFINE_QUERY, lambda: start_refine_query(spark, refiner), refiner)
