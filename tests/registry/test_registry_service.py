"""`python -m registry` as a background service: start/stop/status, durability, a second instance.

Each registry here is a real process over its own topic on the session's broker; the test
talks to it through `registry.client.RegistryClient`, the client the rest of Rapport uses.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from rapport.runtime.ports import free_port
from rapport.runtime.processes import ServiceError, wait_until
from rapport.settings import Settings
from registry.client import RegistryClient, RegistryError
from registry.registry_service import RegistryService
from tests.helpers.settings import SettingsFactory

pytestmark = pytest.mark.kafka


def registry_settings(
    make_settings: SettingsFactory, shared: Settings, name: str, topic: str
) -> Settings:
    """Own state folder and port; the session's broker; the given registry topic."""
    return make_settings(
        name,
        kafka={
            "broker_port": shared.kafka.broker_port,
            "controller_port": shared.kafka.controller_port,
        },
        registry={"port": free_port(), "topic": topic},
    )


def event_schema(title: str, *required: str) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        "type": "object",
        "properties": {"id": {"type": "string"}, "note": {"type": "string"}},
        "required": ["id", *required],
    }


@pytest.fixture
def topic() -> str:
    return f"_schemas_svc_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def first(
    make_settings: SettingsFactory, settings: Settings, kafka_broker: Any, topic: str
) -> Iterator[RegistryService]:
    service = RegistryService(registry_settings(make_settings, settings, "registry-1", topic))
    yield service
    service.stop()


