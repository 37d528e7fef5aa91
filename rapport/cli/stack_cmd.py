"""The whole local stack as one unit: `rapport up|down|status|run` (and `make run`)."""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

from orchestration.dagster_service import DagsterService
from rapport.runtime.kafka_broker import LocalKafkaBroker
from rapport.runtime.processes import ServiceError, is_loopback, listening_sockets, tree_rss_mb
from rapport.runtime.spark_cluster import LocalSparkCluster
from rapport.settings import Settings, active_profile, profile_file, with_profile
from registry.registry_service import RegistryService
from serving.dashboard.dashboard_service import DashboardService
from serving.sql_server_service import SqlServerService
from streaming.stream_service import StreamService


@dataclass(frozen=True)
class ServiceLine:
    """One row of `rapport status`: a service, whether it runs, and where to find it."""

    name: str
    running: bool
    detail: str


def _start_together(starts: dict[str, Callable[[], bool]]) -> dict[str, bool]:
    """Run each service's start in a thread of its own; each returns whether it started.

    Every start is waited for, even when one fails or Ctrl-C arrives, so that the `down`
    which follows finds every service that did start; then the first failure is raised.
    """
    from concurrent.futures import ThreadPoolExecutor, wait

    pool = ThreadPoolExecutor(max_workers=len(starts), thread_name_prefix="start")
    futures = {name: pool.submit(start) for name, start in starts.items()}
    try:
        wait(futures.values())
    finally:
        pool.shutdown(wait=True)
    return {name: future.result() for name, future in futures.items()}


