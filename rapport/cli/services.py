"""The start/stop/status groups of the stack's services, made by one helper.

Kafka, the schema registry, the stream, Dagster, the dashboard and the SQL server are each a
background
process with a pid file, and each answers `start() -> bool`, `stop() -> bool` and
`status()` with a `.running` flag. One spec per service says only what differs: how to build
it, where it listens, what its status shows and how it runs in the foreground. The service
classes are imported when a command runs, so `rapport --help` stays fast.
"""

from __future__ import annotations

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
    """One service's group: its name, title and the few things that differ between services."""

    name: str
    title: str
    help: str
    build: Callable[[Settings], Service]
    where: Callable[[Service], str]
    describe: Callable[[Any], Iterable[str]]
    foreground: Callable[[Settings], int] | None = None
    start_help: str = "Start it in the background; a no-op if it already runs."
    stop_help: str = "Stop it; a no-op if it is not running."


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
        where = spec.where(service)
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
        st = spec.build(load_settings()).status()
        for line in spec.describe(st):
            click.echo(line)
        if not st.running:
            sys.exit(3)

    return group


# --- the five services ----------------------------------------------------------------------


def _kafka(settings: Settings) -> Service:
    from rapport.runtime.kafka_broker import LocalKafkaBroker

    return LocalKafkaBroker(settings)


def _describe_kafka(st: Any) -> list[str]:
    if st.running:
        return [f"Kafka running (pid {st.pid}) on {st.bootstrap_servers}; data in {st.data_dir}"]
    return [f"Kafka not running; data in {st.data_dir}"]


def _registry(settings: Settings) -> Service:
    from registry.registry_service import RegistryService

    return RegistryService(settings)


def _describe_registry(st: Any) -> list[str]:
    if st.running:
        return [f"schema registry running (pid {st.pid}) on {st.url}; topic {st.topic}"]
    return [f"schema registry not running; topic {st.topic}"]


def _registry_foreground(settings: Settings) -> int:
    from registry.__main__ import serve

    _foreground_logging("kafka")
    return serve(settings)


def _stream(settings: Settings) -> Service:
    from streaming.stream_service import StreamService

    return StreamService(settings)


def _describe_stream(st: Any) -> list[str]:
    from streaming.stream_service import describe_batch

    lines = [f"stream {st.state}" + (f" (pid {st.pid})" if st.pid else "")]
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


def _dagster(settings: Settings) -> Service:
    from orchestration.dagster_service import DagsterService

    return DagsterService(settings)


def _describe_dagster(st: Any) -> list[str]:
    if st.running:
        return [f"Dagster running (pid {st.pid}) on {st.url}; DAGSTER_HOME {st.home}"]
    return [f"Dagster not running; DAGSTER_HOME {st.home}"]


def _dashboard(settings: Settings) -> Service:
    from serving.dashboard.dashboard_service import DashboardService

    return DashboardService(settings)


def _describe_dashboard(st: Any) -> list[str]:
    if st.running:
        return [f"dashboard running (pid {st.pid}) on {st.url}"]
    return ["dashboard not running"]


def _sql_server(settings: Settings) -> Service:
    from serving.sql_server_service import SqlServerService

    return SqlServerService(settings)


def _describe_sql_server(st: Any) -> list[str]:
    where = st.jdbc_url + (f" and {st.connect_url}" if st.connect_url else "")
    if st.running:
        return [f"SQL server running (pid {st.pid}) on {where}"]
    return [f"SQL server not running ({where} when started)"]


def _sql_server_foreground(settings: Settings) -> int:
    from serving.sql_server import serve

    _foreground_logging("py4j")
    return serve(settings)


SERVICES = (
    ServiceSpec(
        name="kafka",
        title="Kafka",
        help="The local single-node Kafka broker (KRaft), run from the Maven jars.",
        build=_kafka,
        where=lambda s: str(s.bootstrap_servers),  # type: ignore[attr-defined]
        describe=_describe_kafka,
        start_help="Start the broker and create the topics; a no-op if it already runs.",
        stop_help="Stop the broker cleanly; a no-op if it is not running.",
    ),
    ServiceSpec(
        name="registry",
        title="schema registry",
        help="The bundled schema registry (Confluent's REST API, JSON Schema, stored in Kafka).",
        build=_registry,
        where=lambda s: str(s.url),  # type: ignore[attr-defined]
        describe=_describe_registry,
        foreground=_registry_foreground,
        start_help="Start the registry (Kafka must run); a no-op if it already runs.",
    ),
    ServiceSpec(
        name="stream",
        title="stream",
        help="The Spark Structured Streaming processes: Kafka -> bronze, silver and gold.",
        build=_stream,
        where=lambda _s: "",
        describe=_describe_stream,
        foreground=_stream_foreground,
        start_help="Start the streaming queries (in the background unless --foreground).",
        stop_help="Stop the stream gracefully (SIGTERM: the current batch commits or replays).",
    ),
    ServiceSpec(
        name="dagster",
        title="Dagster",
        help="Dagster (`dagster dev`: UI, daemon, code server) on workspace.yaml.",
        build=_dagster,
        where=lambda s: str(s.url),  # type: ignore[attr-defined]
        describe=_describe_dagster,
        start_help="Start Dagster and wait until its UI answers; a no-op if it already runs.",
        stop_help="Stop Dagster and every process it started; a no-op if it is not running.",
    ),
    ServiceSpec(
        name="dashboard",
        title="dashboard",
        help="The live dashboard (Streamlit) over gold and ops, read with delta-rs.",
        build=_dashboard,
        where=lambda s: str(s.url),  # type: ignore[attr-defined]
        describe=_describe_dashboard,
    ),
    ServiceSpec(
        name="sql-server",
        title="SQL server",
        help="SQL for BI tools and notebooks: Spark's Thrift server (JDBC) and Spark Connect.",
        build=_sql_server,
        where=lambda s: str(s.url),  # type: ignore[attr-defined]
        describe=_describe_sql_server,
        foreground=_sql_server_foreground,
        start_help="Start the Thrift and Spark Connect servers; a no-op if they already run.",
    ),
)
