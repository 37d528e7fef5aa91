"""The producer library against a real broker and the real registry, on both transports."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from rapport.contracts.validation import InvalidEventError
from rapport.runtime.kafka_offsets import end_offsets, records_between
from rapport.settings import Settings
from registry.producer import DeliveryError, EventProducer, UnregisteredContractError

pytestmark = pytest.mark.kafka
TRANSPORTS = ["kafka-python", "librdkafka"]


def offsets(settings: Settings, topic: str) -> dict[Any, int]:
    return end_offsets(settings, [topic])


def records_since(settings: Settings, topic: str, start: dict[Any, int]) -> list[Any]:
    """Every record of `topic` written after the `start` offsets."""
    return records_between(settings, start, offsets(settings, topic))


def order(order_id: str) -> dict[str, Any]:
    return {
        "order_id": order_id, "customer_id": "c-1", "currency": "EUR", "channel": "web",
        "region": "eu-west", "warehouse": "WH-AMS", "total": "21.00",
        "lines": [{"sku": "SKU-10001", "quantity": 2, "unit_price": "10.50", "category": "home"}],
    }  # fmt: skip


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_publish_validates_envelopes_and_keys_by_entity(
    settings: Settings, schema_registry: Any, transport: Any
) -> None:
    topic = "rapport.orders.events"
    order_id = f"o-{uuid.uuid4().hex[:8]}"
    start = offsets(settings, topic)
    with EventProducer(settings, transport=transport) as producer:
        event_id = producer.publish("OrderPlaced", order(order_id), version=1)
        producer.publish(
            "OrderCancelled",
            {"order_id": order_id, "customer_id": "c-1", "reason": "customer_request"},
        )
        expected_id = producer.schema_id(producer.catalog.get("OrderPlaced", 1))
    records = records_since(settings, topic, start)
    assert len(records) == 2
    placed, cancelled = sorted(records, key=lambda r: r.offset)
    doc = orjson.loads(placed.value)
    assert doc["id"] == event_id
    assert placed.key == order_id.encode()
    assert doc["type"] == "rapport.orders.OrderPlaced"
    assert doc["subject"] == order_id
    assert doc["dataschema"] == "urn:rapport:contracts:orders:OrderPlaced:v1"
    assert doc["schemaid"] == expected_id
    assert doc["data"] == order(order_id)
    assert datetime.fromisoformat(doc["time"]).tzinfo is not None
    # One entity, one partition, in order.
    assert cancelled.partition == placed.partition
    assert orjson.loads(cancelled.value)["type"] == "rapport.orders.OrderCancelled"


def test_both_transports_pick_the_same_partition_for_a_key(
    settings: Settings, schema_registry: Any
) -> None:
    topic = "rapport.inventory.events"
    keys = [f"SKU-{20000 + i}" for i in range(12)]
    partitions: dict[str, dict[str, int]] = {}
    for transport in TRANSPORTS:
        start = offsets(settings, topic)
        with EventProducer(settings, transport=transport) as producer:  # type: ignore[arg-type]
            for key in keys:
                producer.send_raw(topic, key.encode(), b"{}", key)
        partitions[transport] = {
            r.key.decode(): r.partition for r in records_since(settings, topic, start)
        }
    assert partitions["kafka-python"] == partitions["librdkafka"]
    assert len(set(partitions["librdkafka"].values())) > 1


def test_invalid_payload_is_refused_and_never_sent(
    settings: Settings, schema_registry: Any
) -> None:
    topic = "rapport.orders.events"
    before = offsets(settings, topic)
    bad = order("o-bad")
    bad["total"] = 21.0  # money as a float
    with EventProducer(settings) as producer, pytest.raises(InvalidEventError, match=r"\$\.total"):
        producer.publish("OrderPlaced", bad)
    assert offsets(settings, topic) == before


def test_unregistered_contract_says_how_to_register(
    settings: Settings, kafka_broker: Any, make_settings: Any
) -> None:
    from registry.registry_service import RegistryService

    other = make_settings(
        "unregistered",
        kafka={"broker_port": settings.kafka.broker_port,
               "controller_port": settings.kafka.controller_port},
        registry={"topic": f"_schemas_{uuid.uuid4().hex[:6]}"},
    )  # fmt: skip
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


@pytest.mark.parametrize(
    ("transport", "overrides"),
    [
        ("kafka-python", {"max_request_size": 4 * 2**20}),
        ("librdkafka", {"message.max.bytes": 4 * 2**20}),
    ],
)
def test_delivery_failure_reaches_the_caller(
    settings: Settings, schema_registry: Any, transport: Any, overrides: dict[str, Any]
) -> None:
    # The broker refuses records over message.max.bytes (1 MiB): an asynchronous failure.
    producer = EventProducer(settings, transport=transport, **overrides)
    producer.send_raw("rapport.orders.events", b"k", b"x" * (2 * 2**20), "too-big")
    with pytest.raises(DeliveryError, match="too-big"):
        producer.close(timeout_s=30)


def test_unreachable_broker_is_a_clear_error(make_settings: Any) -> None:
    from rapport.runtime.processes import ServiceError

    lonely = make_settings("no-broker", kafka={"connect_timeout_s": 2.0})
    for transport in TRANSPORTS:
        with pytest.raises(ServiceError, match="make up"):
            EventProducer(lonely, transport=transport)  # type: ignore[arg-type]


def test_event_time_defaults_to_now_utc(settings: Settings, schema_registry: Any) -> None:
    topic = "rapport.customers.events"
    start = offsets(settings, topic)
    before = datetime.now(UTC)
    with EventProducer(settings) as producer:
        producer.publish(
            "CustomerLoggedIn", {"customer_id": "c-9", "channel": "mobile", "region": "apac"}
        )
    (record,) = records_since(settings, topic, start)
    assert datetime.fromisoformat(orjson.loads(record.value)["time"]) >= before.replace(
        microsecond=0
    )