def test_start_is_idempotent_and_status_follows(
    first: RegistryService, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rapport.cli.main import main

    monkeypatch.setattr("rapport.cli.services.load_settings", lambda: first.settings)
    runner = CliRunner()
    assert runner.invoke(main, ["registry", "status"]).exit_code == 3

    assert first.start() is True
    assert first.start() is False
    status = first.status()
    assert status.running
    assert status.pid is not None
    assert requests.get(f"{first.url}/", timeout=5).json() == {}
    shown = runner.invoke(main, ["registry", "status"])
    assert shown.exit_code == 0
    assert f"pid {status.pid}" in shown.output

    assert first.stop() is True
    assert first.stop() is False
    assert not first.status().running
    assert not first.answers()
    assert runner.invoke(main, ["registry", "status"]).exit_code == 3


def test_schemas_survive_a_restart(first: RegistryService) -> None:
    first.start()
    client = RegistryClient(first.settings.registry)
    ids = {
        "orders-value": client.register("orders-value", event_schema("orders")),
        "billing-value": client.register("billing-value", event_schema("billing")),
    }
    client.set_compatibility("NONE", subject="orders-value")
    ids["orders-v2"] = client.register("orders-value", event_schema("orders", "note"))
    client.set_compatibility("FULL")

    first.stop()
    first.start()

    again = RegistryClient(first.settings.registry)
    assert again.by_id(ids["orders-value"]) == event_schema("orders")
    assert again.by_id(ids["billing-value"]) == event_schema("billing")
    assert again.versions("orders-value") == [1, 2]
    latest_id, version, schema = again.latest("orders-value")
    assert (latest_id, version, schema) == (ids["orders-v2"], 2, event_schema("orders", "note"))
    assert again.lookup("orders-value", event_schema("orders")).version == 1
    # Same schema, same id, also after a restart; and configs are durable too.
    assert again.register("billing-value", event_schema("billing")) == ids["billing-value"]
    reply = requests.get(f"{first.url}/config", timeout=5).json()
    assert reply == {"compatibilityLevel": "FULL"}
    reply = requests.get(f"{first.url}/config/orders-value", timeout=5).json()
    assert reply == {"compatibilityLevel": "NONE"}


def test_a_second_instance_sees_the_first_ones_writes(
    first: RegistryService,
    make_settings: SettingsFactory,
    settings: Settings,
    topic: str,
) -> None:
    first.start()
    second = RegistryService(registry_settings(make_settings, settings, "registry-2", topic))
    assert second.url != first.url
    try:
        second.start()
        writer = RegistryClient(first.settings.registry)
        reader = RegistryClient(second.settings.registry)
        schema_id = writer.register("customers-value", event_schema("customers"))

        def visible() -> bool:
            try:
                return reader.by_id(schema_id) == event_schema("customers")
            except RegistryError as exc:
                if exc.error_code != 40403:  # only "not there yet" is worth waiting for
                    raise
                return False

        assert wait_until(visible, timeout_s=30), "the second instance never saw the schema"
        assert reader.versions("customers-value") == [1]
        writer.set_compatibility("FORWARD", subject="customers-value")
        assert wait_until(
            lambda: (
                requests.get(f"{second.url}/config/customers-value", timeout=5).status_code == 200
            ),
            timeout_s=30,
        )
    finally:
        second.stop()


def test_start_refuses_a_port_in_use(first: RegistryService) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", first.settings.registry.port))
        holder.listen()
        with pytest.raises(ServiceError, match="already in use"):
            first.start()
    assert first.process.pid() is None


def test_start_reports_an_unreachable_kafka(make_settings: SettingsFactory, topic: str) -> None:
    nowhere = make_settings(
        "registry-nokafka",
        kafka={"broker_port": free_port()},  # nothing listens there
        registry={"port": free_port(), "topic": topic, "start_timeout_s": 20},
    )
    service = RegistryService(nowhere)
    try:
        with pytest.raises(ServiceError) as caught:
            service.start()
        assert nowhere.kafka.bootstrap_servers in str(caught.value)
        assert not service.status().running
    finally:
        service.stop()


def test_client_says_how_to_start_an_unreachable_registry(make_settings: SettingsFactory) -> None:
    nowhere = make_settings("registry-client", registry={"port": free_port()})
    with pytest.raises(RegistryError) as caught:
        RegistryClient(nowhere.registry, timeout_s=5).versions("orders-value")
    message = str(caught.value)
    assert nowhere.registry.url in message
    assert "rapport registry start" in message
    assert caught.value.error_code is None


def test_ids_are_never_reused_after_compaction_drops_a_deleted_schema(
    first: RegistryService, topic: str
) -> None:
    """A compacted topic may hold only the id high-water mark of a hard-deleted schema."""
    from kafka import KafkaAdminClient, KafkaProducer
    from kafka.admin import NewTopic

    from registry.store import ID_HIGH_WATER_KEY

    settings = first.settings
    first.start()
    client = RegistryClient(settings.registry)
    old_id = client.register("compacted-away", event_schema("Gone"))
    first.stop()
    # What compaction leaves of a hard-deleted schema: nothing but the high-water record.
    # Written to a fresh topic, the registry must still never hand `old_id` out again.
    fresh = f"{topic}_compacted"
    admin = KafkaAdminClient(**settings.kafka.python_client_config())
    admin.create_topics([NewTopic(fresh, 1, 1, topic_configs={"cleanup.policy": "compact"})])
    admin.close()
    producer = KafkaProducer(**settings.kafka.python_client_config())
    producer.send(
        fresh,
        key=b'{"keytype":"ID_HIGH_WATER"}',
        value=f'{{"id":{old_id}}}'.encode(),
        partition=0,
    ).get(timeout=30)
    producer.close()
    assert ID_HIGH_WATER_KEY == {"keytype": "ID_HIGH_WATER"}
    compacted = settings.model_copy(
        update={"registry": settings.registry.model_copy(update={"topic": fresh})}
    )
    second = RegistryService(compacted)
    try:
        second.start()
        new_id = RegistryClient(compacted.registry).register("after", event_schema("New"))
        assert new_id > old_id
    finally:
        second.stop()


def test_a_subjects_soft_delete_is_one_record_and_survives_a_restart(
    first: RegistryService, topic: str
) -> None:
    """Atomic: however many versions, the soft delete is one record; replayed, it holds."""
    from registry.store import KafkaSchemaStore

    settings = first.settings
    first.start()
    client = RegistryClient(settings.registry)
    client.set_compatibility("NONE", "many")
    for note in ("a", "b", "c"):
        client.register("many", event_schema(f"Many {note}"))
    with KafkaSchemaStore(settings).open() as store:
        before = store._end_offset()
        assert store.delete_subject("many", permanent=False) == [1, 2, 3]
        assert store._end_offset() == before + 1
    first.stop()
    first.start()  # a new instance rebuilds its state from the topic
    for read in (client.latest, client.versions):
        with pytest.raises(RegistryError) as gone:
            read("many")
        assert gone.value.error_code == 40401


def test_two_instances_elect_one_writer_and_the_other_forwards(
    first: RegistryService,
    make_settings: SettingsFactory,
    settings: Settings,
    topic: str,
) -> None:
    """Registrations through both instances at once never share an id; when the writer stops,
    the other instance takes the writes over."""
    from concurrent.futures import ThreadPoolExecutor

    first.start()
    second = RegistryService(registry_settings(make_settings, settings, "registry-2", topic))
    try:
        second.start()
        clients = [RegistryClient(s.settings.registry) for s in (first, second)]

        def register(i: int) -> int:
            return clients[i % 2].register(f"race-{i}", event_schema(f"Race {i}"))

        with ThreadPoolExecutor(4) as pool:
            ids = list(pool.map(register, range(12)))
        assert len(set(ids)) == 12, ids  # twelve schemas, twelve ids: none handed out twice
        assert clients[1].versions("race-0") == [1]

        first.stop()  # whichever was the writer, the survivor must now take writes

        def takes_writes() -> bool:
            try:
                return clients[1].register("after", event_schema("After")) > max(ids)
            except RegistryError as exc:
                if exc.error_code not in (50003, 50004):  # only "no writer yet" may wait
                    raise
                return False

        assert wait_until(takes_writes, timeout_s=45, interval_s=1.0)
    finally:
        second.stop()
