"""A producer whose clock runs a day ahead: its events are held aside, nobody else is late.

Its events carry times a day in the future, and its Kafka client stamps its records a day
ahead too. The topics take the broker's clock instead (LogAppendTime), and an event time
more than `stream.max_event_time_ahead_s` ahead of it goes to quarantine as
`event_time_ahead`. Were they let in, the watermark would jump a day and every other
producer's events would count as late.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pyspark.sql import functions as F

from rapport.contracts.catalog import default_catalog
from rapport.lakehouse.tables import (
    BRONZE_EVENTS,
    BRONZE_QUARANTINE,
    OPS_LATE_EVENTS,
    OPS_STREAM_BATCHES,
)
from rapport.settings import Settings
from rapport.simulator.ledger import Ledger
from rapport.simulator.shop import Shop, ShopConfig
from rapport.simulator.wire import ChaosConfig, WireRecord, encode
from tests.helpers.chaos import Report, scale
from tests.helpers.ledger_checks import assert_tables_match, tally
from tests.helpers.streams import START, run_stream, send, shop_records, times

pytestmark = [pytest.mark.kafka, pytest.mark.spark, pytest.mark.chaos]


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


def test_events_from_a_clock_a_day_ahead_are_quarantined_and_move_no_watermark(
    spark: Any, isolated: Any, schema_registry: Any, chaos_report: Report
) -> None:
    settings = isolated(watermark_delay_s=600.0)
    ledger = Ledger()
    calm = shop_records(seed=31, actions=scale(600, 3000), start=START, chaos=ChaosConfig())
    first, second = calm[: len(calm) // 2], calm[len(calm) // 2 :]
    ahead = ahead_records(scale(60, 300))

    send(settings, first, ledger)
    send_with_own_clock(settings, ahead, datetime.now(UTC) + timedelta(days=1))
    for r in ahead:
        ledger.record(r)
    run_stream(spark, settings)
    # The others' next events, in order and on time: none may be late now.
    send(settings, second, ledger)
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

    assert held == len(ahead)
    assert late == 0, "a day-ahead clock made other producers' events late"
    last_calm = max(r.event.time for r in calm if r.event is not None)
    assert newest is not None
    assert newest.replace(tzinfo=UTC) <= last_calm, (newest, last_calm)
    # The broker's clock stamped every record, not the producer's (LogAppendTime).
    assert stamps[1].replace(tzinfo=UTC) < datetime.now(UTC) + timedelta(minutes=1), stamps
    assert (counts.lost, counts.duplicated, counts.quarantined) == (0, 0, counts.to_quarantine)
    assert_tables_match(spark, settings, ledger)