class Stack:
    """Starts the services in dependency order and stops them in reverse."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.kafka = LocalKafkaBroker(settings)
        #: Empty unless `spark.local_workers` asks for a local standalone cluster.
        self.spark_cluster = LocalSparkCluster(settings)
        self.registry = RegistryService(settings)
        self.stream = StreamService(settings)
        self.dagster = DagsterService(settings)
        self.dashboard = DashboardService(settings)
        self.sql_server = SqlServerService(settings)

    @classmethod
    def in_profile(cls, settings: Settings, profile: str | None) -> Stack:
        """The stack `rapport up|run [--cluster]` starts: `settings` with `profile` laid over
        them, recorded in the state folder so that every later command (status, down,
        simulate, ...) reads the same settings. Without a profile, the one recorded stays.
        Two stacks in one state folder are refused: they would share ports and data."""
        if profile is None or profile == active_profile(settings):
            return cls(settings)
        running = cls(settings)
        if any(pid for pid in running.pids()):
            now = active_profile(settings)
            raise ServiceError(
                f"A stack started with {f'the {now} profile' if now else 'no profile'} runs "
                f"in {settings.state_dir}; stop it with `rapport down` first."
            )
        stack = cls(with_profile(settings, profile))
        path = profile_file(settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(profile + "\n")
        return stack

    def up(self, say: Callable[[str], None]) -> None:
        cluster = self.spark_cluster.members
        say("starting Kafka" + (" and the Spark cluster (master and workers) ..." if cluster
                                else " ..."))  # fmt: skip
        # The two have nothing to share: they start together.
        began = _start_together({"Kafka": self.kafka.start, "Spark": self.spark_cluster.start})
        state = "started" if began["Kafka"] else "already running"
        nodes = len(self.kafka.nodes)
        say(f"  Kafka {state} on {self.kafka.bootstrap_servers}"
            + (f" ({nodes} brokers)" if nodes > 1 else ""))  # fmt: skip
        if cluster:
            state = "started" if began["Spark"] else "already running"
            master, workers = self.spark_cluster.master, len(self.spark_cluster.workers)
            say(f"  Spark cluster {state}: master {self.spark_cluster.master_url}, "
                f"{workers} workers, UI {master.ui}")  # fmt: skip
        if self.settings.registry.is_bundled:
            say("starting the schema registry ...")
            state = "started" if self.registry.start() else "already running"
            say(f"  schema registry {state} on {self.settings.registry.url}")
        registered = self._register_contracts()
        say(f"  {registered} contract version(s) registered in {self.settings.registry.url}")
        # The stream, Dagster, the dashboard and the SQL server need Kafka and the registry,
        # not each other: they start together (each waits for its own readiness). The stream
        # and the SQL server may both create the tables of a fresh lakehouse; a table created
        # by one meanwhile is taken as it is by the other (`ensure_table`).
        serving = self.settings.serving.enabled
        say("starting the stream (Spark, ~20 s), Dagster (UI and daemon, ~30 s), the "
            f"dashboard{' and the SQL server (JDBC and Spark Connect, ~30 s)' if serving else ''}"
            " ...")  # fmt: skip
        starts: dict[str, Callable[[], bool]] = {
            "stream": self.stream.start,
            "Dagster": self.dagster.start,
            "dashboard": self.dashboard.start,
        }
        if serving:
            starts["SQL server"] = self.sql_server.start
        began = _start_together(starts)
        say(f"  stream {'started' if began['stream'] else 'already running'}")
        state = "started" if began["Dagster"] else "already running"
        say(f"  Dagster {state} on {self.dagster.url}")
        for location, error in self.dagster.load_errors().items():
            first_line = error.splitlines()[0] if error else ""
            say(f"  code location {location} did not load ({first_line}); see the UI")
        state = "started" if began["dashboard"] else "already running"
        say(f"  dashboard {state} on {self.dashboard.url}")
        if serving:
            state = "started" if began["SQL server"] else "already running"
            say(f"  SQL server {state} on {self.sql_server.url}")

    def _register_contracts(self) -> int:
        """Deploy the contracts, as a deployment pipeline would (idempotent)."""
        from rapport.contracts.catalog import load_catalog
        from registry.client import RegistryClient
        from registry.deploy import register_all

        catalog = load_catalog(self.settings.contracts_dir)
        return len(register_all(RegistryClient(self.settings.registry), catalog))

    def down(self, say: Callable[[str], None]) -> None:
        say(f"SQL server: {'stopped' if self.sql_server.stop() else 'was not running'}")
        say(f"dashboard: {'stopped' if self.dashboard.stop() else 'was not running'}")
        say(f"Dagster: {'stopped' if self.dagster.stop() else 'was not running'}")
        say(f"stream: {'stopped' if self.stream.stop() else 'was not running'}")
        if self.spark_cluster.members:
            # After every driver: a driver left without executors would wait for ever.
            stopped = self.spark_cluster.stop()
            say(f"Spark cluster: {'stopped' if stopped else 'was not running'}")
        say(f"schema registry: {'stopped' if self.registry.stop() else 'was not running'}")
        say(f"Kafka: {'stopped' if self.kafka.stop() else 'was not running'}")
        profile_file(self.settings).unlink(missing_ok=True)

    def status(self) -> list[ServiceLine]:
        """One line per service; a running one ends with its process tree's resident memory."""
        lines = self._status()
        pids = self.pids()
        return [
            ServiceLine(line.name, line.running, f"{line.detail}, RSS {tree_rss_mb(pid):,.0f} MiB")
            if line.running and pid
            else line
            for line, pid in zip(lines, pids, strict=True)
        ]

    def total_rss_mb(self) -> float:
        """The whole stack's resident memory (MiB): every running service's process tree."""
        return sum(tree_rss_mb(pid) for pid in self.pids() if pid)

    def pids(self) -> list[int | None]:
        """Each service's pid, in the order of `status()` (None when it is not running)."""
        services = (self.registry, self.stream, self.dagster, self.dashboard, self.sql_server)
        brokers = [node.pid for node in self.kafka.status().nodes]
        spark = self.spark_cluster.pids()
        return [*brokers, *spark, *(s.status().pid for s in services)]

    def listening(self) -> dict[str, set[tuple[str, int]]]:
        """Per running service: the TCP addresses its process tree listens on."""
        names = [line.name for line in self._status()]
        return {
            name: listening_sockets(pid)
            for name, pid in zip(names, self.pids(), strict=True)
            if pid
        }

    def open_doors(self) -> dict[str, list[tuple[str, int]]]:
        """Per service: what it listens on beyond loopback (docs/security.md)."""
        return {
            name: sorted(a for a in sockets if not is_loopback(a[0]))
            for name, sockets in self.listening().items()
            if any(not is_loopback(a[0]) for a in sockets)
        }

    def _status(self) -> list[ServiceLine]:
        broker = self.kafka.status()
        stream = self.stream.status()
        registry = self.registry.status()
        dagster = self.dagster.status()
        board = self.dashboard.status()
        sql = self.sql_server.status()
        batches = ", ".join(
            f"{name}: batch {q.get('batch_id')} at {q.get('timestamp')}"
            for name, q in stream.queries.items()
        )
        several = len(broker.nodes) > 1
        return [
            *(
                ServiceLine(
                    f"kafka-{node.node_id}" if several else "kafka",
                    node.running,
                    f"pid {node.pid}, {node.address}, data {node.data_dir}"
                    if node.running
                    else f"stopped (data {node.data_dir})",
                )
                for node in broker.nodes
            ),
            *(
                ServiceLine(
                    member.name,
                    member.running,
                    f"pid {member.pid}, {member.address}, UI {member.ui}"
                    + (f", {member.state}" if member.state else "")
                    if member.running
                    else "stopped",
                )
                for member in self.spark_cluster.status().members
            ),
            ServiceLine(
                "registry",
                registry.running,
                f"pid {registry.pid}, {registry.url}, topic {registry.topic}"
                if registry.running
                else (
                    "stopped"
                    if self.settings.registry.is_bundled
                    else f"external: {self.settings.registry.url}"
                ),
            ),
            ServiceLine(
                "stream",
                stream.running,
                f"pid {stream.pid}, {stream.state}; {batches or 'no batch yet'}"
                if stream.running
                else "stopped",
            ),
            ServiceLine(
                "dagster",
                dagster.running,
                f"pid {dagster.pid}, {dagster.url}, home {dagster.home}"
                if dagster.running
                else f"stopped (home {dagster.home})",
            ),
            ServiceLine(
                "dashboard",
                board.running,
                f"pid {board.pid}, {board.url}" if board.running else "stopped",
            ),
            ServiceLine(
                "sql",
                sql.running,
                f"pid {sql.pid}, {self.sql_server.url}"
                if sql.running
                else ("stopped" if self.settings.serving.enabled else "off (serving.enabled)"),
            ),
        ]

    def where(self) -> list[str]:
        """What runs where: printed by `make run` and `make up`."""
        nodes = len(self.kafka.nodes)
        cluster = self.spark_cluster
        kafka = f"Kafka (KRaft, {f'{nodes} brokers' if nodes > 1 else 'single node'})"
        return [
            f"{kafka:<28}{self.kafka.bootstrap_servers}",
            *(
                [
                    f"Spark master                {cluster.master_url}",
                    f"Spark master UI             {cluster.master.ui}",
                    *(f"{'Spark ' + w.name[6:] + ' UI':<28}{w.ui}" for w in cluster.workers),
                ]
                if cluster.members
                else [f"Spark                       {self.settings.spark.master}"]
            ),
            f"Event topics                {', '.join(self.settings.kafka.event_topics)}",
            f"Schema registry             {self.settings.registry.url}",
            f"Dashboard (live reports)    {self.dashboard.url}",
            *(
                [
                    f"JDBC (BI tools, beeline)    {self.sql_server.jdbc_url}",
                    f"Spark Connect (notebooks)   {self.sql_server.connect_url or 'off'}",
                ]
                if self.settings.serving.enabled
                else []
            ),
            f"Dagster UI                  {self.dagster.url}",
            f"Dagster home (runs, logs)   {self.dagster.home}",
            f"Lakehouse (Delta)           {self.settings.lakehouse}",
            f"Checkpoints                 {self.settings.checkpoints}",
            f"Service logs                {self.settings.run_dir}/*.out",
            f"Kafka logs                  {self.kafka.log_dir}/server.log",
            "Simulate the shop           uv run rapport simulate --rate 500 --duration 60",
            "Query bronze                uv run rapport sql 'SELECT * FROM bronze.events'",
        ]

    def run_foreground(self, echo: Callable[[str], None]) -> int:
        """Bring the stack up, wait for Ctrl-C (or a service dying), then bring it down."""

        def say(message: str) -> None:
            # Ctrl-C also kills a pipe reader (`make run | tee`): a lost message must never
            # stop the shutdown half way and leave services running.
            with contextlib.suppress(OSError):
                echo(message)

        def interrupt(signum: int, _frame: object) -> None:
            raise KeyboardInterrupt(signal.Signals(signum).name)

        previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
        code = 0
        try:
            self.up(say)
            say("")
            for line in self.where():
                say(line)
            say("\nRapport is running. Press Ctrl-C to stop everything.")
            lost_workers: set[str] = set()
            while True:
                time.sleep(2.0)
                lines = self.status()
                # A worker lost is not the stack lost: the drivers go on with the others.
                workers = {s.name for s in lines if s.name.startswith("spark-worker")}
                down = {s.name for s in lines if not s.running} & workers
                for name in sorted(down - lost_workers):
                    say(f"{name} stopped; the drivers go on with the other workers. "
                        "`rapport spark-cluster start` starts it again.")  # fmt: skip
                lost_workers = down
                dead = [
                    s.name
                    for s in lines
                    if not s.running
                    and s.name not in workers
                    and (s.name != "registry" or self.settings.registry.is_bundled)
                    and (s.name != "sql" or self.settings.serving.enabled)
                ]
                if dead:
                    say(f"{', '.join(dead)} stopped unexpectedly; see {self.settings.run_dir}")
                    code = 1
                    break
        except KeyboardInterrupt:
            pass
        finally:
            # Ignore a second Ctrl-C while shutting down, so the stop is never half done.
            for sig in previous:
                signal.signal(sig, signal.SIG_IGN)
            say("\nstopping ...")
            self.down(say)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return code
