"""The dashboard as a stack service: `streamlit run serving/dashboard/app.py` detached, pid file."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from rapport.runtime.processes import ManagedProcess, ServiceError, child_env, port_taken
from rapport.settings import PROJECT_ROOT, Settings, settings_env

APP = Path(__file__).resolve().parent / "app.py"


@dataclass(frozen=True)
class DashboardStatus:
    running: bool
    pid: int | None
    url: str


class DashboardService:
    """Starts the Streamlit server in the background and finds it again by its pid file."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.process = ManagedProcess(
            "dashboard", settings.run_dir, marker=f"streamlit run {APP}", whole_group=True
        )

    @property
    def url(self) -> str:
        return self.settings.dashboard.url

    def answers(self) -> bool:
        """True when Streamlit's health endpoint answers."""
        import requests

        try:
            return requests.get(f"{self.url}/_stcore/health", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def start(self, timeout_s: float | None = None) -> bool:
        """Start the dashboard and wait until it answers; False if it already ran."""
        if self.process.pid() is not None:
            return False
        board = self.settings.dashboard
        if port_taken(board.host if board.host else "127.0.0.1", board.port):
            raise ServiceError(
                f"Port {board.port} is already in use, so the dashboard cannot listen there. "
                "Stop what holds it or set RAPPORT_DASHBOARD__PORT."
            )
        argv = [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(APP),
            "--server.address",
            board.host,
            "--server.port",
            str(board.port),
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
            # A product's page: no Deploy button, no developer menu.
            "--client.toolbarMode",
            "minimal",
        ]
        self.process.launch(
            argv,
            ready=self.answers,
            timeout_s=timeout_s or board.start_timeout_s,
            what=f"the dashboard on {self.url}",
            env=child_env(settings_env(self.settings)),
            cwd=PROJECT_ROOT,
        )
        return True

    def stop(self) -> bool:
        return self.process.stop(timeout_s=15)

    def status(self) -> DashboardStatus:
        pid = self.process.pid()
        return DashboardStatus(running=pid is not None, pid=pid, url=self.url)
