"""A real Apache Kafka 4 (KRaft) run from Maven jars: one node, or a local cluster of several.

`rapport kafka start|stop|status` drive this. Each node is broker and controller at once,
listens on 127.0.0.1 only and keeps its data and logs under var/kafka/ (var/kafka/node-<n>/
when there are several: `kafka.local_nodes`). Start is idempotent, formats storage once,
waits until every node answers, then creates the project's topics with the cluster's
replication factor (3 nodes: 3 replicas, min.insync.replicas 2).
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import shutil
import socket
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rapport.runtime.dev_tls import ensure_dev_tls
from rapport.runtime.processes import ManagedProcess, ServiceError
from rapport.settings import PROJECT_ROOT, Settings

log = logging.getLogger(__name__)

#: Folder (under var/jars) that `make setup` fills from infra/jvm/kafka-broker/pom.xml.
KAFKA_BROKER_JARS = "kafka-broker"
LOG4J2_CONFIG = PROJECT_ROOT / "infra" / "kafka" / "log4j2.properties"
#: The secured broker's SASL mechanism for clients and brokers.
SCRAM_MECHANISM = "SCRAM-SHA-512"
#: The variable the secured broker reads its admin password from (Kafka's config provider).
ADMIN_PASSWORD_ENV = "RAPPORT_KAFKA__ADMIN_PASSWORD"


@dataclass(frozen=True)
class NodeStatus:
    """One node of the local cluster."""

    node_id: int
    running: bool
    pid: int | None
    address: str
    data_dir: Path


@dataclass(frozen=True)
class BrokerStatus:
    """What `rapport kafka status` reports: the cluster, and each node (node 1's pid)."""

    running: bool
    pid: int | None
    bootstrap_servers: str
    data_dir: Path
    log_dir: Path
    nodes: tuple[NodeStatus, ...] = ()


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


class KafkaNode:
    """One node of the local cluster: its config, storage and process."""

    def __init__(self, settings: Settings, node_id: int) -> None:
        self.settings = settings
        self.node_id = node_id
        single = settings.kafka.local_nodes == 1
        # One node keeps the layout it always had; a cluster's nodes get a folder each.
        self.home = settings.kafka_dir if single else settings.kafka_dir / f"node-{node_id}"
        self.data_dir = self.home / "data"
        self.log_dir = self.home / "logs"
        self.config_file = self.home / "server.properties"
        name = "kafka" if single else f"kafka-{node_id}"
        self.process = ManagedProcess(name, settings.run_dir, marker=str(self.config_file))
        self.broker_port, self.controller_port = settings.kafka.node_ports()[node_id - 1]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.broker_port}"

    def server_properties(self) -> str:
        """The node's configuration: loopback listeners, the cluster's voters and replication."""
        k = self.settings.kafka
        voters = ",".join(
            f"{n}@127.0.0.1:{controller}" for n, (_, controller) in enumerate(k.node_ports(), 1)
        )
        replicas, min_isr = str(k.replication_factor), str(k.min_insync_replicas)
        client = "SASL_SSL" if k.local_secured else "PLAINTEXT"
        props = {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            "controller.quorum.voters": voters,
            "listeners": (
                f"{client}://127.0.0.1:{self.broker_port},"
                f"CONTROLLER://127.0.0.1:{self.controller_port}"
            ),
            "advertised.listeners": f"{client}://127.0.0.1:{self.broker_port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": client,
            "listener.security.protocol.map": (
                "CONTROLLER:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"
                if k.local_secured
                else "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
            ),
            **(self.security_properties() if k.local_secured else {}),
            "log.dirs": str(self.data_dir),
            "num.partitions": "3",
            # Topics are created explicitly with their configured partitions, never by accident.
            "auto.create.topics.enable": "false",
            "default.replication.factor": replicas,
            # acks=all waits for this many replicas: with 3, one node may die and a write
            # that was acknowledged is still on two.
            "min.insync.replicas": min_isr,
            # A replica that was not in sync never becomes leader: that would lose writes.
            "unclean.leader.election.enable": "false",
            "offsets.topic.replication.factor": replicas,
            "transaction.state.log.replication.factor": replicas,
            "transaction.state.log.min.isr": min_isr,
            "share.coordinator.state.topic.replication.factor": replicas,
            "share.coordinator.state.topic.min.isr": min_isr,
            "group.initial.rebalance.delay.ms": "0",
            "log.retention.hours": "168",
        }
        lines = ["# Written by `rapport kafka start`; edit the settings, not this file."]
        lines += [f"{key}={value}" for key, value in props.items()]
        return "\n".join(lines) + "\n"

    def security_properties(self) -> dict[str, str]:
        """SCRAM over TLS for clients and brokers, PLAIN for the controller listener (KRaft
        controllers cannot use SCRAM: its credentials live in the log they serve), and ACLs.

        The admin password is never in the file: Kafka reads it from the broker's
        environment (ADMIN_PASSWORD_ENV) through its EnvVarConfigProvider.
        """
        tls = self.settings.kafka_dir / "tls"
        password = f"${{env:{ADMIN_PASSWORD_ENV}}}"
        plain = "org.apache.kafka.common.security.plain.PlainLoginModule"
        scram = "org.apache.kafka.common.security.scram.ScramLoginModule"
        return {
            "config.providers": "env",
            "config.providers.env.class": (
                "org.apache.kafka.common.config.provider.EnvVarConfigProvider"
            ),
            "config.providers.env.param.allowlist.pattern": f"^{ADMIN_PASSWORD_ENV}$",
            "sasl.enabled.mechanisms": SCRAM_MECHANISM,
            "sasl.mechanism.inter.broker.protocol": SCRAM_MECHANISM,
            "sasl.mechanism.controller.protocol": "PLAIN",
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "listener.name.controller.plain.sasl.jaas.config": (
                f'{plain} required username="admin" password="{password}" user_admin="{password}";'
            ),
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": (
                f'{scram} required username="admin" password="{password}";'
            ),
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(tls / "broker.pem"),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(tls / "ca.pem"),
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": "User:admin",
            "allow.everyone.if.no.acl.found": "false",
        }

    def answers(self) -> bool:
        """True when this node accepts a metadata request on its listener."""
        return _answers(self.broker_port, self.settings.kafka_admin().python_client_config())

    def status(self) -> NodeStatus:
        pid = self.process.pid()
        return NodeStatus(self.node_id, pid is not None, pid, self.address, self.data_dir)


