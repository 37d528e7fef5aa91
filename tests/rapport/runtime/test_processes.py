"""Pid-file supervision: stale files, reused pids and clean stops."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import psutil
import pytest

from rapport.runtime.processes import ManagedProcess, wait_until

pytestmark = pytest.mark.unit


def sleeper(
    tmp_path: Path, marker: str = "rapport-test-sleeper"
) -> tuple[ManagedProcess, list[str]]:
    proc = ManagedProcess("sleeper", tmp_path, marker=marker)
    argv = [sys.executable, "-c", "import time; time.sleep(60)", marker]
    return proc, argv


def test_start_then_stop(tmp_path: Path) -> None:
    proc, argv = sleeper(tmp_path)
    pid = proc.start(argv).pid
    assert proc.pid() == pid
    assert proc.stop(timeout_s=10) is True
    assert proc.pid() is None
    assert not proc.pid_file.exists()
    assert proc.stop() is False  # a second stop is a no-op


def test_stale_pid_file_is_ignored_and_removed(tmp_path: Path) -> None:
    proc, _ = sleeper(tmp_path)
    proc.pid_file.write_text("999999999\n")
    assert proc.pid() is None
    assert not proc.pid_file.exists()


def test_garbage_pid_file_is_ignored(tmp_path: Path) -> None:
    proc, _ = sleeper(tmp_path)
    proc.pid_file.write_text("not a pid")
    assert proc.pid() is None


def test_a_reused_pid_of_another_program_is_not_ours(tmp_path: Path) -> None:
    proc, _ = sleeper(tmp_path)
    import os

    proc.pid_file.write_text(f"{os.getpid()}\n")  # alive, but pytest is not the sleeper
    assert proc.pid() is None


def test_marker_must_be_in_the_command_line(tmp_path: Path) -> None:
    proc = ManagedProcess("x", tmp_path, marker="absent-marker")
    with pytest.raises(ValueError, match="marker"):
        proc.start([sys.executable, "-c", "pass"])


def test_sigterm_ignoring_process_is_killed_after_timeout(tmp_path: Path) -> None:
    marker = "rapport-test-stubborn"
    proc = ManagedProcess("stubborn", tmp_path, marker=marker)
    code = (
        "import signal, time, pathlib; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        f"pathlib.Path({str(tmp_path / 'ready')!r}).touch(); time.sleep(60)"
    )
    proc.start([sys.executable, "-c", code, marker])
    assert wait_until(lambda: (tmp_path / "ready").exists(), 10)
    assert proc.stop(timeout_s=1) is True
    assert proc.pid() is None


def test_whole_group_stop_ends_children_that_ignore_sigterm(tmp_path: Path) -> None:
    """A supervisor's children die with it, even one in its own session ignoring SIGTERM."""
    marker = "rapport-test-supervisor"
    proc = ManagedProcess("supervisor", tmp_path, marker=marker, whole_group=True)
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    code = (
        "import subprocess, sys, time, pathlib;"
        f"subprocess.Popen([sys.executable, '-c', {stubborn!r}]);"
        f"subprocess.Popen([sys.executable, '-c', {stubborn!r}], start_new_session=True);"
        f"pathlib.Path({str(tmp_path / 'ready')!r}).touch(); time.sleep(60)"
    )
    proc.start([sys.executable, "-c", code, marker])
    assert wait_until(lambda: (tmp_path / "ready").exists() and len(proc.group_pids()) == 3, 10)
    family = proc.group_pids()
    assert proc.stop(timeout_s=5) is True
    assert not [pid for pid in family if psutil.pid_exists(pid)]


def test_wait_until_gives_up_at_the_deadline() -> None:
    assert wait_until(lambda: False, 0.3, interval_s=0.05) is False
    assert wait_until(lambda: True, 0.3) is True


def fake_process(proc: Path, pid: int, ppid: int, comm: str, cmdline: bytes, pages: int) -> None:
    """A /proc/<pid> entry with the three files tree_rss_mb reads."""
    entry = proc / str(pid)
    entry.mkdir()
    (entry / "stat").write_text(f"{pid} ({comm}) S {ppid} {pid} {pid} 0 -1\n")
    (entry / "statm").write_text(f"{pages * 4} {pages} 0 0 0 0 0\n")
    (entry / "cmdline").write_bytes(cmdline)


def test_tree_rss_counts_each_process_once_and_not_a_jvm_fork_before_exec(
    tmp_path: Path,
) -> None:
    from rapport.runtime.processes import tree_rss_mb

    jvm = b"java\0-cp\0jars\0org.apache.spark.deploy.SparkSubmit\0"
    fake_process(tmp_path, 10, 1, "python", b"python\0-m\0streaming.runner\0", 100)
    fake_process(tmp_path, 11, 10, "java", jvm, 1000)
    # The JVM mid-spawn: its child still shows the JVM's command line and resident pages.
    fake_process(tmp_path, 12, 11, "java", jvm, 1000)
    fake_process(tmp_path, 13, 11, "chmod", b"chmod\0755\0f\0", 5)
    # A real child JVM (a Spark worker's executor) and a Python worker: both counted.
    fake_process(tmp_path, 14, 11, "java", b"java\0CoarseGrainedExecutorBackend\0", 300)
    fake_process(tmp_path, 15, 11, "python", b"python\0-m\0pyspark.daemon\0", 50)
    fake_process(tmp_path, 20, 1, "java", jvm, 7000)  # not in the tree
    page_mib = os.sysconf("SC_PAGE_SIZE") / 2**20
    assert tree_rss_mb(10, proc=tmp_path) == pytest.approx((100 + 1000 + 5 + 300 + 50) * page_mib)


def test_services_get_few_malloc_arenas_unless_the_environment_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rapport.runtime.processes import child_env

    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    env = child_env({"RAPPORT_X": "1"})
    assert env["MALLOC_ARENA_MAX"] == "2"
    assert env["RAPPORT_X"] == "1"
    monkeypatch.setenv("MALLOC_ARENA_MAX", "8")
    assert child_env({})["MALLOC_ARENA_MAX"] == "8"


def test_listening_sockets_names_each_bound_address_and_loopback_is_told_apart() -> None:
    import socket

    from rapport.runtime.processes import is_loopback, listening_sockets

    inner, outer = socket.socket(), socket.socket()
    try:
        inner.bind(("127.0.0.1", 0))
        outer.bind(("0.0.0.0", 0))
        for sock in (inner, outer):
            sock.listen()
        found = listening_sockets(os.getpid())
        assert inner.getsockname() in found
        assert outer.getsockname() in found
    finally:
        inner.close()
        outer.close()
    assert [is_loopback(a) for a in ("127.0.0.1", "127.8.0.1", "::1", "::ffff:127.0.0.1")] == [
        True
    ] * 4
    assert [is_loopback(a) for a in ("0.0.0.0", "::", "10.0.0.5", "fe80::1%eth0")] == [False] * 4
