"""Background processes with pid files: start detached, find again, stop cleanly.

A pid file alone is not proof: the pid may have died and been reused. A process counts as
ours only when it is alive and its command line carries the service's marker.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

#: glibc gives each thread that allocates its own malloc arena (up to 8 per core), and an
#: arena keeps the memory its thread freed: the JVMs' and Dagster's many threads then hold
#: hundreds of MiB nobody uses. Two arenas cost them nothing measurable (operations.md, memory).
MALLOC_ARENAS = "2"


def child_env(extra: Mapping[str, str]) -> dict[str, str]:
    """A service's environment: this process's, `extra` on top, and few malloc arenas.

    A MALLOC_ARENA_MAX already set in the environment wins.
    """
    return {"MALLOC_ARENA_MAX": MALLOC_ARENAS, **os.environ, **extra}


class ServiceError(RuntimeError):
    """A service could not be started or stopped; the message says what to look at."""


@dataclass(frozen=True)
class ManagedProcess:
    """A service run in the background, tracked by `<run_dir>/<name>.pid`."""

    name: str
    run_dir: Path
    #: A string only this service's command line holds (e.g. its config file's path).
    marker: str
    #: Stop its children too: for a supervisor (e.g. `dagster dev`) whose children
    #: (webserver, daemon, code servers, runs) must not outlive it.
    whole_group: bool = False

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.run_dir / f"{self.name}.out"

    def pid(self) -> int | None:
        """The live pid of this service, or None; a stale pid file is removed."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            self.pid_file.unlink(missing_ok=True)
            return None
        if self._is_ours(pid):
            return pid
        self.pid_file.unlink(missing_ok=True)
        return None

    def _is_ours(self, pid: int) -> bool:
        try:
            proc = psutil.Process(pid)
            for _ in range(20):
                if proc.status() == psutil.STATUS_ZOMBIE:
                    return False
                cmdline = proc.cmdline()
                # Empty while the kernel is still inside exec() of a just-started process.
                if cmdline:
                    return self.marker in " ".join(cmdline)
                time.sleep(0.05)
            return False
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return False

    def start(
        self, argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> subprocess.Popen[bytes]:
        """Start detached (own session, so Ctrl-C in the shell does not reach it)."""
        if self.marker not in " ".join(argv):
            raise ValueError(f"{self.name}: marker {self.marker!r} is not in the command line")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{proc.pid}\n")
        return proc

    def launch(
        self,
        argv: Sequence[str],
        ready: Callable[[], bool],
        timeout_s: float,
        what: str,
        env: Mapping[str, str] | None = None,
        hint: str = "",
        cwd: Path | None = None,
    ) -> None:
        """Start the service and return once `ready()` holds; a clear error if it never does.

        If the process dies while starting, or is not ready by the deadline, it is stopped
        and ServiceError carries the last lines of its output, so the user sees why.
        """
        proc = self.start(argv, env=env, cwd=cwd)

        def started() -> bool:
            if proc.poll() is not None:
                raise ServiceError(
                    f"{what} exited during start. Last lines of {self.log_file}:\n"
                    f"{self.log_tail()}{hint}"
                )
            return ready()

        if not wait_until(started, timeout_s, interval_s=0.25):
            self.stop(timeout_s=10)
            raise ServiceError(
                f"{what} was not ready within {timeout_s:.0f}s; see {self.log_file}{hint}"
            )

    def stop(self, timeout_s: float = 60.0) -> bool:
        """SIGTERM, wait for a clean exit, SIGKILL after `timeout_s`; False if not running.

        With `whole_group`, the service first shuts its children down itself; whatever of
        its process group or descendants is still alive then is terminated, then killed.
        """
        pid = self.pid()
        if pid is None:
            return False
        proc = psutil.Process(pid)
        # Taken before the stop: once the leader is gone its children are re-parented, and a
        # child that started its own session has left the group.
        family = _descendants(proc) if self.whole_group else []
        os.kill(pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except psutil.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if self.whole_group:
            # start() gives the service its own session, so its pid is its group id.
            _terminate([*family, *_group_members(pid)], timeout_s=10)
        self.pid_file.unlink(missing_ok=True)
        return True

    def group_pids(self) -> list[int]:
        """Pids of the running service's process group and descendants, itself included."""
        pid = self.pid()
        if pid is None:
            return []
        procs = {p.pid for p in [*_descendants(psutil.Process(pid)), *_group_members(pid)]}
        return sorted(procs | {pid})

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log yet)"


def _descendants(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return list(proc.children(recursive=True))
    except psutil.NoSuchProcess:
        return []


def _group_members(pgid: int) -> list[psutil.Process]:
    members = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid:
                members.append(proc)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return members


def _terminate(procs: Sequence[psutil.Process], timeout_s: float) -> None:
    """SIGTERM the ones still alive, SIGKILL what is left after `timeout_s`.

    psutil checks each process's start time before signalling it, so a pid reused by an
    unrelated program in the meantime is left alone.
    """
    alive = []
    for proc in {p.pid: p for p in procs}.values():
        try:
            proc.terminate()
            alive.append(proc)
        except psutil.NoSuchProcess:
            continue
    _, left = psutil.wait_procs(alive, timeout=timeout_s)
    for proc in left:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(left, timeout=10)


def wait_until(check: object, timeout_s: float, interval_s: float = 0.25) -> bool:
    """Poll `check()` until it is truthy or the deadline passes; True if it became truthy."""
    assert callable(check)
    deadline = time.monotonic() + timeout_s
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)


def reachable_host(host: str) -> str:
    """The address to reach a service on: a wildcard bind address means loopback."""
    return "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host


def port_taken(host: str, port: int) -> bool:
    """Whether something already accepts connections there (it would fool a readiness check)."""

    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def tree_rss_mb(root: int, proc: Path = Path("/proc")) -> float:
    """Resident memory (MiB) of `root` and its descendants, from /proc (Linux); 0 elsewhere.

    A service is a process tree (a Python process and its JVM, Dagster and its children):
    its footprint is the sum, which is what `rapport status` shows and the bench samples.
    A child with its parent JVM's own command line is a fork between clone and exec (the
    JVM starts `jspawnhelper`, Hadoop's local file system `chmod` and `readlink` through
    it): it shares the parent's pages and is not counted, or a sample that caught one would
    count the JVM twice.
    """
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    comm: dict[int, str] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()
            pages = int((entry / "statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)
        rss[pid] = pages
        comm[pid] = stat.split("(", 1)[-1].rsplit(")", 1)[0]

    def cmdline(pid: int) -> bytes | None:
        try:
            return (proc / str(pid) / "cmdline").read_bytes()
        except OSError:
            return None

    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        for child in children.get(pid, []):
            if comm.get(pid) == comm.get(child) == "java" and cmdline(child) == cmdline(pid):
                continue  # a fork of the JVM, not yet exec'd
            todo.append(child)
    return total * os.sysconf("SC_PAGE_SIZE") / 2**20


def listening_sockets(root: int) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket that `root` or a descendant listens on."""
    try:
        proc = psutil.Process(root)
        family = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return set()
    found: set[tuple[str, int]] = set()
    for member in family:
        try:
            connections = member.net_connections(kind="inet")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        found |= {(c.laddr.ip, c.laddr.port) for c in connections if c.status == psutil.CONN_LISTEN}
    return found


def is_loopback(address: str) -> bool:
    """True for 127.0.0.0/8 and ::1, also as an IPv4-mapped IPv6 address."""
    import ipaddress

    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback
