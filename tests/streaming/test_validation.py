"""Validation in Spark: the same verdicts as `classify`, and every bad record in quarantine once."""

from __future__ import annotations

import pickle
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rapport.contracts.catalog import default_catalog
from rapport.contracts.classify import classify
from rapport.lakehouse.tables import BRONZE_QUARANTINE
from rapport.runtime.kafka_offsets import end_offsets
from rapport.settings import Settings
from rapport.simulator.ledger import Ledger
from rapport.simulator.shop import Shop, ShopConfig
from rapport.simulator.wire import ChaosConfig, wire_records
from registry.producer import EventProducer
from registry.resolver import RegistryResolver
from streaming.hot import hot_events
from streaming.increments import GOLD_TYPES
from streaming.validation import HOT_CARRY, PASSWORD_ENV, WorkerRegistry, classify_bronze
from tests.helpers.streams import run_stream

pytestmark = [pytest.mark.spark, pytest.mark.kafka]
KAFKA_TIME = datetime(2026, 3, 1, tzinfo=UTC)


def chaos_records(seed: int, actions: int) -> list[Any]:
    from rapport.simulator.history import action_times

    shop = Shop(ShopConfig(seed=seed, run_tag=f"v{seed}", v2_share=0.3), default_catalog())
    events = shop.events(action_times(KAFKA_TIME.date(), 1, actions, seed))
    chaos = ChaosConfig(duplicates=0.05, malformed=0.1, unknown_types=0.05)
    return list(wire_records(events, chaos, seed))


def test_spark_verdicts_equal_classify(
    spark: Any, settings: Settings, schema_registry: Any
) -> None:
    from streaming.bronze import to_bronze, unread

    records = chaos_records(seed=31, actions=300)
    rows: list[tuple[Any, ...]] = [
        # The broker takes the day's records at its end: none runs ahead of its clock.
        (r.key, r.value, "rapport.orders.events", 0, i, KAFKA_TIME + timedelta(days=1), 0, [])
        for i, r in enumerate(records)
    ]
    kafka = spark.createDataFrame(
        rows,
        "key binary, value binary, topic string, partition int, offset long, timestamp timestamp,"
        " timestampType int, headers array<struct<key:string,value:binary>>",
    )
    verdicts = {r.offset: r for r in classify_bronze(to_bronze(kafka), settings).collect()}
    # The hot path's records, whose envelope the JVM never reads: the same verdicts, and a
    # valid event's time and date from classify, as in bronze's.
    hot_rows = classify_bronze(unread(kafka), settings, HOT_CARRY, stamp_ingest=True)
    assert not {"key", "value"} & set(hot_rows.columns)
    hot = {r.offset: r for r in hot_rows.collect()}
    resolver = RegistryResolver(schema_registry, default_catalog())
    assert len(verdicts) == len(hot) == len(records)
    for i, record in enumerate(records):
        expected = classify(record.value, resolver)
        for got in (verdicts[i], hot[i]):
            assert (got.valid, got.reason, got.event_id) == (
                expected.valid,
                expected.reason,
                expected.event_id,
            )
            assert got.valid == (record.kind in ("event", "duplicate"))
            if got.valid:
                assert got.schema_id == expected.schema_id is not None
                assert expected.event_time is not None
                utc = expected.event_time.astimezone(UTC)
                assert got.event_time.replace(tzinfo=UTC) == utc  # the session's zone is UTC
                assert got.event_date == utc.date()
        assert hot[i].ingest_time is not None  # stamped by the worker, not by Spark
        if not expected.valid:
            assert hot[i].event_time is None
            assert hot[i].event_date is None
    # The hot query hands on every valid event, of every type: a partition of logins alone
    # must still move gold's complete_up_to (streaming.hot).
    handed = hot_events(kafka, settings).select("event_id", "event_type").collect()
    valid = [v for v in verdicts.values() if v.valid]
    assert sorted(r.event_id for r in handed) == sorted(v.event_id for v in valid)
    assert {r.event_type for r in handed} - GOLD_TYPES, "the records hold no type gold leaves out"


def test_every_bad_record_is_quarantined_once_with_its_reason(
    spark: Any, settings: Settings, schema_registry: Any
) -> None:
    start = end_offsets(settings)
    records = chaos_records(seed=32, actions=600)
    ledger = Ledger()
    topics = {d: settings.kafka.topics[d].name for d in default_catalog().domains()}
    with EventProducer(settings, transport="librdkafka") as producer:
        for r in records:
            producer.send_raw(topics[r.domain], r.key, r.value, r.reason or "event")
            ledger.record(r)
    bad = ledger.sent["malformed"] + ledger.sent["unknown_type"]
    assert bad > 0

    def run_both() -> None:
        run_stream(spark, settings)

    def quarantined_now() -> list[Any]:
        rows = spark.read.format("delta").load(BRONZE_QUARANTINE.location(settings)).collect()
        return [r for r in rows if r.offset >= start[(r.topic, r.partition)]]

    run_both()
    rows = quarantined_now()
    assert len(rows) == bad
    reasons = Counter(r.reason.split(":")[0] for r in rows)
    assert reasons["unknown_event_type"] == ledger.sent["unknown_type"]
    assert set(reasons) <= {
        "not_json", "invalid_payload", "missing_envelope_attribute", "unknown_event_type",
    }  # fmt: skip
    assert all(r.value is not None or r.reason == "empty_value" for r in rows)

    run_both()  # again, from the checkpoints: nothing is quarantined twice
    assert len(quarantined_now()) == bad


def test_the_workers_get_plain_values_and_never_the_password(
    spark: Any, settings: Settings
) -> None:
    from pydantic import SecretStr

    from streaming.bronze import to_bronze

    secret = "s3cr3t-registry-password"
    guarded = settings.model_copy(
        update={
            "registry": settings.registry.model_copy(
                update={"username": "rapport", "password": SecretStr(secret)}
            )
        }
    )
    kafka = spark.createDataFrame(
        [(b"k", b"{}", "t", 0, 0, KAFKA_TIME, 0, [])],
        "key binary, value binary, topic string, partition int, offset long, timestamp timestamp,"
        " timestampType int, headers array<struct<key:string,value:binary>>",
    )
    try:
        verdicts = classify_bronze(to_bronze(kafka), guarded)
        shipped = WorkerRegistry.of(guarded)
        assert secret.encode() not in pickle.dumps(shipped)
        assert shipped.username == "rapport"
        assert secret not in verdicts._jdf.queryExecution().toString()
        assert spark.sparkContext.environment[PASSWORD_ENV] == secret
    finally:
        spark.sparkContext.environment.pop(PASSWORD_ENV, None)
