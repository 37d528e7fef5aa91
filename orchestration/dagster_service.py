"""`dagster dev` as a stack service: the UI and the daemon in the background, with a pid file.

The instance lives in a persistent DAGSTER_HOME (var/dagster by default) whose dagster.yaml
this module writes, so runs, schedules and backfills survive a restart of the stack.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from rapport.runtime.processes import ManagedProcess, ServiceError, child_env, port_taken
from rapport.settings import PROJECT_ROOT, Settings, settings_env

#: Asks the webserver which code locations it loaded, and the error of one that failed.
LOCATIONS_QUERY = """
{
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError { __typename ... on PythonError { message } }
      }
    }
  }
}
"""


@dataclass(frozen=True)
class DagsterStatus:
    running: bool
    pid: int | None
    url: str
    home: Path


def instance_yaml(settings: Settings) -> str:
    """The dagster.yaml of the stack's instance: everything it stores stays in its home."""
    home = settings.dagster_home
    return f"""\
# Written by `rapport up` at every start (orchestration/service.py): change the settings
# (RAPPORT_DAGSTER__*), not this file.
storage:
  sqlite:
    base_dir: {home / "storage"}
# A run that fails (or whose worker dies) is retried by the daemon.
run_retries:
  enabled: true
  max_retries: {settings.dagster.max_run_retries}
# The daemon watches the runs: one stuck STARTING (its worker never came up) is failed, and
# so retried above; one STARTED for longer than any run should take is stopped. The local
# run launcher cannot resume a run, hence no resume attempts.
run_monitoring:
  enabled: true
  start_timeout_seconds: {settings.dagster.run_start_timeout_s}
  max_runtime_seconds: {settings.dagster.max_run_runtime_s}
  max_resume_run_attempts: 0
  poll_interval_seconds: 30
# Each run starts its own Spark driver: on a small machine, a few at a time (the rest queue).
run_queue:
  max_concurrent_runs: {settings.dagster.max_concurrent_runs}
# A local stack that may not reach the internet: no telemetry, no newsletter prompt in the UI.
telemetry:
  enabled: false
nux:
  enabled: false
# The freshness daemon evaluates the assets' FreshnessPolicies (from quality/slas.yaml).
# Dagster 1.13 runs it by default; said here so nobody turns it off unawares.
freshness:
  enabled: true
"""


class DagsterService:
    """Starts `dagster dev` (webserver + daemon + code server) detached, and finds it again."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.workspace = settings.dagster.workspace.expanduser().resolve()
        # dagster dev spawns the webserver, the daemon, a code server and run workers: they
        # all go down with it.
        self.process = ManagedProcess(
            "dagster",
            settings.run_dir,
            marker=f"dagster dev -w {self.workspace}",
            whole_group=True,
        )

    @property
    def url(self) -> str:
        return self.settings.dagster.url

    @property
    def home(self) -> Path:
        return self.settings.dagster_home

    def write_instance_config(self) -> Path:
        """Create DAGSTER_HOME and (re)write its dagster.yaml; the storage is left as it is."""
        self.home.mkdir(parents=True, exist_ok=True)
        path = self.home / "dagster.yaml"
        path.write_text(instance_yaml(self.settings))
        return path

    def answers(self) -> bool:
        """True when the webserver answers GET /server_info."""
        import requests

        try:
            return requests.get(f"{self.url}/server_info", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def code_locations(self) -> dict[str, str]:
        """Each code location's state: LOADED, LOADING, or the error that stopped it."""
        import requests

        response = requests.post(f"{self.url}/graphql", json={"query": LOCATIONS_QUERY}, timeout=10)
        response.raise_for_status()
        workspace = response.json()["data"]["workspaceOrError"]
        states = {}
        for entry in workspace.get("locationEntries", []):
            loaded = entry.get("locationOrLoadError") or {}
            error = loaded.get("message") if loaded.get("__typename") == "PythonError" else None
            states[entry["name"]] = f"error: {error}" if error else entry["loadStatus"]
        return states

    def load_errors(self) -> dict[str, str]:
        """Code locations that failed to load, with the error; empty if none (or no answer)."""
        import requests

        try:
            states = self.code_locations()
        except (requests.RequestException, KeyError, TypeError, ValueError):
            return {}
        return {name: state for name, state in states.items() if state.startswith("error: ")}

    def _port_taken(self) -> bool:
        host = self.url.split("//", 1)[1].rsplit(":", 1)[0]
        return port_taken(host, self.settings.dagster.port)

    def start(self, timeout_s: float | None = None) -> bool:
        """Start Dagster and wait until its UI answers; False if it already ran."""
        if self.process.pid() is not None:
            return False
        if not self.workspace.is_file():
            raise ServiceError(f"Dagster's workspace file {self.workspace} does not exist")
        # Something else answering on the port would pass the readiness check below.
        if self._port_taken():
            raise ServiceError(
                f"Port {self.settings.dagster.port} is already in use, so Dagster cannot listen "
                "there. Stop what holds it or set RAPPORT_DAGSTER__PORT."
            )
        self.write_instance_config()
        dagster = self.settings.dagster
        argv = [
            sys.executable,
            "-m",
            "dagster",
            "dev",
            "-w",
            str(self.workspace),
            "-h",
            dagster.host,
            "-p",
            str(dagster.port),
        ]
        self.process.launch(
            argv,
            ready=self.answers,
            timeout_s=timeout_s or dagster.start_timeout_s,
            what=f"Dagster on {self.url}",
            # The code location rebuilds exactly these settings, whatever this process was given.
            env=child_env({**settings_env(self.settings), "DAGSTER_HOME": str(self.home)}),
            # A python_module location is imported from the working directory.
            cwd=PROJECT_ROOT,
        )
        return True

    def stop(self) -> bool:
        """SIGTERM: dagster dev stops the webserver and daemon; then the rest of its group."""
        return self.process.stop(timeout_s=30)

    def status(self) -> DagsterStatus:
        pid = self.process.pid()
        return DagsterStatus(running=pid is not None, pid=pid, url=self.url, home=self.home)
