"""Rapport's own figures for docs/benchmarks.md: backlog drain, idle latency, sustained lag, RSS.

Run with `make bench` (or `uv run python -m bench.rapport`). It starts its own broker,
registry and stream process (`rapport stream start`, as a user runs it) in a temporary
folder and measures, in one run:

- the peer's burst (bench.baseline's: 60 s at 5,000 events/s, the same seed), written ahead
  to Kafka, then the stream started: seconds until gold is exact, beside the peer's;
- a burst written ahead to Kafka while the stream is stopped (default 60 s at 20,000
  events/s = 1.2 million records), then drained: events/s to gold, seconds until gold has
  caught up, and whether every day-and-currency order figure in gold equals the records;
- one event at a time while the stream idles: send to visible in gold.sales_by_day, p95;
- the simulator's full mix sent live at a steady rate (default 5,000 events/s for 10
  minutes): every second, how far gold is behind (the newest event sent against gold's
  `complete_up_to`); every ten seconds, both layers' "behind" as the age of the oldest
  record they have not processed (what the freshness SLAs use; a Kafka probe each);
- the peak resident memory of the stream process and its JVM.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from bench.report import record
from bench.workload import DailyOrders, bench_stack, generate, produce, schema_ids
from rapport.runtime.processes import tree_rss_mb
from rapport.settings import Settings


def _percentiles(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"samples": 0}
    ordered = sorted(values)

    def at(share: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 2)

    return {
        "samples": len(values),
        "p50": at(0.50),
        "p95": at(0.95),
        "p99": at(0.99),
        "max": round(ordered[-1], 2),
    }


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class RssSampler:
    """Peak resident memory of a process and its children (the runner and its Spark JVM)."""

    def __init__(self, pid_of: Any) -> None:
        self.pid_of = pid_of
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            pid = self.pid_of()
            if pid:
                self.peak_mb = max(self.peak_mb, tree_rss_mb(int(pid)))


def _gold_orders(settings: Settings) -> dict[tuple[str, str], tuple[int, Any]]:
    """gold.sales_by_day's orders and order value per (day, currency), read with delta-rs."""
    from rapport.lakehouse import delta_rs
    from rapport.lakehouse.tables import GOLD_SALES_BY_DAY

    rows = delta_rs.read(settings, GOLD_SALES_BY_DAY).to_pylist()
    return {
        (r["event_date"].isoformat(), r.get("currency") or "-"): (r["orders"], r["order_value"])
        for r in rows
        if r["orders"]
    }


def _not_failed(stream: Any) -> None:
    """Stop a wait at once when the stream failed, instead of at its deadline."""
    status = stream.status()
    if status.state in ("failed", "stopped"):
        raise RuntimeError(
            f"the stream is {status.state}; see its log in {stream.settings.run_dir}"
        )


def peer_burst(settings: Settings, rate: float, seconds: float) -> tuple[dict[str, Any], Any]:
    """The peer's burst (the same seed, size and rate as bench.baseline's), through Rapport.

    Written to Kafka first, then the stream starts; timed from the moment its gold query
    runs (the peer's clock starts at its query's start too) until every day-and-currency
    order figure in gold equals the records. Returns the section and what gold must hold.
    """
    from rapport.runtime.processes import wait_until
    from streaming.stream_service import StreamService

    count = int(rate * seconds)
    workload = generate(count, seed=12, rate=rate, schema_ids=schema_ids(settings))
    produce(settings, workload)
    stream = StreamService(settings)
    stream.start(timeout_s=600)
    started = time.monotonic()

    def exact_now() -> bool:
        _not_failed(stream)
        return _gold_orders(settings) == workload.orders

    exact = wait_until(exact_now, 900, 0.1)
    took = time.monotonic() - started
    stream.stop()
    section = {
        "records": count,
        "exact": exact,
        "exact_after_query_start_s": round(took, 1),
        "rows_per_s": round(count / took) if exact else None,
    }
    return section, workload.orders


