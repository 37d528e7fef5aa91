"""Reading Delta tables without a JVM (delta-rs): what every minute's checks can afford.

Dagster's observations, the late-data sensor, the freshness SLAs and the alerts read table
versions and the stream's newest ops row here, in milliseconds, instead of starting Spark.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from rapport.lakehouse.layout import existing_delta
from rapport.lakehouse.ownership import REFINE_QUERY
from rapport.lakehouse.tables import OPS_STREAM_BATCHES, TableDef
from rapport.settings import Settings


def observe_table(settings: Settings, table: TableDef) -> dict[str, Any] | None:
    """Version, last commit time, files and rows of a table from its Delta log; None if absent."""
    delta = existing_delta(table.location(settings))
    if delta is None:
        return None
    actions = delta.get_add_actions(flatten=True)
    column = actions.column("num_records") if actions.num_rows else None
    records: list[Any] = list(column.to_pylist()) if column is not None else []
    history = delta.history(1)
    committed_ms = history[0].get("timestamp") if history else None
    return {
        "version": delta.version(),
        "files": actions.num_rows,
        "rows": sum(n or 0 for n in records),
        "last_commit": datetime.fromtimestamp(committed_ms / 1000, UTC) if committed_ms else None,
    }


def last_stream_batch(
    settings: Settings, today: date | None = None, query: str = REFINE_QUERY
) -> dict[str, Any] | None:
    """The newest ops.stream_batches row of streaming query `query` in the last two days."""
    today = today or datetime.now(UTC).date()
    delta = existing_delta(OPS_STREAM_BATCHES.location(settings))
    if delta is None:
        return None
    since = today - timedelta(days=1)
    rows = delta.to_pyarrow_table(
        filters=[("batch_date", ">=", since)],
        columns=[
            "app_id",
            "kafka_lag",
            "finished_at",
            "max_event_time",
            "watermark",
            "total_lag",
            "processed_rows_per_s",
            "bronze_input_rows_per_s",
            "duration_ms",
        ],
    ).to_pylist()
    mine = [r for r in rows if str(r["app_id"]).startswith(f"rapport-{query}-")]
    return max(mine, key=lambda r: r["finished_at"]) if mine else None