def _answers(port: int, client: dict[str, object]) -> bool:
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    # A closed port answers at once; only then pay for a Kafka handshake.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        if probe.connect_ex(("127.0.0.1", port)) != 0:
            return False
    try:
        admin = KafkaAdminClient(
            **{**client, "bootstrap_servers": f"127.0.0.1:{port}"},
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


class LocalKafkaBroker:
    """The project's local Kafka: one node or a cluster of `kafka.local_nodes`, and its topics.

    Node 1's folders and process are this object's own `home`, `data_dir`, `log_dir` and
    `process`, as they were when there was only ever one.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.nodes = [KafkaNode(settings, n) for n in range(1, settings.kafka.local_nodes + 1)]
        first = self.nodes[0]
        self.home, self.data_dir, self.log_dir = first.home, first.data_dir, first.log_dir
        self.config_file, self.process = first.config_file, first.process

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(node.address for node in self.nodes)

    def node(self, node_id: int) -> KafkaNode:
        return self.nodes[node_id - 1]

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
        """Node 1's configuration (every node's differs only in its id and ports)."""
        return self.nodes[0].server_properties()

    def _java(self, node: KafkaNode, main_class: str, *args: str, heap: str = "256m") -> list[str]:
        return [
            java_executable(),
            "-Xms128m",
            f"-Xmx{heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={LOG4J2_CONFIG}",
            f"-Dkafka.logs.dir={node.log_dir}",
            "-cp",
            self.classpath(),
            main_class,
            *args,
        ]

    def cluster_id(self) -> str:
        """The KRaft cluster id every node is formatted with, made once."""
        cluster_id_file = self.settings.kafka_dir / "cluster.id"
        if not cluster_id_file.exists():
            cluster_id_file.parent.mkdir(parents=True, exist_ok=True)
            cluster_id_file.write_text(new_cluster_id() + "\n")
        return cluster_id_file.read_text().strip()

    def format_storage(self, node: KafkaNode | None = None) -> bool:
        """Format a node's KRaft log directory once; False when it was already formatted."""
        node = node or self.nodes[0]
        if (node.data_dir / "meta.properties").exists():
            return False
        cmd = self._java(
            node,
            "kafka.tools.StorageTool",
            "format",
            # One argument: a random id may begin with "-", which argparse reads as a flag.
            f"--cluster-id={self.cluster_id()}",
            "--config",
            str(node.config_file),
            "--ignore-formatted",
            *self._bootstrap_credentials(),
        )
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            raise ServiceError(
                f"Formatting Kafka storage in {node.data_dir} failed:\n"
                f"{result.stdout}{result.stderr}"
            )
        return True

    def _bootstrap_credentials(self) -> list[str]:
        """The admin's SCRAM credential, written into the metadata log at format time
        (KIP-900): brokers authenticate to each other with it before anything else runs."""
        k = self.settings.kafka
        if not k.local_secured or k.admin_password is None:
            return []
        secret = k.admin_password.get_secret_value()
        return ["--add-scram", f"{SCRAM_MECHANISM}=[name=admin,password={secret}]"]

    def _environment(self) -> dict[str, str] | None:
        """The broker's environment: the admin password for its config provider."""
        k = self.settings.kafka
        if not k.local_secured or k.admin_password is None:
            return None
        return {**os.environ, ADMIN_PASSWORD_ENV: k.admin_password.get_secret_value()}

    def answers(self) -> bool:
        """True when every node accepts a metadata request on its listener."""
        return all(node.answers() for node in self.nodes)

    def start_node(self, node: KafkaNode) -> bool:
        """Start one node without waiting for it (a quorum needs its peers); False if it runs."""
        if node.process.pid() is not None:
            return False
        for folder in (node.home, node.data_dir, node.log_dir):
            folder.mkdir(parents=True, exist_ok=True)
        if self.settings.kafka.local_secured:
            ensure_dev_tls(self.settings.kafka_dir / "tls")
        node.config_file.write_text(node.server_properties())
        self.format_storage(node)
        cmd = self._java(node, "kafka.Kafka", str(node.config_file),
                         heap=self.settings.kafka.broker_heap)  # fmt: skip
        log.info("Kafka node %s starting on %s", node.node_id, node.address)
        node.process.launch(
            cmd,
            env=self._environment(),
            ready=lambda: True,
            timeout_s=self.settings.kafka.start_timeout_s,
            what=f"Kafka node {node.node_id} on {node.address}",
            hint=f"\nFull log: {node.log_dir / 'server.log'}",
        )
        return True

    def start(self) -> bool:
        """Start every node and create topics; False (and no change) if all already run."""
        started = [self.start_node(node) for node in self.nodes]
        self.wait_until_ready(self.nodes)
        self.ensure_topics()
        if self.settings.kafka.local_secured:
            self.ensure_client_principal()
        return any(started)

    def ensure_client_principal(self) -> None:
        """Rapport's client user (`kafka.sasl_username`) with its password, and ACLs that
        let it use Rapport's topics and consumer groups: nothing else (idempotent)."""
        k = self.settings.kafka
        assert k.sasl_username is not None  # the settings refuse local_secured without them
        assert k.sasl_password is not None
        self.ensure_user(k.sasl_username, k.sasl_password.get_secret_value())
        self.grant_rapport_topics(k.sasl_username)

    def _admin(self) -> Any:
        from confluent_kafka.admin import AdminClient

        return AdminClient(dict(self.settings.kafka_admin().librdkafka_config()))

    def ensure_user(self, name: str, password: str) -> None:
        """A SCRAM user of the secured broker, with this password (made or changed)."""
        from confluent_kafka.admin import (
            ScramCredentialInfo,
            ScramMechanism,
            UserScramCredentialUpsertion,
        )

        credential = UserScramCredentialUpsertion(
            name, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), password.encode()
        )
        admin = self._admin()  # held until the futures resolve: its handle serves them
        for future in admin.alter_user_scram_credentials([credential]).values():
            future.result(timeout=30)

    def grant_rapport_topics(self, name: str) -> None:
        """ACLs for user `name`: everything on Rapport's topics (events, registry) and on
        consumer groups (Spark's Kafka source and the registry's election name their own)."""
        from confluent_kafka.admin import (
            AclBinding,
            AclOperation,
            AclPermissionType,
            ResourcePatternType,
            ResourceType,
        )

        principal = f"User:{name}"
        resources = [
            *((ResourceType.TOPIC, topic) for topic in self.settings.kafka.event_topics),
            (ResourceType.TOPIC, self.settings.registry.topic),
            (ResourceType.GROUP, "*"),
        ]
        bindings = [
            AclBinding(kind, resource, ResourcePatternType.LITERAL, principal, "*",
                       AclOperation.ALL, AclPermissionType.ALLOW)
            for kind, resource in resources
        ]  # fmt: skip
        admin = self._admin()
        for future in admin.create_acls(bindings).values():
            future.result(timeout=30)

    def wait_until_ready(self, nodes: list[KafkaNode]) -> None:
        """Wait until each node answers; a clear error naming the node and its log if not."""
        deadline = time.monotonic() + self.settings.kafka.start_timeout_s
        for node in nodes:
            while not node.answers():
                if node.process.pid() is None:
                    raise ServiceError(
                        f"Kafka node {node.node_id} on {node.address} exited during start. "
                        f"Last lines of {node.process.log_file}:\n{node.process.log_tail()}"
                        f"\nFull log: {node.log_dir / 'server.log'}"
                    )
                if time.monotonic() > deadline:
                    for started in nodes:
                        started.process.stop(timeout_s=10)
                    raise ServiceError(
                        f"Kafka node {node.node_id} on {node.address} was not ready within "
                        f"{self.settings.kafka.start_timeout_s:.0f}s; see "
                        f"{node.log_dir / 'server.log'}"
                    )
                time.sleep(0.25)

    def ensure_topics(self) -> list[str]:
        """Create the configured topics that do not exist yet; returns the names created."""
        from kafka import KafkaAdminClient
        from kafka.admin import NewTopic
        from kafka.errors import TopicAlreadyExistsError

        k = self.settings.kafka
        admin = KafkaAdminClient(
            **{**self.settings.kafka_admin().python_client_config(),
               "bootstrap_servers": self.bootstrap_servers},
            client_id="rapport",
        )  # fmt: skip
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
                                replication_factor=t.replication_factor or k.replication_factor,
                                topic_configs=t.config,
                            )
                            for t in wanted
                        ]
                    )
            return [t.name for t in wanted]
        finally:
            admin.close()

    def stop(self) -> bool:
        """Controlled shutdown of every node (SIGTERM), all at once; False if none ran.

        At once: a node stopped after its peers would wait for a controller quorum that is
        gone before it gave up.
        """
        if len(self.nodes) == 1:
            return self.process.stop(timeout_s=60)
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            stopped = list(pool.map(lambda node: node.process.stop(timeout_s=60), self.nodes))
        return any(stopped)

    def status(self) -> BrokerStatus:
        nodes = tuple(node.status() for node in self.nodes)
        return BrokerStatus(
            running=all(n.running for n in nodes),
            pid=nodes[0].pid,
            bootstrap_servers=self.bootstrap_servers,
            data_dir=self.data_dir,
            log_dir=self.log_dir,
            nodes=nodes,
        )