def drain_burst(
    settings: Settings, rate: float, seconds: float, before: DailyOrders | None = None
) -> dict[str, Any]:
    """A burst written ahead while the stream is stopped; then how fast gold drains it.

    `before` is what gold held already (from an earlier burst): the check adds it in.
    """
    from rapport.runtime.processes import wait_until
    from streaming.stream_service import StreamService

    count = int(rate * seconds)
    workload = generate(count, seed=21, rate=rate, schema_ids=schema_ids(settings))
    produced = produce(settings, workload)
    stream = StreamService(settings)
    began = time.monotonic()
    since = datetime.now(UTC)
    stream.start(timeout_s=600)
    started = time.monotonic()

    def gold_caught_up() -> bool:
        _not_failed(stream)
        return stream.status().last_gold_batch.get("total_lag") == 0

    caught = wait_until(gold_caught_up, 1800, 0.5)
    gold_done = time.monotonic()
    status = stream.status()
    gold_rows = _gold_orders(settings)
    want = dict(before or {})
    for key, (n, total) in workload.orders.items():
        had_n, had_total = want.get(key, (0, 0))
        want[key] = (had_n + n, had_total + total)
    exact = gold_rows == want
    drained_s = _gold_drain_seconds(settings, since) or (gold_done - started)
    return {
        "records": count,
        "rate_written": rate,
        "produced_records_per_s": round(produced.records_per_s),
        "stream_start_s": round(started - began, 1),
        "caught_up": caught,
        "gold_drain_s": round(drained_s, 1),
        "events_per_s": round(count / drained_s) if drained_s else None,
        "until_gold_caught_up_s": round(gold_done - started, 1),
        "silver_lag_records_then": status.last_batch.get("total_lag"),
        "gold_batches": status.last_gold_batch.get("batch_id"),
        "exact_orders_per_day_and_currency": exact,
    }


def _gold_drain_seconds(settings: Settings, since: datetime) -> float | None:
    """From the hot query's first batch with events (after `since`) to its first batch with
    nothing left."""
    from rapport.lakehouse import delta_rs
    from rapport.lakehouse.tables import OPS_STREAM_BATCHES

    rows = [
        r
        for r in delta_rs.read(settings, OPS_STREAM_BATCHES).to_pylist()
        if str(r["app_id"]).startswith("rapport-gold_events-")
        and r["finished_at"].astimezone(UTC) >= since
    ]
    rows.sort(key=lambda r: r["finished_at"])
    first = next((r for r in rows if r["input_rows"]), None)
    if first is None:
        return None
    done = next((r for r in rows if r["finished_at"] >= first["finished_at"] and
                 r["total_lag"] == 0), None)  # fmt: skip
    if done is None:
        return None
    return float((done["finished_at"] - first["started_at"]).total_seconds())


def idle_latency(settings: Settings, events: int) -> dict[str, Any]:
    """Send one order at a time to an idle stream: seconds until gold.sales_by_day counts it."""
    import orjson

    from rapport.contracts.catalog import default_catalog
    from rapport.contracts.envelope import envelope
    from rapport.runtime.processes import wait_until
    from registry.producer import EventProducer

    contract = default_catalog().latest("OrderPlaced")
    topic = settings.kafka.topics[contract.domain].name
    waits: list[float] = []
    with EventProducer(settings, transport="librdkafka") as producer:
        schema_id = producer.schema_id(contract)
        for _ in range(events):
            before = sum(n for n, _ in _gold_orders(settings).values())
            order_id = f"idle-{uuid.uuid4().hex[:12]}"
            data = {
                "order_id": order_id,
                "customer_id": "c-idle",
                "lines": [
                    {"sku": "SKU-00001", "quantity": 1, "unit_price": "1.00", "category": "home"}
                ],
                "currency": "EUR",
                "total": "1.00",
                "region": "eu-west",
                "channel": "web",
                "warehouse": "WH-AMS",
            }
            doc = envelope(contract, data, event_id=order_id, time=datetime.now(UTC),
                           schema_id=schema_id)  # fmt: skip
            sent = time.monotonic()
            producer.send_raw(topic, order_id.encode(), orjson.dumps(doc), order_id)
            producer.flush()
            seen = wait_until(
                lambda b=before: sum(n for n, _ in _gold_orders(settings).values()) > b, 60, 0.05
            )
            if seen:
                waits.append(time.monotonic() - sent)
    return {"events": events, "seen": len(waits), "send_to_gold_s": _percentiles(waits)}


