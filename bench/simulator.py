"""Simulator benchmarks: history mode (1M records) and live mode (5,000 records/s for a minute).

Run with `make bench` (or `uv run python -m bench.simulator`). The live run starts its own
broker and registry in a temporary folder, so it never disturbs a running stack, and checks
that what reached Kafka is exactly what the ledger says was sent.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from bench.results import publish
from rapport.contracts.catalog import default_catalog
from rapport.runtime.kafka_offsets import end_offsets
from rapport.settings import PROJECT_ROOT, Settings
from rapport.simulator.history import write_history
from rapport.simulator.shop import ShopConfig
from rapport.simulator.wire import ChaosConfig


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_history(records: int) -> dict[str, Any]:
    """Write about `records` records as history; report seconds, records/s and peak memory."""
    folder = Path(tempfile.mkdtemp(prefix="rapport-bench-history-"))
    days = 10
    # ~2 records per action on average (orders fan out into stock and billing events).
    actions = int(records / 2.0 / days)
    start = time.perf_counter()
    cpu = time.process_time()
    ledger = write_history(
        folder,
        default_catalog(),
        ShopConfig(seed=1),
        ChaosConfig(duplicates=0.01),
        date(2026, 1, 1),
        days,
        actions,
    )
    elapsed = time.perf_counter() - start
    sent = sum(ledger.sent.values())
    size = sum(p.stat().st_size for p in folder.rglob("*.jsonl"))
    shutil.rmtree(folder)
    return {
        "records": sent,
        "seconds": round(elapsed, 2),
        "records_per_s": round(sent / elapsed),
        "cpu_seconds": round(time.process_time() - cpu, 2),
        "bytes_written_mb": round(size / 2**20, 1),
        "peak_rss_mb": round(peak_rss_mb()),
    }


def bench_live(rate: float, seconds: float) -> dict[str, Any]:
    """Send at `rate` for `seconds` to a fresh local broker; verify Kafka against the ledger."""
    from rapport.runtime.kafka_broker import LocalKafkaBroker
    from rapport.runtime.ports import free_port
    from rapport.simulator.live import LiveRun, run_live
    from registry.client import RegistryClient
    from registry.deploy import register_all
    from registry.registry_service import RegistryService

    state = Path(tempfile.mkdtemp(prefix="rapport-bench-live-"))
    (state / "jars").symlink_to(PROJECT_ROOT / "var" / "jars", target_is_directory=True)
    settings = Settings(
        state_dir=state,
        kafka={"broker_port": free_port(), "controller_port": free_port()},
        registry={"port": free_port()},
    )
    broker, registry = LocalKafkaBroker(settings), RegistryService(settings)
    try:
        broker.start()
        registry.start()
        register_all(RegistryClient(settings.registry), default_catalog())
        chaos = ChaosConfig(duplicates=0.01, out_of_order=0.01, malformed=0.001)
        wall, cpu = time.perf_counter(), time.process_time()
        ledger = run_live(
            settings, ShopConfig(seed=5), chaos, LiveRun(rate=rate, duration_s=seconds)
        )
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        sent = sum(ledger.sent.values())
        in_kafka = sum(end_offsets(settings).values())
        return {
            "target_rate": rate,
            "seconds": round(wall, 1),
            "records_sent": sent,
            "achieved_rate": round(sent / wall),
            "simulator_cpu_share": round(cpu / wall, 2),
            "records_in_kafka": in_kafka,
            "kafka_matches_ledger": in_kafka == sent,
            "peak_rss_mb": round(peak_rss_mb()),
        }
    finally:
        registry.stop()
        broker.stop()
        shutil.rmtree(state, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--history-records", type=int, default=1_000_000)
    parser.add_argument("--live-rate", type=float, default=5000)
    parser.add_argument("--live-seconds", type=float, default=60)
    parser.add_argument("--skip-live", action="store_true")
    args = parser.parse_args(argv)
    sections = {"history": bench_history(args.history_records)}
    if not args.skip_live:
        sections["live"] = bench_live(args.live_rate, args.live_seconds)
    publish("simulator", sections)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
