"""The producer library against a real broker and the real registry."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from contracts.validation import InvalidEventError
from lakehouse.settings import Settings
from publishing.producer import DeliveryError, EventProducer, UnregisteredContractError

pytestmark = pytest.mark.kafka


def order(order_id: str) -> dict[str, Any]:
    return {
        "order_id": order_id, "customer_id": "c-1", "currency": "EUR", "channel": "web",
        "region": "eu-west", "warehouse": "WH-AMS", "total": "21.00",
        "lines": [{"sku": "SKU-10001", "quantity": 2, "unit_price": "10.50", "category": "home"}],
    }  # fmt: skip


def read_back(settings: Settings, topic: str, partition: int, offset: int) -> Any:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(**settings.kafka.python_client_config(), consumer_timeout_ms=10_000)
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        return next(iter(consumer))
    finally:
        consumer.close()


def test_publish_validates_envelopes_and_keys_by_entity(
    settings: Settings, schema_registry: Any
) -> None:
    order_id = f"o-{uuid.uuid4().hex[:8]}"
    with EventProducer(settings) as producer:
        meta = producer.publish("OrderPlaced", order(order_id), version=1).get(timeout=30)
        expected_id = producer.schema_id(producer.catalog.get("OrderPlaced", 1))
    record = read_back(settings, "rapport.orders.events", meta.partition, meta.offset)
    doc = orjson.loads(record.value)
    assert record.key == order_id.encode()
    assert doc["type"] == "rapport.orders.OrderPlaced"
    assert doc["subject"] == order_id
    assert doc["dataschema"] == "urn:rapport:contracts:orders:OrderPlaced:v1"
    assert doc["schemaid"] == expected_id
    assert doc["data"] == order(order_id)
    assert datetime.fromisoformat(doc["time"]).tzinfo is not None


def test_one_entity_stays_in_one_partition(settings: Settings, schema_registry: Any) -> None:
    order_id = f"o-{uuid.uuid4().hex[:8]}"
    with EventProducer(settings) as producer:
        placed = producer.publish("OrderPlaced", order(order_id)).get(timeout=30)
        cancelled = producer.publish(
            "OrderCancelled",
            {"order_id": order_id, "customer_id": "c-1", "reason": "customer_request"},
        ).get(timeout=30)
    assert placed.partition == cancelled.partition
    assert cancelled.offset > placed.offset


def test_invalid_payload_is_refused_and_never_sent(
    settings: Settings, schema_registry: Any
) -> None:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(**settings.kafka.python_client_config())
    tps = [TopicPartition("rapport.orders.events", p) for p in range(3)]
    before = consumer.end_offsets(tps)
    bad = order("o-bad")
    bad["total"] = 21.0  # money as a float
    with EventProducer(settings) as producer, pytest.raises(InvalidEventError, match=r"\$\.total"):
        producer.publish("OrderPlaced", bad)
    assert consumer.end_offsets(tps) == before
    consumer.close()


def test_unregistered_contract_says_how_to_register(
    settings: Settings, kafka_broker: Any, make_settings: Any
) -> None:
    from registry.service import RegistryService

    other = make_settings(
        "unregistered",
        kafka={
            "broker_port": settings.kafka.broker_port,
            "controller_port": settings.kafka.controller_port,
        },
        registry={"topic": f"_schemas_{uuid.uuid4().hex[:6]}"},
    )
    service = RegistryService(other)
    service.start()
    try:
        with (
            EventProducer(other) as producer,
            pytest.raises(UnregisteredContractError, match="rapport contracts register"),
        ):
            producer.publish("OrderPlaced", order("o-1"))
    finally:
        service.stop()


def test_delivery_failure_reaches_the_caller(settings: Settings, schema_registry: Any) -> None:
    # The broker refuses records over message.max.bytes (1 MiB): an asynchronous failure.
    producer = EventProducer(settings, max_request_size=4 * 1024 * 1024)
    try:
        producer.send_raw("rapport.orders.events", b"k", b"x" * (2 * 1024 * 1024), "too-big")
        with pytest.raises(DeliveryError, match="too-big"):
            producer.flush(timeout_s=30)
    finally:
        producer._producer.close(timeout=10)


def test_event_time_defaults_to_now_utc(settings: Settings, schema_registry: Any) -> None:
    before = datetime.now(UTC)
    with EventProducer(settings) as producer:
        meta = producer.publish(
            "CustomerLoggedIn", {"customer_id": "c-9", "channel": "mobile", "region": "apac"}
        ).get(timeout=30)
    doc = orjson.loads(
        read_back(settings, "rapport.customers.events", meta.partition, meta.offset).value
    )
    assert datetime.fromisoformat(doc["time"]) >= before.replace(microsecond=0)