def _send_paced(settings_json: str, seed: int, rate: float, warmup_s: float, seconds: float,
                lead_s: float, out: Any) -> None:  # fmt: skip
    """In a process of its own: the shop's full mix made ahead, then sent at `rate`.

    The records' event times start `lead_s` from now, the time their generation is allowed;
    sending starts then and runs `warmup_s` + `seconds` without a pause, so the stream is
    under the load when the measured part begins. Puts when that part begins (epoch
    seconds), then what `send_paced` returns, as a dict.
    """
    from dataclasses import asdict

    from bench.workload import send_paced
    from registry.producer import EventProducer

    settings = Settings.model_validate(json.loads(settings_json))
    start_at = time.time() + lead_s
    out.put(start_at + warmup_s)
    with EventProducer(settings, transport="librdkafka", linger_ms=5) as producer:
        # A few more than rate x seconds: duplicates share their original's slot.
        count = int(rate * (warmup_s + seconds) * 1.05) + 1000
        workload = generate(count, seed=seed, rate=rate,
                            start=datetime.fromtimestamp(start_at, UTC),
                            schema_ids=schema_ids(settings))  # fmt: skip
        paced = send_paced(settings, producer, workload, start_at, warmup_s + seconds)
    out.put({**asdict(paced), "records_per_s": paced.records_per_s,
             "generate_s": round(workload.generate_s, 1)})  # fmt: skip


#: Kafka is probed for the "behind" figures every this many samples: a probe reads a record
#: per lagging partition, and one a second took a tenth of a core from the load it measures.
PROBE_EVERY = 10


#: Seconds the sender may take to make its records, per million, before the send starts
#: (generation runs at about 45,000-65,000 records/s on the 2-core machine; this leaves room).
LEAD_S_PER_MILLION = 40.0


