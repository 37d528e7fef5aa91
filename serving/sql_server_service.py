"""`rapport sql-server start|stop|status`: the Thrift and Spark Connect server in the background."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rapport.runtime.processes import (
    ManagedProcess,
    ServiceError,
    child_env,
    port_taken,
    reachable_host,
)
from rapport.settings import Settings, settings_env

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

SERVER_MODULE = "serving.sql_server"


def beeline_command(jdbc_url: str, args: Sequence[str] = ()) -> list[str]:
    """beeline from the pyspark wheel, connected to `jdbc_url` (JDBC, HiveServer2 protocol)."""
    import pyspark

    beeline = Path(pyspark.__file__).parent / "bin" / "beeline"
    return [str(beeline), "-u", jdbc_url, *args]


@dataclass(frozen=True)
class SqlServerStatus:
    running: bool
    pid: int | None
    jdbc_url: str
    connect_url: str | None


class SqlServerService:
    """Starts `python -m serving.sql_server` detached, and finds it again by its pid file."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.process = ManagedProcess(
            "sql-server",
            settings.run_dir,
            marker=f"{SERVER_MODULE} --state-dir={settings.state_dir}",
            whole_group=True,
        )

    @property
    def _host(self) -> str:
        return reachable_host(self.settings.serving.host)

    @property
    def jdbc_url(self) -> str:
        return f"jdbc:hive2://{self._host}:{self.settings.serving.thrift_port}/default"

    @property
    def connect_url(self) -> str | None:
        port = self.settings.serving.connect_port
        return f"sc://{self._host}:{port}" if port else None

    @property
    def url(self) -> str:
        """Where it listens, as `rapport status` shows it."""
        return self.jdbc_url + (f" and {self.connect_url}" if self.connect_url else "")

    def _ports(self) -> list[int]:
        serving = self.settings.serving
        return [p for p in (serving.thrift_port, serving.connect_port) if p]

    def answers(self) -> bool:
        """True when both listeners accept connections."""
        return all(port_taken(self._host, port) for port in self._ports())

    def connect_session(self) -> SparkSession:
        """A Spark Connect session on the running server, or a ServiceError that says why not."""
        url = self.connect_url
        if url is None or not self.answers():
            raise ServiceError(
                f"The SQL server's Spark Connect endpoint ({url or 'off: connect_port is 0'}) "
                "does not answer. Start it with `rapport sql-server start` (or `make up`), or "
                "give quality runs a JVM of their own: RAPPORT_QUALITY__THROUGH_SQL_SERVER=false."
            )
        from pyspark.sql import SparkSession

        return SparkSession.builder.remote(url).getOrCreate()

    def start(self, timeout_s: float | None = None) -> bool:
        """Start the server and wait until both ports listen; False if it already ran."""
        if self.process.pid() is not None:
            return False
        for port in self._ports():
            if port_taken(self._host, port):
                raise ServiceError(
                    f"Port {port} is already in use, so the SQL server cannot listen there. "
                    "Stop what holds it or set RAPPORT_SERVING__THRIFT_PORT / "
                    "RAPPORT_SERVING__CONNECT_PORT."
                )
        argv = [sys.executable, "-m", SERVER_MODULE, f"--state-dir={self.settings.state_dir}"]
        self.process.launch(
            argv,
            ready=self.answers,
            timeout_s=timeout_s or self.settings.serving.start_timeout_s,
            what=f"The SQL server on {self.url}",
            env=child_env(settings_env(self.settings)),
        )
        return True

    def stop(self) -> bool:
        """Graceful stop (SIGTERM: the driver stops its servers and Spark); False if stopped."""
        return self.process.stop(timeout_s=60)

    def status(self) -> SqlServerStatus:
        pid = self.process.pid()
        return SqlServerStatus(pid is not None, pid, self.jdbc_url, self.connect_url)
