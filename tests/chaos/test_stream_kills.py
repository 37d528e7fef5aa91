"""Kill the stream at random points, restart it, and still match the ledger exactly.

The stream runs out of process (`python -m streaming.runner`, as `rapport stream start` runs
it) and is killed with SIGKILL: no shutdown hook, no final commit. Exactly once must come
from the checkpoints and Delta's idempotent writes alone. Along the way:

- each kill is followed by deleting the newest entry of each checkpoint's commit log that
  had no batch in flight: the window between a batch's Delta commit and its checkpoint
  commit, where the restarted query runs the batch again and Delta's transaction ids must
  make the second write a no-op;
- the schema registry is down for one whole run of the stream (and a restart): the stream's
  workers validate with the schemas they kept on disk, and a new producer fails clearly;
- every slice carries a generated sample of hostile records (tests/helpers/hostile.py):
  each lands in quarantine with its reason, and no valid event is lost beside them.

Two kills in `make test`, twenty under `make chaos`.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from rapport.contracts.catalog import default_catalog
from rapport.lakehouse.ownership import BRONZE_QUERY
from rapport.lakehouse.tables import BRONZE_EVENTS, BRONZE_QUARANTINE
from rapport.runtime.ports import free_port
from rapport.runtime.processes import wait_until
from rapport.settings import Settings
from rapport.simulator.ledger import Ledger
from rapport.simulator.wire import ChaosConfig
from registry.client import RegistryClient, RegistryError
from registry.deploy import register_all
from registry.producer import EventProducer
from registry.registry_service import RegistryService
from streaming.hot import gold_checkpoint
from streaming.refine import refine_checkpoint
from streaming.runner import BACKGROUND, status_file
from streaming.stream_service import StreamService
from tests.helpers.chaos import Report, scale
from tests.helpers.hostile import Hostile, sample
from tests.helpers.ledger_checks import assert_tables_match, tally
from tests.helpers.streams import START, send, shop_records

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.spark, pytest.mark.chaos]

KILLS = scale(2, 20)
#: The run of the stream (0-based start) during which the registry is down.
OUTAGE = 1


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


def own_registry(settings: Settings) -> tuple[Settings, RegistryService]:
    """A registry of this test's own (port and topic), which it may stop and start."""
    port = free_port()
    registry = settings.registry.model_copy(
        update={
            "port": port,
            "url": f"http://127.0.0.1:{port}",
            "topic": f"_schemas.{settings.kafka.topics['orders'].name}",
        }
    )
    own = settings.model_copy(update={"registry": registry})
    service = RegistryService(own)
    service.start()
    register_all(RegistryClient(own.registry), default_catalog())
    return own, service


def checkpoints(settings: Settings) -> list[Path]:
    """The stream's three checkpoints: bronze, refine (silver) and the hot query (gold)."""
    return [
        Path(c)
        for c in (
            BRONZE_EVENTS.checkpoint(settings, BRONZE_QUERY),
            refine_checkpoint(settings),
            gold_checkpoint(settings),
        )
    ]


def _entries(folder: Path) -> list[int]:
    return [int(f.name) for f in folder.glob("[0-9]*") if f.name.isdigit()]


def forget_newest_commit(settings: Settings) -> list[str]:
    """Delete each checkpoint's newest commit-log entry: the batch ran, wrote Delta, and
    died before its checkpoint said so. The next start runs that batch again.

    Only where no batch was in flight at the kill (the newest offsets entry is committed):
    a kill inside a batch may itself have left that window open, and a crash loses at most
    one entry. Two missing are what a replaced checkpoint looks like, which the stream
    refuses (CheckpointMismatchError)."""
    forgotten = []
    for checkpoint in checkpoints(settings):
        commits = _entries(checkpoint / "commits")
        if not commits or max(commits) != max(_entries(checkpoint / "offsets"), default=-1):
            continue
        newest = max(commits)
        (checkpoint / "commits" / str(newest)).unlink()
        (checkpoint / "commits" / f".{newest}.crc").unlink(missing_ok=True)
        forgotten.append(f"{checkpoint.name}/commits/{newest}")
    return forgotten


def hostile_slice(seed: int) -> list[Hostile]:
    """Hostile records drawn now: their times "ahead" are ahead of the broker's clock."""
    return sample(scale(12, 40), seed=seed, received_at=datetime.now(UTC))


