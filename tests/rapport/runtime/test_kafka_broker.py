"""The local Kafka 4 broker: real process, loopback only, idempotent start/stop, topics."""

from __future__ import annotations

from typing import Any

import pytest

from rapport.runtime.kafka_broker import LocalKafkaBroker
from rapport.runtime.processes import listening_sockets
from rapport.settings import Settings
from tests.helpers.settings import SettingsFactory

pytestmark = pytest.mark.kafka


def test_broker_listens_on_loopback_only(kafka_broker: Any, settings: Settings) -> None:
    pid = kafka_broker.status().pid
    addresses = listening_sockets(pid)
    ports = {port for _, port in addresses}
    assert {settings.kafka.broker_port, settings.kafka.controller_port} <= ports
    for ip, _ in addresses:
        assert ip in {"127.0.0.1", "::ffff:127.0.0.1"}, f"listening on {ip}"


def test_topics_exist_with_their_partitions(kafka_broker: Any, settings: Settings) -> None:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap_servers)
    try:
        described = {t["name"]: t for t in admin.describe_topics(settings.kafka.event_topics)}
    finally:
        admin.close()
    for spec in settings.kafka.topics.values():
        assert len(described[spec.name]["partitions"]) == spec.partitions >= 3


def test_kafka_python_negotiates_a_kafka_4_protocol(kafka_broker: Any, settings: Settings) -> None:
    from kafka import KafkaConsumer, KafkaProducer

    topic = settings.kafka.topics["customers"].name
    producer = KafkaProducer(
        bootstrap_servers=kafka_broker.bootstrap_servers, acks="all", enable_idempotence=True
    )
    try:
        assert producer.config["api_version"] >= (4, 0)
        meta = producer.send(topic, key=b"c-1", value=b"hello").get(timeout=30)
    finally:
        producer.close()
    consumer = KafkaConsumer(
        bootstrap_servers=kafka_broker.bootstrap_servers,
        auto_offset_reset="earliest",
        consumer_timeout_ms=10_000,
    )
    try:
        from kafka import TopicPartition

        tp = TopicPartition(topic, meta.partition)
        consumer.assign([tp])
        consumer.seek(tp, meta.offset)
        record = next(iter(consumer))
        assert (record.key, record.value) == (b"c-1", b"hello")
    finally:
        consumer.close()


def test_start_status_stop_are_idempotent(make_settings: SettingsFactory) -> None:
    settings = make_settings("lifecycle")
    broker = LocalKafkaBroker(settings)
    assert broker.status().running is False
    assert broker.stop() is False  # stopping a stopped broker is a no-op
    try:
        assert broker.start() is True
        first_pid = broker.status().pid
        assert broker.start() is False  # a second start changes nothing
        assert broker.status().pid == first_pid
        assert broker.answers()
    finally:
        assert broker.stop() is True
    assert broker.status().running is False
    assert not broker.answers()
    assert broker.stop() is False


def test_restart_keeps_data_and_does_not_reformat(make_settings: SettingsFactory) -> None:
    from kafka import KafkaConsumer, KafkaProducer

    settings = make_settings("restart")
    broker = LocalKafkaBroker(settings)
    topic = settings.kafka.topics["orders"].name
    try:
        broker.start()
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers, acks="all")
        producer.send(topic, b"kept across restarts", partition=0).get(timeout=30)
        producer.close()
        meta_before = (broker.data_dir / "meta.properties").read_text()
        broker.stop()
        assert broker.format_storage() is False  # already formatted: left alone
        broker.start()
        assert (broker.data_dir / "meta.properties").read_text() == meta_before
        consumer = KafkaConsumer(
            topic,
            bootstrap_servers=broker.bootstrap_servers,
            auto_offset_reset="earliest",
            consumer_timeout_ms=10_000,
        )
        values = [r.value for r in consumer]
        consumer.close()
        assert values == [b"kept across restarts"]
    finally:
        broker.stop()


def test_stale_pid_file_does_not_block_start(make_settings: SettingsFactory) -> None:
    settings = make_settings("stale")
    broker = LocalKafkaBroker(settings)
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    broker.process.pid_file.write_text("999999999\n")  # a broker that died without cleanup
    assert broker.status().running is False
    try:
        assert broker.start() is True
        assert broker.status().running is True
    finally:
        broker.stop()


def test_missing_jars_give_the_next_step(tmp_path: Any) -> None:
    from rapport.runtime.processes import ServiceError

    broker = LocalKafkaBroker(Settings(state_dir=tmp_path))
    with pytest.raises(ServiceError, match="make setup"):
        broker.start()


@pytest.mark.unit
def test_a_three_node_cluster_replicates_and_needs_two_in_sync(tmp_path: Any) -> None:
    """Every node votes, each has its own ports and folder, and acks=all needs two copies."""
    settings = Settings(
        state_dir=tmp_path, kafka={"local_nodes": 3, "broker_port": 19092, "controller_port": 19093}
    )
    broker = LocalKafkaBroker(settings)
    assert broker.bootstrap_servers == "127.0.0.1:19092,127.0.0.1:19094,127.0.0.1:19096"
    assert settings.kafka.bootstrap_servers == broker.bootstrap_servers
    props = [dict(line.split("=", 1) for line in n.server_properties().splitlines()[1:])
             for n in broker.nodes]  # fmt: skip
    voters = "1@127.0.0.1:19093,2@127.0.0.1:19095,3@127.0.0.1:19097"
    assert {p["controller.quorum.voters"] for p in props} == {voters}
    assert [p["node.id"] for p in props] == ["1", "2", "3"]
    assert [p["listeners"] for p in props][2] == (
        "PLAINTEXT://127.0.0.1:19096,CONTROLLER://127.0.0.1:19097"
    )
    for p in props:
        assert (p["default.replication.factor"], p["min.insync.replicas"]) == ("3", "2")
        assert p["offsets.topic.replication.factor"] == "3"
        assert p["unclean.leader.election.enable"] == "false"
    assert len({n.data_dir for n in broker.nodes}) == 3
    # One node keeps the layout and the pid file it always had.
    single = LocalKafkaBroker(Settings(state_dir=tmp_path / "one"))
    assert single.data_dir == tmp_path / "one" / "kafka" / "data"
    assert single.process.name == "kafka"
