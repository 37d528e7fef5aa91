"""`rapport registry start|stop|status`: the schema registry process in the background."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from rapport.runtime.processes import (
    ManagedProcess,
    ServiceError,
    child_env,
    port_taken,
    reachable_host,
)
from rapport.settings import Settings, settings_env

REGISTRY_MODULE = "registry"


@dataclass(frozen=True)
class RegistryStatus:
    running: bool
    pid: int | None
    url: str
    topic: str


class RegistryService:
    """Starts `python -m registry` detached, and finds it again by its pid file."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # "registry --state-dir=..." tells this project's registry from its stream (which
        # carries the same --state-dir) and from any other project's.
        self.process = ManagedProcess(
            "registry", settings.run_dir, marker=f"registry --state-dir={settings.state_dir}"
        )

    @property
    def _host(self) -> str:
        return reachable_host(self.settings.registry.host)

    @property
    def url(self) -> str:
        """Where the bundled registry listens (not `registry.url`, which may be a remote one)."""
        return f"http://{self._host}:{self.settings.registry.port}"

    def answers(self) -> bool:
        """True when GET / on the registry answers: 200, or 401 when it asks for a user."""
        import requests

        try:
            return requests.get(f"{self.url}/", timeout=2).status_code in (200, 401)
        except requests.RequestException:
            return False

    def _port_taken(self) -> bool:
        return port_taken(self._host, self.settings.registry.port)

    def start(self, timeout_s: float | None = None) -> bool:
        """Start the registry and wait until it answers; False if it already ran."""
        if self.process.pid() is not None:
            return False
        # Something else answering on the port would pass the readiness check below.
        if self._port_taken():
            raise ServiceError(
                f"Port {self.settings.registry.port} is already in use, so the schema registry "
                "cannot listen there. Stop what holds it or set RAPPORT_REGISTRY__PORT."
            )
        timeout_s = timeout_s or self.settings.registry.start_timeout_s
        argv = [sys.executable, "-m", REGISTRY_MODULE, f"--state-dir={self.settings.state_dir}"]
        self.process.launch(
            argv,
            ready=self.answers,
            timeout_s=timeout_s,
            what=f"The schema registry on {self.url}",
            # The child rebuilds exactly these settings, whatever this process was given.
            env=child_env(settings_env(self.settings)),
        )
        return True

    def stop(self) -> bool:
        """Graceful stop (SIGTERM: uvicorn finishes its requests); False if not running."""
        return self.process.stop(timeout_s=30)

    def status(self) -> RegistryStatus:
        pid = self.process.pid()
        return RegistryStatus(
            running=pid is not None,
            pid=pid,
            url=self.url,
            topic=self.settings.registry.topic,
        )
