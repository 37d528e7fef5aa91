"""How fast `rapport sql` answers over a gold table, as a user runs it (a new process each time).

A year of daily sales rows is written as a Delta table with delta-rs (no Spark needed to
measure reading), then the CLI is run several times; the figure that matters is the wall
time of the whole command, interpreter start included, against the "well under a second"
the embedded SQL promises. In-process query latency is reported beside it.

    uv run python -m bench.sql [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from bench.results import publish
from rapport.settings import PROJECT_ROOT, Settings

QUERY = "SELECT event_date, orders, order_value FROM gold.sales_by_day ORDER BY event_date DESC"


def _write_gold(settings: Settings, days: int) -> None:
    import pyarrow as pa
    from deltalake import write_deltalake

    first = date(2026, 1, 1)
    rows = pa.table(
        {
            "event_date": [first + timedelta(days=i) for i in range(days)],
            "orders": [1000 + i for i in range(days)],
            "order_value": [12345.5 + i for i in range(days)],
        }
    )
    # One commit per day, as the stream's batches make many small versions.
    location = f"{settings.lakehouse}/gold/sales_by_day"
    for i in range(days):
        write_deltalake(location, rows.slice(i, 1), mode="append")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rapport-bench-sql-") as tmp:
        settings = Settings(state_dir=Path(tmp))
        _write_gold(settings, args.days)
        env = {**os.environ, "RAPPORT_STATE_DIR": tmp}
        walls = []
        for _ in range(args.runs):
            started = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "rapport.cli.main", "sql", QUERY, "--limit", "30"],
                env=env,
                cwd=PROJECT_ROOT,
                capture_output=True,
                text=True,
                check=True,
            )
            walls.append(time.perf_counter() - started)
            assert "event_date" in done.stdout
        from serving.sql import EmbeddedSql

        engine = EmbeddedSql(settings)
        latencies = []
        for _ in range(args.runs):
            started = time.perf_counter()
            engine.query(QUERY, limit=30)
            latencies.append(time.perf_counter() - started)
        engine.close()
    publish(
        "sql",
        {
            "rapport_sql_wall_s": {
                "median": round(statistics.median(walls), 3),
                "max": round(max(walls), 3),
                "runs": args.runs,
                "table_versions": args.days + 0,
            },
            "in_process_query_s": {
                "median": round(statistics.median(latencies), 4),
                "max": round(max(latencies), 4),
            },
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
