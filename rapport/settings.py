"""Every setting Rapport reads, in one place: environment variables (RAPPORT_*) and a .env file.

Nothing here runs at import time: call `get_settings()` (or build `Settings()`) when a
command starts, so tests and tools can point one process at another broker or lakehouse.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The repository root; the default home of var/ (jars, broker data, the local lakehouse).
PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: URI schemes Spark reaches through Hadoop FileSystem implementations.
HADOOP_SCHEMES = frozenset({"file", "s3a", "s3", "gs", "abfs", "abfss", "wasb", "wasbs", "hdfs"})

_SPARK_MASTER = re.compile(
    r"^(local(\[(\*|\d+)(,\d+)?\])?|local-cluster\[.+\]|spark://.+|k8s://.+|yarn)$"
)


def _normalise_storage_uri(value: str, what: str) -> str:
    """Local paths become absolute paths; URIs must name a Hadoop file system Spark can use."""
    parsed = urlparse(value)
    if parsed.scheme and len(parsed.scheme) > 1:  # one letter is a Windows drive, not a scheme
        if parsed.scheme not in HADOOP_SCHEMES:
            raise ValueError(
                f"{what} {value!r} uses the scheme {parsed.scheme!r}; use a local path or one of "
                f"{', '.join(sorted(HADOOP_SCHEMES))}"
            )
        if parsed.scheme == "file":
            return str(Path(parsed.path).resolve())
        return value.rstrip("/")
    return str(Path(value).expanduser().resolve())


class TopicSpec(BaseModel):
    """One Kafka topic that Rapport creates and consumes."""

    name: str
    partitions: int = Field(default=3, ge=1)
    #: None: the local cluster's (`KafkaSettings.replication_factor`, up to 3).
    replication_factor: int | None = Field(default=None, ge=1)
    config: dict[str, str] = Field(default_factory=dict)


def _default_topics() -> dict[str, TopicSpec]:
    # One topic per publishing service, so each can be secured and retained on its own.
    # The broker stamps each record with its own clock (LogAppendTime): gold's completeness
    # and the check on event times that run ahead (docs/reliability.md) then rest on one
    # clock, not on every producer's.
    return {
        domain: TopicSpec(
            name=f"rapport.{domain}.events",
            partitions=3,
            config={"message.timestamp.type": "LogAppendTime"},
        )
        for domain in ("orders", "customers", "inventory", "billing")
    }


class KafkaSettings(BaseModel):
    """How to reach Kafka, and the local single-node broker's own layout."""

    #: Defaults to the local broker (127.0.0.1:<broker_port>); set it for a remote cluster.
    bootstrap_servers: str = ""
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    topics: dict[str, TopicSpec] = Field(default_factory=_default_topics)
    # The local broker (`rapport kafka start`); ignored when pointing at a remote cluster.
    broker_port: int = Field(default=9092, ge=1, le=65535)
    controller_port: int = Field(default=9093, ge=1, le=65535)
    #: Nodes of the local KRaft cluster, each broker and controller at once. 1: a single
    #: broker. 3: replication factor 3 and min.insync.replicas 2, so one node may die with
    #: no loss and no pause in writes (docs/reliability.md). Node n listens on
    #: broker_port + 2(n-1) and controller_port + 2(n-1).
    local_nodes: int = Field(default=1, ge=1, le=5)
    broker_heap: str = "1g"
    start_timeout_s: float = Field(default=90.0, gt=0)
    #: How long a producer waits for a broker to answer before it says it cannot reach one.
    connect_timeout_s: float = Field(default=10.0, gt=0)
    #: The local broker (`rapport kafka start`) secured as a production cluster is: clients
    #: authenticate with SCRAM-SHA-512 over TLS (a development CA made under var/kafka/tls/),
    #: and ACLs let them in. Rapport's clients connect as `sasl_username`, whom the start
    #: creates with rights on Rapport's topics alone (docs/security.md).
    local_secured: bool = False
    #: The secured local broker's super user `admin`: the brokers among themselves, and the
    #: start creating topics, users and ACLs. Never Rapport's clients.
    admin_password: SecretStr | None = None

    @model_validator(mode="after")
    def _sasl_needs_credentials(self) -> KafkaSettings:
        if not self.bootstrap_servers:
            self.bootstrap_servers = ",".join(
                f"127.0.0.1:{broker}" for broker, _ in self.node_ports()
            )
        if self.local_secured:
            if self.sasl_username is None or self.sasl_password is None:
                raise ValueError(
                    "kafka.local_secured needs the user Rapport's clients connect as: "
                    "RAPPORT_KAFKA__SASL_USERNAME and RAPPORT_KAFKA__SASL_PASSWORD"
                )
            if self.admin_password is None:
                raise ValueError(
                    "kafka.local_secured needs the broker's admin password: "
                    "RAPPORT_KAFKA__ADMIN_PASSWORD"
                )
            if self.security_protocol == "PLAINTEXT":
                self.security_protocol = "SASL_SSL"
            self.sasl_mechanism = self.sasl_mechanism or "SCRAM-SHA-512"
        if self.security_protocol.startswith("SASL_") and (
            self.sasl_mechanism is None or self.sasl_username is None or self.sasl_password is None
        ):
            raise ValueError(
                "security_protocol SASL_* needs RAPPORT_KAFKA__SASL_MECHANISM, "
                "RAPPORT_KAFKA__SASL_USERNAME and RAPPORT_KAFKA__SASL_PASSWORD"
            )
        return self

    @property
    def event_topics(self) -> list[str]:
        """Topic names the stream subscribes to, in a stable order."""
        return [self.topics[k].name for k in sorted(self.topics)]

    def node_ports(self) -> list[tuple[int, int]]:
        """(broker port, controller port) of each node of the local cluster, node 1 first."""
        return [
            (self.broker_port + 2 * i, self.controller_port + 2 * i)
            for i in range(self.local_nodes)
        ]

    @property
    def replication_factor(self) -> int:
        """Replicas of each topic Rapport creates where its TopicSpec names none."""
        return min(3, self.local_nodes)

    @property
    def min_insync_replicas(self) -> int:
        """Replicas that must have a write before acks=all acknowledges it (one may die)."""
        return max(1, self.replication_factor - 1)

    def python_client_config(self) -> dict[str, object]:
        """Keyword arguments for kafka-python clients (the secret is revealed only here)."""
        config: dict[str, object] = {
            "bootstrap_servers": self.bootstrap_servers.split(","),
            "security_protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            config["sasl_mechanism"] = self.sasl_mechanism
            config["sasl_plain_username"] = self.sasl_username
            config["sasl_plain_password"] = (
                self.sasl_password.get_secret_value() if self.sasl_password else None
            )
        if self.ssl_cafile:
            config["ssl_cafile"] = str(self.ssl_cafile)
        return config

    def librdkafka_config(self) -> dict[str, str]:
        """The same connection for librdkafka (confluent-kafka), the fast producer transport."""
        config = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol.lower(),
        }
        if self.sasl_mechanism and self.sasl_username and self.sasl_password:
            config["sasl.mechanism"] = self.sasl_mechanism
            config["sasl.username"] = self.sasl_username
            config["sasl.password"] = self.sasl_password.get_secret_value()
        if self.ssl_cafile:
            config["ssl.ca.location"] = str(self.ssl_cafile)
        return config

    def spark_source_options(self) -> dict[str, str]:
        """Options for Spark's Kafka source: the same connection, in Spark's spelling."""
        options = {
            "kafka.bootstrap.servers": self.bootstrap_servers,
            "kafka.security.protocol": self.security_protocol,
        }
        if self.sasl_mechanism and self.sasl_username and self.sasl_password:
            module = (
                "org.apache.kafka.common.security.plain.PlainLoginModule"
                if self.sasl_mechanism == "PLAIN"
                else "org.apache.kafka.common.security.scram.ScramLoginModule"
            )
            secret = self.sasl_password.get_secret_value().replace('"', '\\"')
            options["kafka.sasl.mechanism"] = self.sasl_mechanism
            options["kafka.sasl.jaas.config"] = (
                f'{module} required username="{self.sasl_username}" password="{secret}";'
            )
        if self.ssl_cafile:
            options["kafka.ssl.truststore.type"] = "PEM"
            options["kafka.ssl.truststore.location"] = str(self.ssl_cafile)
        return options


