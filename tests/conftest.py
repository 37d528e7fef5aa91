"""Shared fixtures: isolated settings, a real Kafka broker and a real Spark session with Delta.

Tests never touch the developer's running stack: each session gets its own state folder,
its own free ports and its own lakehouse under pytest's tmp directory.
"""

from __future__ import annotations

import itertools
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rapport.runtime.ports import free_port
from rapport.settings import PROJECT_ROOT, Settings, settings_env
from tests.helpers.settings import SettingsFactory
from tests.helpers.webhook import WebhookReceiver

PROJECT_JARS = PROJECT_ROOT / "var" / "jars"

# PySpark hands timestamps to Python as naive datetimes in the process's local zone; the
# ledgers the tests compare with are in UTC.
os.environ["TZ"] = "UTC"
time.tzset()


def _require_jars() -> None:
    if (
        not (PROJECT_JARS / "spark-runtime").is_dir()
        or not (PROJECT_JARS / "kafka-broker").is_dir()
    ):
        pytest.fail(f"JVM jars missing in {PROJECT_JARS}: run `make setup` (make test does it)")


@pytest.fixture(scope="session")
def make_settings(tmp_path_factory: pytest.TempPathFactory) -> SettingsFactory:
    """Build Settings rooted in a fresh tmp folder, sharing the project's downloaded jars."""

    def factory(name: str = "state", **overrides: Any) -> Settings:
        _require_jars()
        state = tmp_path_factory.mktemp(name)
        (state / "jars").symlink_to(PROJECT_JARS, target_is_directory=True)
        broker, controller = free_port(), free_port()
        kafka = {"broker_port": broker, "controller_port": controller, "broker_heap": "512m"}
        registry = {"port": free_port()}
        registry.update(overrides.pop("registry", {}))
        kafka.update(overrides.pop("kafka", {}))
        spark = {
            "master": "local[2]",
            "ui_enabled": False,
            "driver_memory": "2g",
            "shuffle_partitions": 2,
        }
        spark.update(overrides.pop("spark", {}))
        stream = {"trigger_interval": "1 second", "silver_trigger_interval": "2 seconds"}
        stream.update(overrides.pop("stream", {}))
        # The UIs on ports of their own too: a developer's stack may hold 3000 and 8501.
        dagster = {"port": free_port(), **overrides.pop("dagster", {})}
        dashboard = {"port": free_port(), **overrides.pop("dashboard", {})}
        # The SQL server is off unless a test asks for it: it is one more JVM per stack.
        serving = {
            "enabled": False,
            "thrift_port": free_port(),
            "connect_port": free_port(),
            "ui_port": free_port(),
            **overrides.pop("serving", {}),
        }
        return Settings(
            state_dir=state,
            kafka=kafka,
            registry=registry,
            spark=spark,
            stream=stream,
            dagster=dagster,
            dashboard=dashboard,
            serving=serving,
            **overrides,
        )

    return factory


@pytest.fixture(scope="session")
def settings(make_settings: SettingsFactory) -> Settings:
    """The settings of this test session's shared broker and lakehouse."""
    return make_settings("shared")


@pytest.fixture(scope="session")
def kafka_broker(settings: Settings) -> Iterator[Any]:
    """A real Kafka 4 broker (KRaft) for the whole test session, stopped at the end."""
    from rapport.runtime.kafka_broker import LocalKafkaBroker

    broker = LocalKafkaBroker(settings)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def spark(settings: Settings) -> Iterator[Any]:
    """One local SparkSession with Delta for the session (as pyspark's own tests do)."""
    from rapport.lakehouse.spark import get_spark

    session = get_spark(settings, app_name="rapport-tests")
    yield session
    session.stop()


@pytest.fixture
def child_env(settings: Settings) -> Callable[[Settings], dict[str, str]]:
    """Environment for a `rapport` subprocess that must see exactly the given settings."""

    def build(for_settings: Settings) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAPPORT_")}
        env.update(settings_env(for_settings))
        return env

    return build


@pytest.fixture(scope="session")
def schema_registry(settings: Settings, kafka_broker: Any) -> Iterator[Any]:
    """The bundled schema registry, on the session broker, with every contract registered."""
    from rapport.contracts.catalog import default_catalog
    from registry.client import RegistryClient
    from registry.deploy import register_all
    from registry.registry_service import RegistryService

    service = RegistryService(settings)
    service.start()
    client = RegistryClient(settings.registry)
    register_all(client, default_catalog())
    yield client
    service.stop()


_SERIAL = itertools.count(1)


@pytest.fixture(scope="session")
def empty_lakehouse(
    settings: Settings, spark: Any, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Every table of the catalog, created empty once by `ensure_table`; `isolated` copies
    the folder. A Delta table is its folder (paths in its log are relative), so a copy is
    the same empty table; creating 29 tables anew took about 10 s per test."""
    from rapport.lakehouse.spark_catalog import ensure_table
    from rapport.lakehouse.tables import TABLES

    lake = tmp_path_factory.mktemp("empty-lakehouse") / "lakehouse"
    template = settings.model_copy(update={"lakehouse_root": str(lake)})
    for table in TABLES:
        ensure_table(spark, template, table, register_name=False)
    return lake


@pytest.fixture
def isolated(
    settings: Settings,
    kafka_broker: Any,
    empty_lakehouse: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[..., Settings]:
    """Settings with their own topics, lakehouse, checkpoints and state folder, on the
    session's broker, registry and Spark: a test comparing whole tables with a ledger sees
    only its own data."""
    from rapport.runtime.kafka_broker import LocalKafkaBroker

    def build(lake: Path | None = None, **stream: Any) -> Settings:
        """`lake`: where the lakehouse and checkpoints go (a folder of the test's own)."""
        n = next(_SERIAL)
        root = tmp_path_factory.mktemp(f"lake{n}")
        lake = lake or root
        topics = {
            domain: spec.model_copy(update={"name": f"t{n}.{spec.name}"})
            for domain, spec in settings.kafka.topics.items()
        }
        # Its own state folder too: pid files, the stream's status file and logs.
        (root / "state").mkdir()
        (root / "state" / "jars").symlink_to(PROJECT_JARS, target_is_directory=True)
        own = settings.model_copy(
            update={
                "state_dir": root / "state",
                "lakehouse_root": str(lake / "lakehouse"),
                "checkpoint_root": str(lake / "checkpoints"),
                "kafka": settings.kafka.model_copy(update={"topics": topics}),
                "stream": settings.stream.model_copy(update=stream),
            }
        )
        LocalKafkaBroker(own).ensure_topics()
        shutil.copytree(empty_lakehouse, lake / "lakehouse")
        return own

    return build


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()
