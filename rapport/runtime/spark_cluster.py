"""A local Spark standalone cluster: one master and `spark.local_workers` workers, on loopback.

The daemons are Spark's own (`spark-class ...deploy.master.Master` / `...deploy.worker.Worker`)
from the pyspark wheel the project already installs, so the drivers that connect to it (the
stream's two, the SQL server, Dagster's runs) run exactly as they would on a real standalone
cluster: their executors are other JVMs, started by the workers, fetching the jars from the
driver. Nothing else in Rapport knows whether this cluster exists: drivers only read
`spark.master` (docs/deployment.md).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rapport.runtime.processes import ManagedProcess, ServiceError, child_env, port_taken
from rapport.settings import Settings

#: Heap of the master and worker daemons (executors get `spark.executor_memory`).
DAEMON_HEAP = "256m"


def spark_home() -> Path:
    """The pyspark wheel's folder: Spark's jars, `bin/spark-class` and `sbin/`."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


@dataclass(frozen=True)
class MemberStatus:
    """One daemon of the cluster, as `rapport status` shows it."""

    name: str
    running: bool
    pid: int | None
    address: str
    ui: str
    #: What the master says of it: ALIVE, DEAD, ... ("" for the master, or when unknown).
    state: str = ""


@dataclass(frozen=True)
class ClusterStatus:
    running: bool
    master_url: str
    members: tuple[MemberStatus, ...] = ()
    #: Applications the master runs now: the drivers connected to it, by name.
    applications: tuple[str, ...] = field(default_factory=tuple)


class SparkMember:
    """One daemon (the master or a worker): its folder, properties file and process."""

    def __init__(self, settings: Settings, name: str, ui_port: int) -> None:
        self.settings = settings
        self.name = name
        self.ui_port = ui_port
        self.home = settings.state_dir / "spark-cluster" / name
        # The properties file's path is in the daemon's command line: its pid file's marker.
        self.properties = self.home / "spark-defaults.conf"
        self.process = ManagedProcess(name, settings.run_dir, marker=str(self.properties))

    @property
    def ui(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}"

    def argv(self, main_class: str, *args: str) -> list[str]:
        return [
            str(spark_home() / "bin" / "spark-class"),
            main_class,
            "--host",
            "127.0.0.1",
            "--webui-port",
            str(self.ui_port),
            "--properties-file",
            str(self.properties),
            *args,
        ]

    def env(self) -> dict[str, str]:
        """Loopback binds for the daemon and for every executor a worker starts."""
        return child_env(
            {
                "SPARK_HOME": str(spark_home()),
                "SPARK_LOCAL_IP": "127.0.0.1",
                "SPARK_PUBLIC_DNS": "127.0.0.1",
                "SPARK_DAEMON_MEMORY": DAEMON_HEAP,
                "SPARK_LOG_DIR": str(self.home / "logs"),
                "SPARK_CONF_DIR": str(self.home),
            }
        )