class RegistrySettings(BaseModel):
    """The schema registry: the bundled one by default, or any Confluent-compatible URL."""

    #: Defaults to the bundled registry (http://<host>:<port>). Set it to use Confluent
    #: Schema Registry, Karapace or Apicurio (its /apis/ccompat/v7 path) instead.
    url: str = ""
    host: str = "127.0.0.1"
    port: int = Field(default=8081, ge=1, le=65535)
    #: Compacted topic where the bundled registry keeps every schema and config change.
    topic: str = "_schemas"
    #: The user Rapport's clients send (HTTP basic authentication), as Confluent's expects.
    username: str | None = None
    password: SecretStr | None = None
    #: The bundled registry's users, in Confluent's PropertyFileLoginModule format (one
    #: `name: password, role` per line; the admin role writes, others read). Unset: it asks
    #: for no user, so keep it on loopback (docs/security.md).
    users_file: Path | None = None
    default_compatibility: str = "BACKWARD"
    start_timeout_s: float = Field(default=60.0, gt=0)

    @model_validator(mode="after")
    def _default_url(self) -> RegistrySettings:
        if not self.url:
            self.url = f"http://{self.host}:{self.port}"
        self.url = self.url.rstrip("/")
        return self

    @property
    def is_bundled(self) -> bool:
        """True when the URL is the bundled registry's, which `rapport up` then starts."""
        return self.url == f"http://{self.host}:{self.port}"

    def basic_auth(self) -> tuple[str, str] | None:
        if self.username and self.password:
            return (self.username, self.password.get_secret_value())
        return None


