"""Kafka -> bronze.events with a real broker, real Spark and a real Delta table, exactly once."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from rapport.lakehouse.tables import BRONZE_EVENTS
from rapport.settings import Settings
from streaming.ingest import start_bronze_query

pytestmark = [pytest.mark.spark, pytest.mark.kafka]


def send(settings: Settings, topic: str, values: list[bytes]) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(
        **settings.kafka.python_client_config(), acks="all", enable_idempotence=True
    )
    try:
        for v in values:
            producer.send(topic, v)
        producer.flush(timeout=30)
    finally:
        producer.close()


def run_once(spark: Any, settings: Settings) -> None:
    query = start_bronze_query(spark, settings)
    try:
        query.processAllAvailable()
    finally:
        query.stop()


def test_records_land_once_even_when_the_query_restarts(
    spark: Any, settings: Settings, kafka_broker: Any
) -> None:
    run_id = uuid.uuid4().hex
    first = [
        json.dumps({"id": f"{run_id}-{i}", "type": "CustomerLoggedIn"}).encode() for i in range(50)
    ]
    send(settings, settings.kafka.topics["customers"].name, [*first, b"\x00 not json"])
    run_once(spark, settings)

    def count(pattern: str) -> int:
        return int(
            spark.read.format("delta")
            .load(BRONZE_EVENTS.location(settings))
            .where(f"cast(value as string) like '{pattern}'")
            .count()
        )

    assert count(f'%"{run_id}-%') == 50
    assert count("%not json") >= 1

    # Restart from the same checkpoint with nothing new: nothing is written again.
    before = spark.sql("SELECT count(*) FROM bronze.events").first()[0]
    run_once(spark, settings)
    assert spark.sql("SELECT count(*) FROM bronze.events").first()[0] == before

    # New records after the restart are picked up from where the query left off.
    second = [json.dumps({"id": f"{run_id}-b{i}"}).encode() for i in range(20)]
    send(settings, settings.kafka.topics["billing"].name, second)
    run_once(spark, settings)
    assert count(f'%"{run_id}-%') == 70
    offsets = spark.sql(
        "SELECT topic, partition, offset, count(*) AS n FROM bronze.events "
        "GROUP BY topic, partition, offset HAVING n > 1"
    ).collect()
    assert offsets == []  # no Kafka record is in bronze twice
