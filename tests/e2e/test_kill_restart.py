"""Kill the stream process at random points, restart it, and still match the ledger exactly.

The stream runs out of process (`python -m streaming.runner`, as `rapport stream start` runs
it) and is killed with SIGKILL: no shutdown hook, no final commit. Exactly once must come
from the checkpoints and Delta's idempotent writes alone.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from rapport.runtime.processes import wait_until
from rapport.settings import Settings
from rapport.simulator.ledger import Ledger
from rapport.simulator.wire import ChaosConfig
from streaming.runner import BACKGROUND, status_file
from streaming.stream_service import StreamService
from tests.helpers.ledger_checks import assert_tables_match
from tests.helpers.streams import START, send, shop_records

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.spark]

KILLS = 3


def last_batch(settings: Settings) -> dict[str, Any]:
    try:
        board = json.loads(status_file(settings, BACKGROUND).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return board.get("last_batch") or {}


def stream_processes(settings: Settings) -> list[int]:
    """Pids of this stream's processes: hot and background, and each one's Spark JVM."""
    state = str(settings.state_dir).encode()
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        ours = b"streaming.runner" in cmdline or b"spark.app.name=rapport-stream" in cmdline
        if ours and state in cmdline:
            found.append(int(proc.name))
    return found


def _cmdline(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes()


def in_background(pid: int) -> bool:
    """Whether `pid` is the background process or its JVM (a child of it)."""
    import psutil

    proc = psutil.Process(pid)
    lineage = [proc, *([proc.parent()] if proc.parent() is not None else [])]
    return any("--role=background" in " ".join(p.cmdline()) for p in lineage if p is not None)


def test_killed_and_restarted_stream_matches_the_ledger(
    spark: Any, isolated: Any, schema_registry: Any
) -> None:
    settings = isolated(watermark_delay_s=300.0)
    chaos = ChaosConfig(duplicates=0.05, out_of_order=0.05, late=0.02, malformed=0.03,
                        unknown_types=0.01, late_by=timedelta(hours=1))  # fmt: skip
    records = shop_records(seed=77, actions=2000, start=START, chaos=chaos)
    ledger = Ledger()
    seed = int(os.environ.get("RAPPORT_KILL_SEED", time.time_ns() % 10_000))
    rng = random.Random(seed)
    print(f"kill points drawn with RAPPORT_KILL_SEED={seed}")

    # The shop sends a slice before every start, so each run of the stream has work to do
    # when it is killed: half the kills land inside the first batch of a fresh process, the
    # others just after a batch committed (no replay needed: the checkpoint must say so).
    slices = [records[i :: KILLS + 1] for i in range(KILLS + 1)]
    service = StreamService(settings)
    try:
        for kill in range(KILLS):
            send(settings, slices[kill], ledger)
            service.start(timeout_s=300)
            if rng.random() < 0.5:
                time.sleep(rng.uniform(1.0, 20.0))  # a random point of the first batch
            else:
                assert wait_until(lambda: "batch_id" in last_batch(settings), timeout_s=600), (
                    f"no refine batch after start {kill + 1}"
                )
                time.sleep(rng.uniform(0.0, 3.0))
            pid = service.process.pid()
            assert pid is not None, f"the stream died by itself before kill {kill + 1}"
            # Start returns once gold runs; the niced background process may still be
            # launching its JVM on a busy machine.
            assert wait_until(lambda: len(stream_processes(settings)) == 4, timeout_s=180), (
                f"hot and background, each with a JVM: {stream_processes(settings)}"
            )
            if kill == 0:
                # Both JVMs run C1 alone (stream.driver_java_options, decision 0016).
                jvms = [p for p in stream_processes(settings) if b"java" in _cmdline(p)]
                assert len(jvms) == 2, jvms
                assert all(b"-XX:TieredStopAtLevel=1" in _cmdline(p) for p in jvms)
                # ... with the tiered code cache: C1 alone gets 48 MiB, which filled up.
                assert all(b"-XX:ReservedCodeCacheSize=240m" in _cmdline(p) for p in jvms)
                # Gold first: the background process and its JVM run at idle CPU priority.
                policies = {p: os.sched_getscheduler(p) for p in stream_processes(settings)}
                assert {p: v == os.SCHED_IDLE for p, v in policies.items()} == {
                    p: in_background(p) for p in policies
                }, policies
                # A crash of the background process alone: the hot one starts it again.
                crashed = next(
                    p for p in stream_processes(settings) if b"--role=background" in _cmdline(p)
                )
                os.kill(crashed, signal.SIGKILL)

                def restarted(gone: int = crashed) -> bool:
                    found = stream_processes(settings)
                    return len(found) == 4 and gone not in found

                assert wait_until(restarted, timeout_s=180), (
                    f"the background process did not come back: {stream_processes(settings)}"
                )
                # The hot process alone: its background child must die with it.
                os.kill(pid, signal.SIGKILL)
            else:
                os.killpg(pid, signal.SIGKILL)  # both processes and their JVMs, no goodbye
            assert wait_until(lambda: service.process.pid() is None, timeout_s=60)
            assert wait_until(lambda: not stream_processes(settings), timeout_s=60), (
                f"stream processes outlived the kill: {stream_processes(settings)}"
            )

        send(settings, slices[-1], ledger)
        service.start(timeout_s=300)
        # Caught up: a gold and a refine batch have each seen Kafka's end offsets and have
        # nothing left behind.
        assert wait_until(lambda: service.status().caught_up, timeout_s=900), (
            f"the stream never caught up: {service.status()}"
        )
    finally:
        service.stop()

    assert_tables_match(spark, settings, ledger)