class SparkSettings(BaseModel):
    """Where Spark runs and how big it may get. Defaults fit a 2-core, 24 GiB machine."""

    #: local[*], local[N], spark://host:port, k8s://https://host:port or yarn. Empty: the
    #: local standalone cluster's master when `local_workers` > 0, else local[*].
    master: str = ""
    #: Workers of a local standalone cluster (`rapport up --cluster`): a master and this many
    #: workers from the pyspark wheel, on loopback (docs/deployment.md). 0: none.
    local_workers: int = Field(default=0, ge=0, le=4)
    #: The local master's RPC port and web UI.
    local_master_port: int = Field(default=7077, ge=1, le=65535)
    local_ui_port: int = Field(default=8080, ge=1, le=65535)
    #: Worker N's web UI is this port + N - 1 (Spark's own 8081 is the schema registry's).
    local_worker_ui_port: int = Field(default=8091, ge=1, le=65530)
    #: What each local worker offers. More cores than the machine has, on purpose: every
    #: driver (two for the stream, the SQL server, a Dagster run) holds `cores_max` of them
    #: for its whole life, and waits for them before it starts (decision 0024).
    local_worker_cores: int = Field(default=4, ge=1)
    local_worker_memory: str = "6g"
    #: The address the driver binds and that executors call back on: loopback on one
    #: machine; on a cluster the driver host's address (a pod IP on Kubernetes).
    driver_host: str = "127.0.0.1"
    #: Executors' size on a cluster (ignored in local mode, where the driver runs every task).
    executor_memory: str = "1g"
    executor_cores: int = Field(default=1, ge=1)
    #: Cores one application may hold on a standalone cluster (spark.cores.max); unset, the
    #: first application takes every core and the next waits for ever.
    cores_max: int | None = Field(default=None, ge=1)
    driver_memory: str = "3g"
    # Local mode: a handful of shuffle partitions; on a cluster raise it to ~2-3x the cores.
    shuffle_partitions: int = Field(default=4, ge=1)
    #: Tasks that rebuild a Delta table's state after each commit (Delta's default is 50).
    #: 1 is fastest for the small tables of one machine; raise it for large tables on a cluster.
    snapshot_partitions: int = Field(default=1, ge=1)
    ui_enabled: bool = True
    ui_port: int = Field(default=4040, ge=1, le=65535)
    log_level: str = "WARN"
    #: JVM options of the driver (in local mode it runs every task). Empty: the JVM's defaults,
    #: whose C2 compiler pays for the long jobs of batch loads. The stream's processes use
    #: `stream.driver_java_options` instead.
    driver_java_options: str = ""
    # Free-form extras, e.g. s3a credentials providers: RAPPORT_SPARK__CONF='{"spark.x": "y"}'.
    conf: dict[str, str] = Field(default_factory=dict)

    @field_validator("master")
    @classmethod
    def _known_master(cls, value: str) -> str:
        if value and not _SPARK_MASTER.match(value):
            raise ValueError(
                f"Spark master {value!r} is not one of local[*], local[N], spark://host:port, "
                "k8s://https://host:port or yarn"
            )
        return value

    @model_validator(mode="after")
    def _derive_master(self) -> SparkSettings:
        if not self.master:
            self.master = self.local_master_url if self.local_workers else "local[*]"
        return self

    @property
    def local_master_url(self) -> str:
        """The local standalone cluster's master (`local_workers` > 0)."""
        return f"spark://127.0.0.1:{self.local_master_port}"


