"""The secured local Kafka: SCRAM over TLS with ACLs, and the whole pipeline running on it."""

from __future__ import annotations

import time
from typing import Any

import pytest
from pydantic import SecretStr

from rapport.contracts.catalog import default_catalog
from rapport.runtime.kafka_broker import LocalKafkaBroker
from rapport.runtime.ports import free_port
from rapport.settings import KafkaSettings, Settings
from rapport.simulator.ledger import Ledger
from rapport.simulator.wire import ChaosConfig
from registry.client import RegistryClient
from registry.deploy import register_all
from registry.registry_service import RegistryService
from tests.helpers.ledger_checks import assert_tables_match
from tests.helpers.streams import START, run_stream, send, shop_records

pytestmark = [pytest.mark.kafka, pytest.mark.spark]


def secured(base: Settings) -> Settings:
    """`base` (its own lakehouse and topics) on a secured broker and a registry of its own."""
    kafka = KafkaSettings.model_validate(
        {
            "broker_port": free_port(),
            "controller_port": free_port(),
            "broker_heap": "512m",
            "topics": base.kafka.topics,
            "local_secured": True,
            "sasl_username": "rapport",
            "sasl_password": "svc-password",
            "admin_password": "admin-password",
            "ssl_cafile": base.kafka_dir / "tls" / "ca.pem",
        }
    )
    registry = base.registry.model_copy(
        update={"port": (port := free_port()), "url": f"http://127.0.0.1:{port}"}
    )
    return base.model_copy(update={"kafka": kafka, "registry": registry})


def bootstrap_refused(config: dict[str, Any]) -> bool:
    """True when a kafka-python client with `config` cannot even get the cluster's metadata."""
    from kafka import KafkaConsumer
    from kafka.errors import KafkaError

    try:
        KafkaConsumer(**config, request_timeout_ms=5000, bootstrap_timeout_ms=5000).close()
    except KafkaError:
        return True
    return False


def fetch_error(kafka: KafkaSettings, topic: str) -> str:
    """The error a librdkafka consumer as `kafka`'s user gets reading `topic`, or "read"."""
    from confluent_kafka import Consumer

    consumer = Consumer(
        {**kafka.librdkafka_config(), "group.id": "probe", "auto.offset.reset": "earliest"}
    )
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is not None:
                error = message.error()
                return error.name() if error is not None else "read"
        return "nothing within 20 s"
    finally:
        consumer.close()


def allow_groups(settings: Settings, user: str) -> None:
    """An ACL that lets `user` use any consumer group, and nothing else."""
    from confluent_kafka.admin import (
        AclBinding,
        AclOperation,
        AclPermissionType,
        AdminClient,
        ResourcePatternType,
        ResourceType,
    )

    admin = AdminClient(dict(settings.kafka_admin().librdkafka_config()))
    binding = AclBinding(ResourceType.GROUP, "*", ResourcePatternType.LITERAL, f"User:{user}",
                         "*", AclOperation.ALL, AclPermissionType.ALLOW)  # fmt: skip
    for future in admin.create_acls([binding]).values():
        future.result(timeout=30)


def test_a_secured_broker_refuses_strangers_and_carries_the_whole_pipeline(
    spark: Any, isolated: Any
) -> None:
    settings = secured(isolated())
    broker = LocalKafkaBroker(settings)
    registry = RegistryService(settings)
    broker.start()
    try:
        topic = settings.kafka.event_topics[0]
        rapport = settings.kafka.python_client_config()
        failed_logins = (broker.log_dir / "server.log").read_text().count("Failed authentication")
        # Without SASL, over TLS or not, and with a wrong password: no way in.
        plain = {"bootstrap_servers": rapport["bootstrap_servers"]}
        assert bootstrap_refused(plain)
        assert bootstrap_refused(
            {**plain, "security_protocol": "SSL", "ssl_cafile": rapport["ssl_cafile"]}
        )
        assert bootstrap_refused({**rapport, "sasl_plain_password": "not-the-password"})
        log = (broker.log_dir / "server.log").read_text()
        assert log.count("Failed authentication") > failed_logins  # the broker said why
        assert not bootstrap_refused(rapport)
        # A user the broker knows, but without an ACL on the topic: refused too.
        broker.ensure_user("outsider", "outsider-password")
        allow_groups(settings, "outsider")  # so that the topic's ACLs alone decide
        outsider = settings.kafka.model_copy(
            update={"sasl_username": "outsider", "sasl_password": SecretStr("outsider-password")}
        )
        assert fetch_error(outsider, topic) == "TOPIC_AUTHORIZATION_FAILED"

        # The pipeline: the registry on the secured broker, producers, the stream, gold.
        registry.start()
        register_all(RegistryClient(settings.registry), default_catalog())
        records = shop_records(seed=47, actions=400, start=START, chaos=ChaosConfig(malformed=0.02))
        ledger = Ledger()
        send(settings, records, ledger)
        run_stream(spark, settings)
        assert_tables_match(spark, settings, ledger)
    finally:
        registry.stop()
        broker.stop()
