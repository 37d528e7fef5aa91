"""The start/stop/status groups of the stack's services, made by one helper.

Kafka, the schema registry, the stream, Dagster, the dashboard and the SQL server are each
a background process with a pid file, and each answers `start() -> bool`, `stop() -> bool`
and `status()` with a `.running` flag. One spec per service says only what differs, as data:
its class, where it listens, what its status shows and how it runs in the foreground. The
service classes are imported when a command runs, so `rapport --help` stays fast.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import click

from rapport.cli.common import fail_clearly, load_settings
from rapport.settings import Settings


class Service(Protocol):
    """What a background service of the stack offers the CLI."""

    def start(self) -> bool: ...

    def stop(self) -> bool: ...

    def status(self) -> Any: ...


@dataclass(frozen=True)
class ServiceSpec:
    """One service's group: what differs between services, as data.

    `service` names the class ("module:Class", imported when a command runs). `running` and
    `stopped` are the status lines, formatted with the service (`svc`) and its status (`st`);
    `describe` replaces them when a status needs more than a line (the stream's).
    """

    name: str
    title: str
    help: str
    service: str
    where: str
    running: str = ""
    stopped: str = ""
    describe: Callable[[Any], Iterable[str]] | None = None
    foreground: Callable[[Settings], int] | None = None
    start_help: str = "Start it in the background; a no-op if it already runs."
    stop_help: str = "Stop it; a no-op if it is not running."

    def build(self, settings: Settings) -> Service:
        module, _, cls = self.service.partition(":")
        built: Service = getattr(importlib.import_module(module), cls)(settings)
        return built

    def lines(self, service: Service, status: Any) -> list[str]:
        if self.describe is not None:
            return list(self.describe(status))
        template = self.running if status.running else self.stopped
        return [template.format(svc=service, st=status)]


def _foreground_logging(*quiet: str) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING)


def service_group(spec: ServiceSpec) -> click.Group:
    """A click group `NAME start|stop|status` for one service (status exits 3 when stopped)."""

    @click.group(name=spec.name, help=spec.help)
    def group() -> None:
        pass

    @fail_clearly
    def start(foreground: bool = False) -> None:
        settings = load_settings()
        if foreground and spec.foreground is not None:
            sys.exit(spec.foreground(settings))
        service = spec.build(settings)
        started = service.start()
        where = spec.where.format(svc=service)
        click.echo(
            f"{spec.title} {'started' if started else 'already running'}"
            + (f" on {where}" if where else "")
        )

    start_cmd = click.Command("start", callback=start, help=spec.start_help)
    if spec.foreground is not None:
        start_cmd.params.append(
            click.Option(["--foreground"], is_flag=True, help="Run in this terminal until Ctrl-C.")
        )
    group.add_command(start_cmd)

    @group.command("stop", help=spec.stop_help)
    @fail_clearly
    def stop() -> None:
        stopped = spec.build(load_settings()).stop()
        click.echo(f"{spec.title} stopped" if stopped else f"{spec.title} was not running")

    @group.command(
        "status", help="Say whether it runs (exit code 0) or not (exit code 3), and where."
    )
    def status() -> None:
        service = spec.build(load_settings())
        st = service.status()
        for line in spec.lines(service, st):
            click.echo(line)
        if not st.running:
            sys.exit(3)

    return group


# --- the services -----------------------------------------------------------------------------


def _describe_spark_cluster(st: Any) -> list[str]:
    if not st.members:
        return ["no local Spark cluster (spark.local_workers is 0; `rapport up --cluster`)"]
    lines = [f"Spark cluster {'running' if st.running else 'not running'}: {st.master_url}"]
    for m in st.members:
        state = f", {m.state}" if m.state else ""
        lines.append(
            f"  {m.name}: pid {m.pid}, {m.address}, UI {m.ui}{state}"
            if m.running
            else f"  {m.name}: stopped"
        )
    lines += [f"  application: {name}" for name in st.applications]
    return lines


def _registry_foreground(settings: Settings) -> int:
    from registry.__main__ import serve

    _foreground_logging("kafka")
    return serve(settings)


def _describe_stream(st: Any) -> list[str]:
    from streaming.stream_service import describe_batch

    lines = [f"stream {st.state}" + (f" (pid {st.pid})" if st.pid else "")]
    if st.advice:
        lines.append(f"  what to do: {st.advice}")
    for name, q in st.queries.items():
        lines.append(
            f"  {name}: batch {q.get('batch_id')}, {q.get('rows')} rows, "
            f"{q.get('processed_rows_per_s')} rows/s, {q.get('batch_duration_ms')} ms, "
            f"at {q.get('timestamp')}"
        )
    lines += describe_batch(st.last_gold_batch, "gold")
    lines += describe_batch(st.last_batch, "silver (refine)")
    return lines


def _stream_foreground(settings: Settings) -> int:
    from streaming.runner import run

    _foreground_logging("py4j", "kafka")  # kafka-python logs a line per connection
    return run(settings)


def _sql_server_foreground(settings: Settings) -> int:
    from serving.sql_server import serve

    _foreground_logging("py4j")
    return serve(settings)


SERVICES = (
    ServiceSpec(
        name="kafka",
        title="Kafka",
        help="The local Kafka (KRaft): one broker, or kafka.local_nodes of them, from Maven jars.",
        service="rapport.runtime.kafka_broker:LocalKafkaBroker",
        where="{svc.bootstrap_servers}",
        running="Kafka running (pid {st.pid}) on {st.bootstrap_servers}; data in {st.data_dir}",
        stopped="Kafka not running; data in {st.data_dir}",
        start_help="Start the broker and create the topics; a no-op if it already runs.",
        stop_help="Stop the broker cleanly; a no-op if it is not running.",
    ),
    ServiceSpec(
        name="spark-cluster",
        title="Spark cluster",
        help="The local Spark standalone cluster: a master and spark.local_workers workers.",
        service="rapport.runtime.spark_cluster:LocalSparkCluster",
        where="{svc.master_url}",
        describe=_describe_spark_cluster,
        start_help="Start the master and any worker that is not running (a killed one too).",
        stop_help="Stop the workers (and their executors), then the master.",
    ),
    ServiceSpec(
        name="registry",
        title="schema registry",
        help="The bundled schema registry (Confluent's REST API, JSON Schema, stored in Kafka).",
        service="registry.registry_service:RegistryService",
        where="{svc.url}",
        running="schema registry running (pid {st.pid}) on {st.url}; topic {st.topic}",
        stopped="schema registry not running; topic {st.topic}",
        foreground=_registry_foreground,
        start_help="Start the registry (Kafka must run); a no-op if it already runs.",
    ),
    ServiceSpec(
        name="stream",
        title="stream",
        help="The Spark Structured Streaming processes: Kafka -> bronze, silver and gold.",
        service="streaming.stream_service:StreamService",
        where="",
        describe=_describe_stream,
        foreground=_stream_foreground,
        start_help="Start the streaming queries (in the background unless --foreground).",
        stop_help="Stop the stream gracefully (SIGTERM: the current batch commits or replays).",
    ),
    ServiceSpec(
        name="dagster",
        title="Dagster",
        help="Dagster (`dagster dev`: UI, daemon, code server) on workspace.yaml.",
        service="orchestration.dagster_service:DagsterService",
        where="{svc.url}",
        running="Dagster running (pid {st.pid}) on {st.url}; DAGSTER_HOME {st.home}",
        stopped="Dagster not running; DAGSTER_HOME {st.home}",
        start_help="Start Dagster and wait until its UI answers; a no-op if it already runs.",
        stop_help="Stop Dagster and every process it started; a no-op if it is not running.",
    ),
    ServiceSpec(
        name="dashboard",
        title="dashboard",
        help="The live dashboard (Streamlit) over gold and ops, read with delta-rs.",
        service="serving.dashboard.dashboard_service:DashboardService",
        where="{svc.url}",
        running="dashboard running (pid {st.pid}) on {st.url}",
        stopped="dashboard not running",
    ),
    ServiceSpec(
        name="sql-server",
        title="SQL server",
        help="SQL for BI tools and notebooks: Spark's Thrift server (JDBC) and Spark Connect.",
        service="serving.sql_server_service:SqlServerService",
        where="{svc.url}",
        running="SQL server running (pid {st.pid}) on {svc.url}",
        stopped="SQL server not running ({svc.url} when started)",
        foreground=_sql_server_foreground,
        start_help="Start the Thrift and Spark Connect servers; a no-op if they already run.",
    ),
)
