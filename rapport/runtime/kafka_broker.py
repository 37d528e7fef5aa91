"""A real single-node Apache Kafka 4 (KRaft, combined broker and controller) run from Maven jars.

`rapport kafka start|stop|status` drive this. The broker listens on 127.0.0.1 only and keeps
its data and logs under var/kafka/. Start is idempotent, formats storage once, waits until
the broker answers, then creates the project's topics.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import shutil
import socket
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from rapport.runtime.processes import ManagedProcess, ServiceError
from rapport.settings import PROJECT_ROOT, Settings

log = logging.getLogger(__name__)

#: Folder (under var/jars) that `make setup` fills from infra/jvm/kafka-broker/pom.xml.
KAFKA_BROKER_JARS = "kafka-broker"
LOG4J2_CONFIG = PROJECT_ROOT / "infra" / "kafka" / "log4j2.properties"
NODE_ID = 1


@dataclass(frozen=True)
class BrokerStatus:
    """What `rapport kafka status` reports."""

    running: bool
    pid: int | None
    bootstrap_servers: str
    data_dir: Path
    log_dir: Path


def java_executable() -> str:
    """JAVA_HOME's java if set, else the one on PATH; Kafka 4 needs Java 17 or newer."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise ServiceError("No `java` found. Install a JDK 17+ or set JAVA_HOME.")
    return found


def new_cluster_id() -> str:
    """A KRaft cluster id: a random UUID in URL-safe base64 without padding (22 chars)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


class LocalKafkaBroker:
    """The project's local broker: config, storage, process and topics."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = settings.kafka_dir
        self.data_dir = self.home / "data"
        self.log_dir = self.home / "logs"
        self.config_file = self.home / "server.properties"
        self.process = ManagedProcess("kafka", settings.run_dir, marker=str(self.config_file))

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.settings.kafka.broker_port}"

    def classpath(self) -> str:
        folder = self.settings.jars_dir / KAFKA_BROKER_JARS
        jars = sorted(folder.glob("*.jar")) if folder.is_dir() else []
        if not any(j.name.startswith("kafka_2.13-") for j in jars):
            raise ServiceError(
                f"The Kafka broker's jars are missing from {folder}. "
                "Run `make setup` to fetch them from Maven Central."
            )
        return os.pathsep.join(str(j) for j in jars)

    def server_properties(self) -> str:
        """The broker's configuration: loopback listeners, single-node replication."""
        k = self.settings.kafka
        props = {
            "process.roles": "broker,controller",
            "node.id": str(NODE_ID),
            "controller.quorum.voters": f"{NODE_ID}@127.0.0.1:{k.controller_port}",
            "listeners": (
                f"PLAINTEXT://127.0.0.1:{k.broker_port},CONTROLLER://127.0.0.1:{k.controller_port}"
            ),
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{k.broker_port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "num.partitions": "3",
            # Topics are created explicitly with their configured partitions, never by accident.
            "auto.create.topics.enable": "false",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "log.retention.hours": "168",
        }
        lines = ["# Written by `rapport kafka start`; edit the settings, not this file."]
        lines += [f"{key}={value}" for key, value in props.items()]
        return "\n".join(lines) + "\n"

    def _java(self, main_class: str, *args: str, heap: str = "256m") -> list[str]:
        return [
            java_executable(),
            "-Xms128m",
            f"-Xmx{heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={LOG4J2_CONFIG}",
            f"-Dkafka.logs.dir={self.log_dir}",
            "-cp",
            self.classpath(),
            main_class,
            *args,
        ]

    def format_storage(self) -> bool:
        """Format the KRaft log directory once; False when it was already formatted."""
        if (self.data_dir / "meta.properties").exists():
            return False
        cluster_id_file = self.home / "cluster.id"
        if not cluster_id_file.exists():
            cluster_id_file.write_text(new_cluster_id() + "\n")
        cluster_id = cluster_id_file.read_text().strip()
        cmd = self._java(
            "kafka.tools.StorageTool",
            "format",
            # One argument: a random id may begin with "-", which argparse reads as a flag.
            f"--cluster-id={cluster_id}",
            "--config",
            str(self.config_file),
            "--ignore-formatted",
        )
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            raise ServiceError(
                f"Formatting Kafka storage in {self.data_dir} failed:\n"
                f"{result.stdout}{result.stderr}"
            )
        return True

    def answers(self) -> bool:
        """True when the broker accepts a metadata request on its listener."""

        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError

        # A closed port answers at once; only then pay for a Kafka handshake.
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.settimeout(1.0)
            if probe.connect_ex(("127.0.0.1", self.settings.kafka.broker_port)) != 0:
                return False
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=self.bootstrap_servers,
                request_timeout_ms=3000,
                bootstrap_timeout_ms=3000,
                client_id="rapport-healthcheck",
            )
        except (KafkaError, OSError, ValueError):
            return False
        try:
            admin.list_topics()
            return True
        except (KafkaError, OSError):
            return False
        finally:
            admin.close()

    def start(self) -> bool:
        """Start the broker and create topics; False (and no change) if it already runs."""
        if self.process.pid() is not None:
            self.ensure_topics()
            return False
        for folder in (self.home, self.data_dir, self.log_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(self.server_properties())
        self.format_storage()
        cmd = self._java("kafka.Kafka", str(self.config_file), heap=self.settings.kafka.broker_heap)
        log.info("Kafka broker starting on %s", self.bootstrap_servers)
        self.process.launch(
            cmd,
            ready=self.answers,
            timeout_s=self.settings.kafka.start_timeout_s,
            what=f"The Kafka broker on {self.bootstrap_servers}",
            hint=f"\nFull log: {self.log_dir / 'server.log'}",
        )
        self.ensure_topics()
        return True

    def ensure_topics(self) -> list[str]:
        """Create the configured topics that do not exist yet; returns the names created."""
        from kafka import KafkaAdminClient
        from kafka.admin import NewTopic
        from kafka.errors import TopicAlreadyExistsError

        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap_servers, client_id="rapport")
        try:
            existing = set(admin.list_topics())
            wanted = [t for t in self.settings.kafka.topics.values() if t.name not in existing]
            if wanted:
                # Another process may win the race to create a topic: that is fine.
                with contextlib.suppress(TopicAlreadyExistsError):
                    admin.create_topics(
                        [
                            NewTopic(
                                name=t.name,
                                num_partitions=t.partitions,
                                replication_factor=t.replication_factor,
                                topic_configs=t.config,
                            )
                            for t in wanted
                        ]
                    )
            return [t.name for t in wanted]
        finally:
            admin.close()

    def stop(self) -> bool:
        """Controlled shutdown (SIGTERM); False if it was not running."""
        return self.process.stop(timeout_s=60)

    def status(self) -> BrokerStatus:
        pid = self.process.pid()
        return BrokerStatus(
            running=pid is not None,
            pid=pid,
            bootstrap_servers=self.bootstrap_servers,
            data_dir=self.data_dir,
            log_dir=self.log_dir,
        )
