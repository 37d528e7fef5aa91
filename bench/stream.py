"""Stream benchmark: how far behind the newest event gold is, at a steady event rate.

Run with `make bench` (or `uv run python -m bench.stream`). It starts its own broker,
registry and stream process in a temporary folder, sends live simulator events at `--rate`
for a warm-up and then for `--seconds`, waits for the stream to catch up, and reads every
refine batch from ops.stream_batches. In live mode an event's time is the moment it is
sent, so `finished_at - max_event_time` of a batch is how far behind the newest event gold
was when that batch committed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.results import publish
from contracts.catalog import default_catalog
from lakehouse.settings import PROJECT_ROOT, Settings


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def bench_stream(rate: float, seconds: float, warmup_s: float) -> dict[str, Any]:
    """Send at `rate`; report gold's delay behind the newest event per refine batch."""
    from infra.kafka_broker import LocalKafkaBroker
    from infra.processes import wait_until
    from lakehouse.spark import get_spark
    from lakehouse.tables import OPS_STREAM_BATCHES
    from publishing.deploy import register_all
    from registry.client import RegistryClient
    from registry.service import RegistryService
    from simulator.live import LiveRun, run_live
    from simulator.shop import ShopConfig
    from simulator.wire import ChaosConfig
    from streaming.service import StreamService
    from tests.conftest import free_port

    state = Path(tempfile.mkdtemp(prefix="rapport-bench-stream-"))
    (state / "jars").symlink_to(PROJECT_ROOT / "var" / "jars", target_is_directory=True)
    settings = Settings(
        state_dir=state,
        kafka={"broker_port": free_port(), "controller_port": free_port()},
        registry={"port": free_port()},
        spark={"ui_enabled": False},
    )
    broker, registry = LocalKafkaBroker(settings), RegistryService(settings)
    stream = StreamService(settings)
    chaos = ChaosConfig(duplicates=0.01, out_of_order=0.01, malformed=0.001)
    try:
        broker.start()
        registry.start()
        register_all(RegistryClient(settings.registry), default_catalog())
        stream.start(timeout_s=300)
        run_live(settings, ShopConfig(seed=7, run_tag="warm"), chaos, LiveRun(rate, warmup_s))
        measured_from = datetime.now(UTC)
        ledger = run_live(
            settings, ShopConfig(seed=8, run_tag="run"), chaos, LiveRun(rate, seconds)
        )
        sent_until = datetime.now(UTC)
        status = state / "run" / "stream.status.json"

        def caught_up() -> bool:
            try:
                batch = json.loads(status.read_text()).get("last_batch") or {}
            except (FileNotFoundError, json.JSONDecodeError):
                return False
            return batch.get("total_lag") == 0 and batch.get("finished_at", "") > (
                sent_until.isoformat()
            )

        caught = wait_until(caught_up, timeout_s=max(600.0, seconds * 5))
        catch_up_s = (datetime.now(UTC) - sent_until).total_seconds()
    finally:
        stream.stop()
        registry.stop()
        broker.stop()

    spark = get_spark(settings, app_name="rapport-bench", register_tables=False)
    rows = (
        spark.read.format("delta")
        .load(OPS_STREAM_BATCHES.location(settings))
        .where(f"finished_at >= TIMESTAMP'{measured_from:%Y-%m-%d %H:%M:%S}'")
        .collect()
    )
    spark.stop()
    shutil.rmtree(state, ignore_errors=True)
    with_data = [r for r in rows if r.input_rows and r.max_event_time]
    behind = [
        (r.finished_at.replace(tzinfo=UTC) - r.max_event_time.replace(tzinfo=UTC)).total_seconds()
        for r in with_data
    ]
    durations = [r.duration_ms / 1000 for r in with_data]
    return {
        "rate": rate,
        "seconds": seconds,
        "records_sent": sum(ledger.sent.values()),
        "refine_batches": len(with_data),
        "rows_per_batch_median": statistics.median(r.input_rows for r in with_data),
        "batch_seconds_median": round(statistics.median(durations), 1),
        "gold_behind_newest_event_s": {
            "median": round(statistics.median(behind), 1),
            "p95": round(_percentile(behind, 0.95), 1),
            "max": round(max(behind), 1),
        },
        "caught_up": caught,
        "catch_up_after_last_send_s": round(catch_up_s, 1),
        "target_s": 10,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=5000)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--warmup-seconds", type=float, default=30)
    args = parser.parse_args(argv)
    publish("stream", {"stream": bench_stream(args.rate, args.seconds, args.warmup_seconds)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
