"""Retention outruns the stream: the query stops loudly, and the documented recovery is exact.

Records the stream has not read yet are deleted from Kafka (what retention does to a stream
that fell behind it). The stream must stop with KAFKA_DATA_LOSS and say what to do, never
skip them silently. The recovery of docs/reliability.md#retention-overrun then restores
every figure: one run with fail_on_data_loss off goes past the gap, and the historical load
of the days from the services' exports brings the lost events back, each exactly once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from jobs.history import load_days
from rapport.settings import Settings
from rapport.simulator.ledger import Ledger
from rapport.simulator.wire import ChaosConfig, WireRecord
from streaming.hot import GoldStream, start_gold_query
from streaming.ingest import start_bronze_query
from streaming.runner import explain_failure
from tests.helpers.chaos import Report, scale
from tests.helpers.ledger_checks import assert_tables_match, tally
from tests.helpers.streams import START, drain, run_stream, send, shop_records

pytestmark = [pytest.mark.kafka, pytest.mark.spark, pytest.mark.chaos]


def end_offsets(settings: Settings) -> dict[Any, int]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(**settings.kafka.python_client_config())
    try:
        parts = [
            TopicPartition(t, p)
            for t in settings.kafka.event_topics
            for p in consumer.partitions_for_topic(t) or ()
        ]
        return dict(consumer.end_offsets(parts))
    finally:
        consumer.close()


def expire(settings: Settings, before: dict[Any, int]) -> int:
    """Delete every partition's records below the given offsets, as retention would."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(**settings.kafka.python_client_config())
    try:
        admin.delete_records(before)
    finally:
        admin.close()
    return len(before)


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


def test_retention_overrun_stops_the_stream_loudly_and_the_recovery_is_exact(
    spark: Any, isolated: Any, schema_registry: Any, tmp_path: Path, chaos_report: Report
) -> None:
    settings = isolated(watermark_delay_s=600.0).model_copy(
        update={"landing_root": str(tmp_path / "landing")}
    )
    records = shop_records(seed=41, actions=scale(800, 4000), start=START, chaos=ChaosConfig())
    first, second = records[: len(records) // 2], records[len(records) // 2 :]
    ledger = Ledger()
    send(settings, first, ledger)
    run_stream(spark, settings)

    read = end_offsets(settings)
    send(settings, second, ledger)
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
    days = export(settings, second)
    load_days(spark, settings, days)

    counts = tally(spark, settings, ledger)
    chaos_report("retention overrun + recovery", counts, lost_before_recovery=gap.lost,
                 days_reloaded=len(days))  # fmt: skip
    assert gap.lost > 0, "the deletion should have cost the stream events"
    assert (counts.lost, counts.duplicated) == (0, 0), counts
    assert counts.quarantined == counts.to_quarantine
    assert_tables_match(spark, settings, ledger)