def sustained(settings: Settings, rate: float, seconds: float, warmup_s: float) -> dict[str, Any]:
    """The shop's full mix at a steady `rate`; every second, how far behind gold is.

    The traffic comes from a process of its own, as a service's producer would, and is made
    before its clock starts, so the two cores go to the stream and the broker and the rate
    offered is the rate asked for (made live beside the stream, it fell short at 4,450/s).
    Sampling starts `warmup_s` into the load, never from an idle stream.
    """
    import multiprocessing

    from quality.freshness import behind_seconds, kafka_positions
    from rapport.settings import revealed
    from streaming.stream_service import StreamService

    stream = StreamService(settings)
    payload = json.dumps(revealed(settings))
    spawn = multiprocessing.get_context("spawn")
    results: Any = spawn.Queue()
    lead_s = 10.0 + LEAD_S_PER_MILLION * rate * (warmup_s + seconds) / 1e6
    sender = spawn.Process(
        target=_send_paced, args=(payload, 32, rate, warmup_s, seconds, lead_s, results)
    )
    gold_lag: list[float] = []
    gold_behind: list[float] = []
    silver_behind: list[float] = []
    silver_batches: set[Any] = set()
    silver_before = stream.status().last_batch.get("batch_id")
    sender.start()
    time.sleep(max(0.0, results.get(timeout=120) - time.time()))
    began = time.monotonic()
    next_at = began + 1.0
    sample = 0
    while sender.is_alive():
        time.sleep(max(0.0, next_at - time.monotonic()))
        next_at += 1.0
        sample += 1
        now = datetime.now(UTC)  # each record is sent in its slot: the newest is about now
        status = stream.status()
        gold, silver = status.last_gold_batch, status.last_batch
        if silver.get("batch_id") not in (None, silver_before):
            silver_batches.add(silver.get("batch_id"))
        complete = _parse(gold.get("watermark"))
        if complete is not None:
            gold_lag.append((now - complete).total_seconds())
        if sample % PROBE_EVERY:
            continue
        for batch, out in ((gold, gold_behind), (silver, silver_behind)):
            processed = {
                (lag["topic"], int(lag["partition"])): int(lag["processed_offset"])
                for lag in batch.get("kafka_lag") or []
                if lag.get("processed_offset") is not None
            }
            if not processed:
                continue
            try:
                ends, waiting = kafka_positions(settings, processed)
            except Exception:  # a probe that failed is a missing sample, not a figure
                continue
            out.append(behind_seconds(now, ends, processed, waiting))
    elapsed = time.monotonic() - began
    sender.join()
    if sender.exitcode != 0:
        raise RuntimeError(f"the load's sender failed (exit code {sender.exitcode}); see above")
    paced = results.get(timeout=60)
    return {
        "rate": rate,
        "seconds": seconds,
        "warmup_s": warmup_s,
        "records_sent": paced["records"],
        "achieved_rate": round(paced["records_per_s"]),
        "sender_late_start_s": paced["late_start_s"],
        "sender_max_behind_s": round(paced["max_behind_s"], 2),
        "sender_generate_s": paced["generate_s"],
        "sampled_s": round(elapsed),
        "gold_lag_s": _percentiles(gold_lag),
        "gold_behind_s": _percentiles(gold_behind),
        "silver_behind_s": _percentiles(silver_behind),
        # Silver runs on idle CPU only (stream.background_idle): under a load that takes the
        # cores it may finish no batch in the whole run, and then it is at least this far
        # behind (the run's length), with no sample above to say more.
        "silver_batches_in_run": len(silver_batches),
        "silver_behind_at_least_s": round(elapsed) if not silver_batches else None,
    }


def bench_rapport(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Every Rapport section, on one broker and one stream process."""
    from streaming.stream_service import StreamService

    sections: dict[str, dict[str, Any]] = {}
    with bench_stack() as settings:
        stream = StreamService(settings)
        with RssSampler(stream.process.pid) as rss:
            try:
                peer, gold_before = peer_burst(settings, args.peer_rate, args.peer_seconds)
                sections["rapport_peer_burst"] = peer
                print("rapport_peer_burst:", json.dumps(peer), flush=True)
                burst = drain_burst(
                    settings, args.burst_rate, args.burst_seconds, before=gold_before
                )
                sections["rapport_backlog"] = burst
                print("rapport_backlog:", json.dumps(burst), flush=True)
                sections["rapport_idle"] = idle_latency(settings, args.idle_events)
                print("rapport_idle:", json.dumps(sections["rapport_idle"]), flush=True)
                sections["rapport_sustained"] = sustained(
                    settings, args.rate, args.seconds, args.warmup_seconds
                )
            finally:
                stream.stop()
        sections["rapport_memory"] = {"stream_peak_rss_mb": round(rss.peak_mb)}
    return sections


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--burst-rate", type=float, default=20_000)
    parser.add_argument("--burst-seconds", type=float, default=60)
    parser.add_argument("--peer-rate", type=float, default=5000, help="as bench.baseline's")
    parser.add_argument("--peer-seconds", type=float, default=60, help="as bench.baseline's")
    parser.add_argument("--idle-events", type=int, default=50)
    parser.add_argument("--rate", type=float, default=5_000)
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--warmup-seconds", type=float, default=30)
    args = parser.parse_args(argv)
    sections = bench_rapport(args)
    command = "python -m bench.rapport " + " ".join(argv if argv is not None else [])
    record("rapport", sections, command=command.strip())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