class StreamSettings(BaseModel):
    """The streaming queries' pace and bounds."""

    #: How long `rapport stream start` (and `up`) waits for gold's query to run.
    start_timeout_s: float = Field(default=180.0, gt=0)
    #: Trigger of the bronze query (Kafka to bronze.events).
    trigger_interval: str = "2 seconds"
    #: Trigger of the hot query (Kafka straight to gold): gold's pace.
    gold_trigger_interval: str = "1 second"
    #: Trigger of the silver (refine) query. Its batches write a dozen Delta tables whose
    #: fixed cost is seconds on two cores, so fewer, larger batches keep up with more events.
    silver_trigger_interval: str = "10 seconds"
    #: The hot query catches a duplicate event id that arrives within this many seconds (of
    #: processing time) of the first copy; later copies are counted again in gold until a
    #: rebuild (silver deduplicates against its tables and never double counts). State grows
    #: with rate x horizon: 5,000 events/s for 600 s is 3 million ids in RocksDB.
    dedup_horizon_s: float = Field(default=600.0, ge=1)
    #: Tasks that classify the hot query's records (Python workers); about the cores the
    #: stream may use. On a cluster, the executors' cores.
    classify_tasks: int = Field(default=2, ge=1)
    #: At most this many Kafka records per micro-batch (bronze's and the hot query's). Only a
    #: backlog fills it; there, each batch's fixed cost spreads over more records: a
    #: 2.4-million record backlog drained to gold at 23,613 events/s with 100,000 and 31,688-
    #: 33,039 with 400,000 (docs/decisions/0017-backlog-batches.md).
    max_offsets_per_trigger: int = Field(default=400_000, ge=1)
    starting_offsets: Literal["earliest", "latest"] = "earliest"
    # True: a gap in the Kafka offsets (retention outran the stream) stops the query instead
    # of skipping data silently. Bronze is the audit trail, so losing records must be loud.
    fail_on_data_loss: bool = True
    #: How far behind the newest event time an event may arrive and still be on time. Gold
    #: rows are stamped complete up to (newest event time - this); an event older than that
    #: is late: it still lands everywhere, and is recorded in ops.late_events with its day.
    watermark_delay_s: float = Field(default=600.0, ge=0)
    #: An event whose time runs more than this ahead of the broker's timestamp goes to
    #: quarantine (`event_time_ahead`): a producer whose clock runs ahead would otherwise
    #: move the watermark, and everyone else's events would become late (docs/reliability.md).
    max_event_time_ahead_s: float = Field(default=300.0, ge=0)
    #: An event time before this goes to quarantine (`event_time_too_old`): a zeroed clock.
    earliest_event_time: datetime = datetime(2000, 1, 1, tzinfo=UTC)
    #: Bound on one refine batch, read from bronze's Delta files (a soft limit: whole files).
    max_bytes_per_refine_batch: int = Field(default=64 * 1024 * 1024, ge=1024)
    #: CPU priority (nice, 0-19) of the stream's background process, which runs bronze and
    #: silver: on a machine they share with gold's query, gold gets the cores first and
    #: silver takes what is left (docs/decisions/0012-gold-first.md). 0: an equal share.
    background_nice: int = Field(default=10, ge=0, le=19)
    #: Run the background process under Linux's SCHED_IDLE policy: it gets only CPU time that
    #: nothing else asks for, so under a load the machine cannot carry in full, silver (and
    #: bronze) fall behind and gold does not. Off: background_nice alone sets its share.
    background_idle: bool = True
    #: Tables written in parallel within one micro-batch (Delta commits are mostly waiting).
    write_threads: int = Field(default=4, ge=1, le=32)
    #: `spark.driver_java_options` for the stream's two processes: C1 alone. On 2 cores C2's
    #: compiles took most of a core through a stream's first minutes, and a 2.4-million
    #: record backlog drained at 24,483 events/s with C1 alone against 21,869 with both
    #: (docs/decisions/0016-compiled-once.md). Empty for the JVM's defaults. C1 alone gets
    #: the JVM's small code cache (48 MiB, sized for no tiers), which the background
    #: process filled within minutes ("Out of space in CodeCache", exit 1): the tiered size
    #: (240 MiB, reserved, used as filled) is given back; options with C1 alone and no code
    #: cache size get it (`streaming.runner.stream_java_options`).
    driver_java_options: str = "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=240m"
    #: Heap of the hot process's Spark driver, gold's query (`spark.driver_memory` is every
    #: other driver's but the background one's, below). 2g holds a 400,000-record backlog
    #: batch: the hot JVM peaked at 2.0 GiB resident through a 1.2-million record drain at
    #: 30,440 events/s (29,557 with 3g); the background JVM grew to 3.7 GiB with 3g under a
    #: steady 5,000 events/s, which left the stack no room within 8 GiB (decision 0018).
    driver_memory: str = "2g"
    #: Heap of the background process's driver (bronze and silver). With 2g its JVM held
    #: 2.7 GiB resident through an hour at 500 events/s; with 1g 1.6-1.7 GiB, and it still
    #: landed a 1.2-million record backlog in bronze (400,000-record batches) without
    #: running out (docs/operations.md, memory).
    background_driver_memory: str = "1g"

    @field_validator("earliest_event_time")
    @classmethod
    def _zoned(cls, value: datetime) -> datetime:
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class MaintenanceSettings(BaseModel):
    """Table upkeep: compaction, VACUUM and checkpoint cleanup (scheduled by orchestration)."""

    #: VACUUM keeps files younger than this. Readers and time travel need the old files; a
    #: stream restarted after a longer pause may too. Delta itself refuses less than 168 h
    #: unless its safety check is turned off; so does Rapport.
    vacuum_retention_hours: float = Field(default=168.0, ge=0)
    #: The smallest retention Rapport accepts without --force (Delta's own safe minimum).
    min_vacuum_retention_hours: float = Field(default=168.0, ge=0)
    #: Streaming checkpoints keep this many batches' metadata (Spark deletes older ones).
    checkpoint_batches_to_retain: int = Field(default=100, ge=10)


