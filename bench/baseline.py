"""The baselines of `make bench`: the limit and the plain peer, on one workload in one fresh broker.

Run with `make bench` (or `uv run python -m bench.baseline`; `--limit-records 20000
--peer-seconds 4` for a quick look). It starts its own broker and registry in a temporary
folder, writes the limit's records to the four topics and runs the limit over them, then
writes the peer's burst ahead (event times `--peer-rate` per second over `--peer-seconds`)
and runs the peer from the offsets where the burst begins. The sections go to
docs/benchmarks.md through bench.report.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.limit import bench_limit
from bench.peer import bench_peer
from bench.report import DOC, STORE, record
from bench.workload import bench_stack, generate, produce, schema_ids, starting_offsets


def bench_baseline(
    *,
    limit_records: int,
    peer_rate: float,
    peer_seconds: float,
    repeats: int,
    peer_deadline_s: float,
    peer_max_offsets: int | None,
) -> dict[str, dict[str, Any]]:
    """The workload, limit and peer sections, measured in one Spark session."""
    from rapport.lakehouse.spark import get_spark

    # Spark at its best for these jobs: the JVM's default JIT. Rapport's own C1-only default
    # (decision 0016) suits a stream's many small jobs; the limit is one long job, where C2's
    # compiles pay (from_json ran 2.7 times faster with them in one run).
    with bench_stack(spark={"driver_java_options": ""}) as settings:
        ids = schema_ids(settings)
        workload = generate(limit_records, seed=11, rate=peer_rate, schema_ids=ids)
        sent = produce(settings, workload)
        figures = {"limit_records": workload.figures()}
        workload.records.clear()  # up to a GiB of bytes that Kafka now holds
        spark = get_spark(settings, app_name="rapport-bench-baseline", register_tables=False)
        try:
            limit = bench_limit(spark, settings, repeats)
            limit["rows_match_records_sent"] = limit["read"]["rows"] == sent.records
            offsets = starting_offsets(settings)
            burst = generate(int(peer_rate * peer_seconds), seed=12, rate=peer_rate, schema_ids=ids)
            burst_sent = produce(settings, burst)
            burst_end = time.monotonic()
            figures["peer_burst"] = burst.figures()
            peer = bench_peer(
                spark,
                settings,
                expected=burst.orders,
                records=len(burst),
                starting_offsets=offsets,
                burst_end=burst_end,
                folder=tempfile.mkdtemp(prefix="peer-", dir=settings.state_dir),
                deadline_s=peer_deadline_s,
                max_offsets_per_trigger=peer_max_offsets,
            )
        finally:
            spark.stop()
    for key, produced in (("limit_records", sent), ("peer_burst", burst_sent)):
        figures[key]["produce_s"] = round(produced.seconds, 1)
        figures[key]["produce_records_per_s"] = round(produced.records_per_s)
    peer["burst_event_rate"] = peer_rate
    peer["burst_event_seconds"] = peer_seconds
    return {"workload": figures, "limit": limit, "peer": peer}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit-records", type=int, default=1_000_000)
    parser.add_argument("--peer-rate", type=float, default=5000, help="burst events per second")
    parser.add_argument("--peer-seconds", type=float, default=60, help="burst length")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each limit job")
    parser.add_argument("--peer-deadline", type=float, default=600, help="give up after (s)")
    parser.add_argument("--peer-max-offsets", type=int, default=None, help="maxOffsetsPerTrigger")
    parser.add_argument(
        "--doc",
        type=Path,
        default=DOC,
        help="write the report here instead (its store beside it), e.g. for a small trial run",
    )
    args = parser.parse_args(argv)
    sections = bench_baseline(
        limit_records=args.limit_records,
        peer_rate=args.peer_rate,
        peer_seconds=args.peer_seconds,
        repeats=args.repeats,
        peer_deadline_s=args.peer_deadline,
        peer_max_offsets=args.peer_max_offsets,
    )
    given = argv if argv is not None else sys.argv[1:]
    command = shlex.join(["uv", "run", "python", "-m", "bench.baseline", *given])
    store = STORE if args.doc == DOC else args.doc.with_suffix(".json")
    record("baseline", sections, command=command, doc=args.doc, store=store)
    return 0 if sections["peer"]["exact"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
