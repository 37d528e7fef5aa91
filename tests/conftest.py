"""Shared fixtures: isolated settings, a real Kafka broker and a real Spark session with Delta.

Tests never touch the developer's running stack: each session gets its own state folder,
its own free ports and its own lakehouse under pytest's tmp directory.
"""

from __future__ import annotations

import itertools
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rapport.settings import PROJECT_ROOT, Settings, TopicSpec, settings_env

PROJECT_JARS = PROJECT_ROOT / "var" / "jars"

# PySpark hands timestamps to Python as naive datetimes in the process's local zone; the
# ledgers the tests compare with are in UTC.
os.environ["TZ"] = "UTC"
time.tzset()


_HANDED_OUT: set[int] = set()


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A free listening port *below* the ephemeral range, never handed out twice.

    A port the kernel picks for `bind(0)` comes from the ephemeral range, which outgoing
    connections (every Kafka client) also draw from: between picking it and the service
    binding it, a client could take it. Ports below that range are only ever taken on purpose.
    """
    import random

    low = min(_ephemeral_low(), 32768)
    for _ in range(1000):
        port = random.randrange(20000, low)
        if port in _HANDED_OUT:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError("no free port found below the ephemeral range")


def _require_jars() -> None:
    if (
        not (PROJECT_JARS / "spark-runtime").is_dir()
        or not (PROJECT_JARS / "kafka-broker").is_dir()
    ):
        pytest.fail(f"JVM jars missing in {PROJECT_JARS}: run `make setup` (make test does it)")


SettingsFactory = Callable[..., Settings]


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
        return Settings(
            state_dir=state,
            kafka=kafka,
            registry=registry,
            spark=spark,
            stream=stream,
            dagster=dagster,
            dashboard=dashboard,
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


def rapport_bin() -> Path:
    """The `rapport` console script of the environment running the tests."""
    import sys

    return Path(sys.executable).with_name("rapport")


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


@pytest.fixture
def isolated(
    settings: Settings, kafka_broker: Any, spark: Any, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., Settings]:
    """Settings with their own topics, lakehouse, checkpoints and state folder, on the
    session's broker, registry and Spark: a test comparing whole tables with a ledger sees
    only its own data."""
    from rapport.lakehouse.spark_catalog import ensure_table
    from rapport.lakehouse.tables import TABLES
    from rapport.runtime.kafka_broker import LocalKafkaBroker

    def build(**stream: Any) -> Settings:
        n = next(_SERIAL)
        root = tmp_path_factory.mktemp(f"lake{n}")
        topics = {
            domain: TopicSpec(name=f"t{n}.{spec.name}", partitions=spec.partitions)
            for domain, spec in settings.kafka.topics.items()
        }
        # Its own state folder too: pid files, the stream's status file and logs.
        (root / "state").mkdir()
        (root / "state" / "jars").symlink_to(PROJECT_JARS, target_is_directory=True)
        own = settings.model_copy(
            update={
                "state_dir": root / "state",
                "lakehouse_root": str(root / "lakehouse"),
                "checkpoint_root": str(root / "checkpoints"),
                "kafka": settings.kafka.model_copy(update={"topics": topics}),
                "stream": settings.stream.model_copy(update=stream),
            }
        )
        LocalKafkaBroker(own).ensure_topics()
        for table in TABLES:
            ensure_table(spark, own, table, register_name=False)
        return own

    return build


class WebhookReceiver:
    """A local HTTP endpoint standing in for Slack or a pager: it keeps every JSON body."""

    def __init__(self) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        received: list[dict[str, Any]] = []
        self.received = received
        lock = threading.Lock()
        self.lock = lock

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with lock:
                    received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def notices(self, **match: str) -> list[dict[str, Any]]:
        with self.lock:
            return [n for n in self.received if all(n.get(k) == v for k, v in match.items())]

    def wait_for(self, timeout_s: float, **match: str) -> dict[str, Any]:
        """The first notice matching `match`, polling until the deadline."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = self.notices(**match)
            if found:
                return found[0]
            time.sleep(0.2)
        raise AssertionError(f"no notice {match} within {timeout_s} s; got {self.received}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()