class DagsterSettings(BaseModel):
    """Dagster's UI and daemon (`dagster dev`), started with the stack."""

    host: str = "127.0.0.1"
    port: int = Field(default=3000, ge=1, le=65535)
    #: DAGSTER_HOME: its dagster.yaml and the sqlite storage of runs, event logs, schedules
    #: and backfills, kept across restarts. Defaults to <state_dir>/dagster.
    home: Path | None = None
    #: The code locations Dagster loads.
    workspace: Path = PROJECT_ROOT / "workspace.yaml"
    #: How many times the daemon retries a failed run (dagster.yaml's run_retries).
    max_run_retries: int = Field(default=2, ge=0)
    #: Runs at once (the rest queue). A Spark run takes a driver (~1 core, a few GiB); 2 lets
    #: the minute's stream observation (no JVM) run beside a long backfill on 2 cores.
    max_concurrent_runs: int = Field(default=2, ge=1)
    start_timeout_s: float = Field(default=120.0, gt=0)
    #: Run monitoring (the daemon): a run still STARTING after this long (its worker never
    #: came up, e.g. the daemon died as it launched it) is failed, and so retried.
    run_start_timeout_s: int = Field(default=180, gt=0)
    #: ... and a run STARTED this long ago is stopped: a worker that died without a word
    #: (SIGKILL, a lost machine) leaves its run STARTED, and the local run launcher cannot
    #: ask it; this bounds how long such a run holds its queue slot. A backfill of years fits.
    max_run_runtime_s: int = Field(default=6 * 3600, gt=0)

    @property
    def url(self) -> str:
        """Where the UI answers (a wildcard address means loopback)."""
        host = "127.0.0.1" if self.host in {"0.0.0.0", "::", ""} else self.host
        return f"http://{host}:{self.port}"