class LocalSparkCluster:
    """Starts, stops and reports the master and workers; every call is idempotent."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        spark = settings.spark
        self.master = SparkMember(settings, "spark-master", spark.local_ui_port)
        self.workers = [
            SparkMember(settings, f"spark-worker-{n}", spark.local_worker_ui_port + n - 1)
            for n in range(1, spark.local_workers + 1)
        ]

    @property
    def members(self) -> list[SparkMember]:
        """Nothing when the settings ask for no local workers: there is no local cluster."""
        return [self.master, *self.workers] if self.workers else []

    @property
    def master_url(self) -> str:
        return self.settings.spark.local_master_url

    def start(self) -> bool:
        """Start the master, then the workers that are not running (in parallel); False when
        every member already ran. A killed worker is started again by the same call."""
        if not self.members:
            return False
        started = self._start_master()
        missing = [w for w in self.workers if w.process.pid() is None]
        if missing:
            with ThreadPoolExecutor(max_workers=len(missing)) as pool:
                list(pool.map(self._start_worker, missing))
        return started or bool(missing)

    def _start_master(self) -> bool:
        member = self.master
        if member.process.pid() is not None:
            return False
        port = self.settings.spark.local_master_port
        for taken in (port, member.ui_port):
            if port_taken("127.0.0.1", taken):
                raise ServiceError(
                    f"Port {taken} is taken: another Spark master or program listens there. "
                    "Stop it, or set RAPPORT_SPARK__LOCAL_MASTER_PORT / __LOCAL_UI_PORT."
                )
        self._write_properties(member)
        member.process.launch(
            member.argv("org.apache.spark.deploy.master.Master", "--port", str(port)),
            ready=lambda: self._master_json() is not None,
            timeout_s=90,
            what="The Spark master",
            env=member.env(),
            hint="\nIs a JDK 17+ installed (java on PATH or JAVA_HOME)?",
            cwd=member.home,
        )
        return True

    def _start_worker(self, member: SparkMember) -> None:
        spark = self.settings.spark
        if port_taken("127.0.0.1", member.ui_port):
            # Spark would take the next port, and the worker would be known by another UI.
            raise ServiceError(
                f"Port {member.ui_port} is taken: {member.name}'s web UI cannot listen there. "
                "Stop what holds it, or set RAPPORT_SPARK__LOCAL_WORKER_UI_PORT."
            )
        self._write_properties(member)
        member.process.launch(
            member.argv(
                "org.apache.spark.deploy.worker.Worker",
                "--cores",
                str(spark.local_worker_cores),
                "--memory",
                spark.local_worker_memory,
                "--work-dir",
                str(member.home / "work"),
                self.master_url,
            ),
            ready=lambda: self._worker_state(member) == "ALIVE",
            timeout_s=90,
            what=f"Spark worker {member.name}",
            env=member.env(),
            cwd=member.home,
        )

    def _write_properties(self, member: SparkMember) -> None:
        member.home.mkdir(parents=True, exist_ok=True)
        props = {
            # Executors' work folders (their jars and logs) are cleaned once their app ended.
            "spark.worker.cleanup.enabled": "true",
            "spark.worker.cleanup.appDataTtl": "3600",
            # The master keeps the last 50 applications for its UI.
            "spark.deploy.retainedApplications": "50",
            # No REST submission server: drivers connect over RPC, and a fixed port 6066
            # would be one more listener for nobody.
            "spark.master.rest.enabled": "false",
        }
        member.properties.write_text("".join(f"{k} {v}\n" for k, v in props.items()))

    def stop(self) -> bool:
        """Workers first (their executors with them), then the master; False if none ran."""
        stopped = [w.process.stop(timeout_s=30) for w in self.workers]
        if self.members:
            stopped.append(self.master.process.stop(timeout_s=30))
        return any(stopped)

    def status(self) -> ClusterStatus:
        state = self._master_json()
        members = []
        for member in self.members:
            pid = member.process.pid()
            if member is self.master:
                address, said = self.master_url, "ALIVE" if state else ""
            else:
                seen = self._registrations(state, member)
                alive = [w for w in seen if w.get("state") == "ALIVE"]
                shown = (alive or seen or [{}])[-1]
                address = f"{shown.get('host', '127.0.0.1')}:{shown.get('port', '?')}"
                said = str(shown.get("state", ""))
            members.append(
                MemberStatus(member.name, pid is not None, pid, address, member.ui, said)
            )
        apps = tuple(str(a.get("name", "")) for a in (state or {}).get("activeapps", []))
        return ClusterStatus(
            running=bool(members) and all(m.running for m in members),
            master_url=self.master_url,
            members=tuple(members),
            applications=apps,
        )

    @staticmethod
    def _registrations(state: dict[str, Any] | None, member: SparkMember) -> list[dict[str, Any]]:
        """The master's records of a worker, found by its UI address: a restarted worker
        registers anew, and its old record stays (DEAD) beside the new one."""
        return [
            w
            for w in (state or {}).get("workers", [])
            if str(w.get("webuiaddress", "")).rstrip("/") == member.ui
        ]

    def _worker_state(self, member: SparkMember) -> str:
        """ALIVE once the master has a live registration of the worker."""
        seen = self._registrations(self._master_json(), member)
        return "ALIVE" if any(w.get("state") == "ALIVE" for w in seen) else ""

    def _master_json(self) -> dict[str, Any] | None:
        """The master's state from its web UI's JSON, or None while it does not answer."""
        try:
            with urllib.request.urlopen(f"{self.master.ui}/json/", timeout=2) as response:
                data: dict[str, Any] = json.load(response)
                return data
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def pids(self) -> list[int | None]:
        return [m.process.pid() for m in self.members]