def test_killed_and_restarted_stream_matches_the_ledger(
    spark: Any, isolated: Any, kafka_broker: Any, chaos_report: Report
) -> None:
    settings, registry = own_registry(isolated(watermark_delay_s=300.0))
    chaos = ChaosConfig(duplicates=0.05, out_of_order=0.05, late=0.02, malformed=0.03,
                        unknown_types=0.01, late_by=timedelta(hours=1))  # fmt: skip
    records = shop_records(seed=77, actions=scale(2000, 8000), start=START, chaos=chaos)
    ledger = Ledger()
    seed = int(os.environ.get("RAPPORT_KILL_SEED", time.time_ns() % 10_000))
    rng = random.Random(seed)
    print(f"kill points drawn with RAPPORT_KILL_SEED={seed}")
    hostile: list[Hostile] = []
    forgotten: list[str] = []

    # The shop sends a slice before every start, so each run of the stream has work to do
    # when it is killed: half the kills land inside the first batch of a fresh process, the
    # others just after a batch committed (no replay needed: the checkpoint must say so).
    slices = [records[i :: KILLS + 1] for i in range(KILLS + 1)]
    service = StreamService(settings)
    try:
        for kill in range(KILLS):
            if kill == OUTAGE:
                registry.stop()
                with pytest.raises(RegistryError, match="Cannot reach the schema registry"):
                    EventProducer(settings).schema_id(default_catalog().get("OrderPlaced", 1))
            drawn = hostile_slice(seed + kill)
            hostile += drawn
            send(settings, [*slices[kill], *(h.wire() for h in drawn)], ledger)
            if kill == 0:  # the workers keep what they fetch; the outage relies on it
                assert set(ledger.versions) == {
                    f"{e.contract.event_type}.v{e.contract.version}"
                    for r in records
                    if (e := r.event) is not None
                }, "the first slice should carry every contract version"
            service.start(timeout_s=300)
            if rng.random() < 0.5 and kill != OUTAGE - 1:
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
            if kill == OUTAGE:
                registry.start()
            forgotten += forget_newest_commit(settings)

        drawn = hostile_slice(seed + KILLS)
        hostile += drawn
        send(settings, [*slices[-1], *(h.wire() for h in drawn)], ledger)
        service.start(timeout_s=300)
        # Caught up: a gold and a refine batch have each seen Kafka's end offsets and have
        # nothing left behind.
        assert wait_until(lambda: service.status().caught_up, timeout_s=900), (
            f"the stream never caught up: {service.status()}"
        )
    finally:
        service.stop()
        registry.stop()

    counts = tally(spark, settings, ledger)
    wrong = hostile_reasons_wrong(spark, settings, hostile)
    chaos_report(f"stream SIGKILL x{KILLS}", counts, kill_seed=seed,
                 commit_log_entries_forgotten=len(forgotten), registry_down_for_run=OUTAGE + 1,
                 hostile_sent=len(hostile), hostile_wrong_reason=len(wrong))  # fmt: skip
    assert (counts.lost, counts.duplicated) == (0, 0), counts
    assert counts.quarantined == counts.to_quarantine, counts
    assert forgotten, "no commit log entry was forgotten: the replay window went untested"
    assert not wrong, wrong[:5]
    assert_tables_match(spark, settings, ledger)


def hostile_reasons_wrong(spark: Any, settings: Settings, hostile: list[Hostile]) -> list[str]:
    """Hostile records whose quarantine row is missing or has the wrong reason."""
    wanted: dict[bytes, set[str]] = {}
    for h in hostile:
        wanted.setdefault(h.value, set()).update(h.reasons)
    found: dict[bytes, list[str]] = {}
    rows = spark.read.format("delta").load(BRONZE_QUARANTINE.location(settings))
    for r in rows.select("value", "reason").collect():
        found.setdefault(bytes(r.value) if r.value is not None else b"", []).append(r.reason)
    wrong = []
    for value, reasons in wanted.items():
        got = found.get(value, [])
        if not got or not all(g and g.startswith(tuple(reasons)) for g in got):
            wrong.append(f"{value[:60]!r}: wanted {sorted(reasons)}, got {got}")
    return wrong