class DashboardSettings(BaseModel):
    """The live dashboard (Streamlit), started with the stack."""

    host: str = "127.0.0.1"
    port: int = Field(default=8501, ge=1, le=65535)
    start_timeout_s: float = Field(default=60.0, gt=0)

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in {"0.0.0.0", "::", ""} else self.host
        return f"http://{host}:{self.port}"


class ServingSettings(BaseModel):
    """The SQL server for BI tools and notebooks: Spark's Thrift server and Spark Connect.

    Both run in one Spark driver whose catalog is Rapport's (bronze, silver, gold, ops, ref),
    so a JDBC tool and a Spark Connect notebook see the tables by name, with Delta time
    travel. Off (`RAPPORT_SERVING__ENABLED=false`) saves its driver's memory on a small machine.
    """

    enabled: bool = True
    #: Loopback by default: nothing on this machine authenticates a JDBC or Connect client yet.
    host: str = "127.0.0.1"
    #: HiveServer2 protocol (JDBC `jdbc:hive2://host:port/default`, ODBC, beeline).
    thrift_port: int = Field(default=10000, ge=1, le=65535)
    #: Spark Connect (`SparkSession.builder.remote("sc://host:port")`); 0 turns it off.
    connect_port: int = Field(default=15002, ge=0, le=65535)
    driver_memory: str = "1g"
    #: G1 hands an idle heap back to the OS after this long without a collection, so the
    #: memory a heavy query (or the hourly quality run) took does not stay resident.
    driver_java_options: str = "-XX:G1PeriodicGCInterval=30000"
    ui_port: int = Field(default=4042, ge=1, le=65535)
    start_timeout_s: float = Field(default=180.0, gt=0)


class QualitySettings(BaseModel):
    """Quality gates, freshness SLAs and the alerts they raise."""

    #: The freshness SLAs, one file a user edits (docs/quality.md lists what it declares).
    sla_file: Path = PROJECT_ROOT / "quality" / "slas.yaml"
    #: Where alerts are POSTed as JSON (Slack-compatible `text` included); None: log only.
    #: A secret: a Slack or Teams webhook URL is a credential.
    alert_webhook_url: SecretStr | None = None
    #: How often the alert sensor evaluates the SLAs and gates (an alert goes out within
    #: this plus one evaluation of a breach).
    alert_interval_s: int = Field(default=15, ge=5)
    #: Failing rows shown per check, in Dagster and in ops.quality_results.
    examples_per_check: int = Field(default=5, ge=0, le=100)
    #: How long an order may wait for its lines: silver commits an event's order before its
    #: lines (two tables, two commits), so an order written in the last few seconds can be
    #: seen without them. An order with no lines fails `total_equals_sum_of_lines` once its
    #: `ingest_time` is older than this; an order with lines is judged at once.
    lines_in_flight_s: float = Field(default=600.0, ge=0)
    #: Days of the stream's partitions the unpartitioned quality job validates (today and
    #: the days before), when no partition range is given.
    stream_check_days: int = Field(default=2, ge=1)
    #: Heap of a run of the quality suites alone (the hourly `stream_quality` job): they are
    #: aggregates Spark streams through, so a small heap does; the daily and history runs,
    #: whose loads and aggregates share the JVM, keep `spark.driver_memory`. With 1g the
    #: hourly run added 1.6 GiB to the stack's resident memory, with 3g 3.2 (operations.md).
    driver_memory: str = "1g"
    #: Run `stream_quality` through the SQL server's Spark Connect (when the server is on):
    #: its scans run in a JVM that is up anyway instead of one more per run, which took the
    #: stack over 8 GiB during the hourly run (operations.md, memory). Off: the run's own JVM.
    through_sql_server: bool = True


