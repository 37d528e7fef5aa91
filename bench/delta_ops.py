"""Delta operation floor: what one small append and one small read cost on this machine.

A refine batch writes about 20 Delta tables and reads about as many (dedup, gold recompute),
so these two figures bound how fast any batch can be, whatever the code around them does.
Run with `make bench` (or `uv run python -m bench.delta_ops`). It uses a warm JVM, no other
load, 4 writer threads (as the stream does), tables partitioned by date like silver's, and
reports the median per round after a warm-up, plus the round in which Delta writes its
periodic log checkpoint (every 10 commits by default) for all tables at once.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.results import publish
from rapport.settings import Settings


def bench_delta_ops(tables: int, rounds: int, threads: int, rows: int) -> dict[str, Any]:
    """Per round: one append to each of `tables` tables, then one filtered read of each."""
    from rapport.lakehouse.spark import get_spark

    settings = Settings(spark={"ui_enabled": False})
    spark = get_spark(settings, app_name="rapport-bench-delta", register_tables=False)
    root = tempfile.mkdtemp(prefix="rapport-bench-delta-")
    frame = spark.range(rows).selectExpr("id", "cast(id AS string) AS s", "current_date() AS d")

    def append(index: int, version: int) -> None:
        writer = frame.write.format("delta").mode("append").partitionBy("d")
        writer = writer.option("txnAppId", "bench").option("txnVersion", version)
        writer.save(f"{root}/t{index}")

    def read(index: int) -> int:
        table = spark.read.format("delta").load(f"{root}/t{index}")
        return table.where("d = current_date()").select("id").distinct().count()

    appends: list[float] = []
    reads: list[float] = []
    try:
        with ThreadPoolExecutor(threads) as pool:
            for version in range(rounds):
                began = time.monotonic()
                list(pool.map(lambda i, v=version: append(i, v), range(tables)))
                appended = time.monotonic()
                list(pool.map(read, range(tables)))
                appends.append(appended - began)
                reads.append(time.monotonic() - appended)
    finally:
        spark.stop()
        shutil.rmtree(root, ignore_errors=True)
    # Round 0 creates the tables and warms the JVM; round 10 writes Delta's log checkpoints.
    steady = [i for i in range(2, rounds) if i != 10]
    append_s = statistics.median(appends[i] for i in steady)
    read_s = statistics.median(reads[i] for i in steady)
    return {
        "tables": tables,
        "threads": threads,
        "rows_per_append": rows,
        "appends_per_round_s": round(append_s, 2),
        "reads_per_round_s": round(read_s, 2),
        "per_append_s": round(append_s / tables, 3),
        "per_read_s": round(read_s / tables, 3),
        "checkpoint_round_appends_s": round(appends[10], 2) if rounds > 10 else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tables", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rows", type=int, default=1000)
    args = parser.parse_args(argv)
    figures = bench_delta_ops(args.tables, args.rounds, args.threads, args.rows)
    publish("delta_ops", {"delta_ops": figures})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