class PrivacySettings(BaseModel):
    """Personal data: its pseudonyms in silver and gold, and its erasure (docs/security.md)."""

    #: The key of the pseudonyms (HMAC-SHA256) of the fields the contracts mark personal.
    #: Unset: the key file's, made on first use (32 random bytes as hex, mode 0600). A new
    #: key gives every value a new pseudonym from then on, so keep it with the lakehouse.
    pseudonym_key: SecretStr | None = None
    #: Where the key is kept when it is not set; defaults to <state_dir>/secrets/pseudonym.key.
    key_file: Path | None = None
    #: How long `rapport gdpr erase` waits for the stream to refine the customer's records
    #: before it rewrites them (a bronze file the stream has not read must not change).
    erase_wait_s: float = Field(default=120.0, gt=0)
    #: An erasure purges old table versions down to this age: files younger are kept, as a
    #: running writer may not have committed them yet. The longest a batch may take between
    #: writing its files and committing them, with a margin; the erasure waits this long.
    purge_after_s: float = Field(default=300.0, gt=0)


class Settings(BaseSettings):
    """Rapport's configuration. Nested fields use '__': RAPPORT_KAFKA__BOOTSTRAP_SERVERS."""

    model_config = SettingsConfigDict(
        env_prefix="RAPPORT_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    #: Local state: jars, broker data and logs, pid files, and the default lakehouse.
    state_dir: Path = PROJECT_ROOT / "var"
    #: Root of the Delta tables; a local folder by default, or s3a://bucket/prefix etc.
    lakehouse_root: str | None = None
    #: Root of the streaming checkpoints; keep it beside the lakehouse in production.
    checkpoint_root: str | None = None
    #: Landing zone of exports in the contract format (the simulator's history mode writes
    #: `date=YYYY-MM-DD/*.jsonl` here); the historical load reads it. Local or s3a://.
    landing_root: str | None = None
    #: First day of the daily partitions (history load and daily aggregates) in Dagster.
    history_start: date = date(2026, 1, 1)
    #: The event contracts (JSON Schemas); point it at your own repository's contracts.
    contracts_dir: Path = PROJECT_ROOT / "rapport" / "contracts" / "schemas"
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    spark: SparkSettings = Field(default_factory=SparkSettings)
    stream: StreamSettings = Field(default_factory=StreamSettings)
    maintenance: MaintenanceSettings = Field(default_factory=MaintenanceSettings)
    dagster: DagsterSettings = Field(default_factory=DagsterSettings)
    quality: QualitySettings = Field(default_factory=QualitySettings)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    serving: ServingSettings = Field(default_factory=ServingSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)

    @field_validator("state_dir")
    @classmethod
    def _absolute_state_dir(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @model_validator(mode="after")
    def _derive_roots(self) -> Settings:
        lakehouse = self.lakehouse_root or str(self.state_dir / "lakehouse")
        self.lakehouse_root = _normalise_storage_uri(lakehouse, "lakehouse_root")
        checkpoints = self.checkpoint_root or str(self.state_dir / "checkpoints")
        self.checkpoint_root = _normalise_storage_uri(checkpoints, "checkpoint_root")
        landing = self.landing_root or str(self.state_dir / "landing")
        self.landing_root = _normalise_storage_uri(landing, "landing_root")
        if self.kafka.local_secured and self.kafka.ssl_cafile is None:
            # The development CA the secured local broker makes (rapport.runtime.dev_tls).
            self.kafka.ssl_cafile = self.kafka_dir / "tls" / "ca.pem"
        return self

    # Derived locations: every module asks here instead of joining paths itself.
    @property
    def lakehouse(self) -> str:
        assert self.lakehouse_root is not None
        return self.lakehouse_root

    @property
    def checkpoints(self) -> str:
        assert self.checkpoint_root is not None
        return self.checkpoint_root

    @property
    def landing(self) -> str:
        assert self.landing_root is not None
        return self.landing_root

    @property
    def jars_dir(self) -> Path:
        return self.state_dir / "jars"

    @property
    def run_dir(self) -> Path:
        """Pid files and process logs of the services `rapport up` starts."""
        return self.state_dir / "run"

    @property
    def kafka_dir(self) -> Path:
        return self.state_dir / "kafka"

    @property
    def registry_cache_dir(self) -> Path:
        """Schemas the stream's workers fetched, read back while the registry is down."""
        return self.state_dir / "cache" / "registry"

    @property
    def dagster_home(self) -> Path:
        """DAGSTER_HOME of the stack's Dagster (an ignored folder under var/ by default)."""
        home = self.dagster.home or self.state_dir / "dagster"
        return home.expanduser().resolve()

    def pseudonym_key(self) -> SecretStr:
        """The pseudonyms' key: the setting, else the key file's (made on first use)."""
        if self.privacy.pseudonym_key is not None:
            return self.privacy.pseudonym_key
        return _read_or_make_key(
            self.privacy.key_file or self.state_dir / "secrets" / "pseudonym.key"
        )

    def kafka_admin(self) -> KafkaSettings:
        """The connection of the secured local broker's super user (topics, users, ACLs);
        the plain connection when the local broker is not secured."""
        if not self.kafka.local_secured:
            return self.kafka
        return self.kafka.model_copy(
            update={"sasl_username": "admin", "sasl_password": self.kafka.admin_password}
        )

    def with_spark(self, **changes: Any) -> Settings:
        """These settings with some of `spark`'s fields changed: a driver of its own kind
        (the stream's, the SQL server's, a quiet CLI session) built from the same base."""
        return self.model_copy(update={"spark": self.spark.model_copy(update=changes)})


#: Named profiles: settings one switch lays over the rest (`rapport up --cluster`). A
#: profile changes what runs where, never code: the stream, Dagster and the SQL server read
#: the same settings either way.
PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    # A Spark standalone master with two workers and a three-broker Kafka, all on loopback
    # (docs/deployment.md). Each driver holds two of the workers' eight cores. Some fifteen
    # JVMs start at once on the machine: the stream and Dagster get longer to be ready.
    "cluster": {
        "spark": {"master": "", "local_workers": 2, "cores_max": 2},
        # Empty: derived again, for the three local nodes.
        "kafka": {"local_nodes": 3, "bootstrap_servers": ""},
        "dagster": {"start_timeout_s": 300.0},
        "stream": {"start_timeout_s": 420.0},
    },
}


def profile_file(settings: Settings) -> Path:
    """Where `rapport up --PROFILE` records the profile of the stack it started."""
    return settings.run_dir / "profile"


def active_profile(settings: Settings) -> str | None:
    """The profile the running stack was started with, if any (None when stopped)."""
    try:
        name = profile_file(settings).read_text().strip()
    except FileNotFoundError:
        return None
    return name if name in PROFILES else None


def with_profile(settings: Settings, name: str) -> Settings:
    """`settings` with profile `name` laid over them (its values win)."""
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; known: {', '.join(sorted(PROFILES))}")
    data = revealed(settings)
    for section, values in PROFILES[name].items():
        current = data.get(section)
        data[section] = {**(current if isinstance(current, dict) else {}), **values}
    return Settings.model_validate(data)


@lru_cache(maxsize=8)
def _read_or_make_key(path: Path) -> SecretStr:
    """The key in `path`; made there first if absent, safely when several processes race
    (the stream, the SQL server and Dagster start together): the first link wins. Read once
    per process (the refine asks every batch); a new key takes a restart, as it should."""
    import os
    import secrets

    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        draft.write_text(secrets.token_hex(32) + "\n")
        draft.chmod(0o600)
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    key = path.read_text().strip()
    if not key:
        raise ValueError(f"the pseudonym key file {path} is empty: remove it or set one")
    return SecretStr(key)


def _reveal(value: object) -> object:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: _reveal(v) for k, v in value.items()}
    if isinstance(value, BaseModel):
        return _reveal(dict(value))
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def revealed(settings: Settings) -> dict[str, object]:
    """The settings as plain data, secrets included, for a process that must rebuild them."""
    return {
        name: _reveal(getattr(settings, name))
        for name in type(settings).model_fields
        if getattr(settings, name) is not None
    }


def settings_env(settings: Settings) -> dict[str, str]:
    """Environment variables that rebuild exactly `settings` in a child process.

    Secrets are revealed here on purpose: a child process needs them to connect. The result
    goes into a child's environment only, never into a log or a file.
    """
    return {
        f"RAPPORT_{name.upper()}": value if isinstance(value, str) else json.dumps(value)
        for name, value in revealed(settings).items()
    }


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once on first use (never at import), with the profile
    the running stack was started with (`rapport up --cluster`), so every later command
    talks to that stack."""
    settings = Settings()
    profile = active_profile(settings)
    return with_profile(settings, profile) if profile else settings
