"""ops.stream_batches rows: how far each streaming query got, written with delta-rs in milliseconds.

Both the gold query and the silver (refine) query append one row per micro-batch; the app id
says which query it was (`rapport-<query>-<query id>`). Freshness SLAs, `rapport stream
status` and the alerts read the newest row of each query from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from rapport.lakehouse import delta_rs
from rapport.lakehouse.delta_rs import Txn
from rapport.lakehouse.tables import OPS_STREAM_BATCHES
from rapport.settings import Settings

Position = tuple[str, int]


def app_id(query: str, query_id: str) -> str:
    """The Delta transaction app id (and ops row id) of a streaming query."""
    return f"rapport-{query}-{query_id}"


def query_of(app: str | None) -> str | None:
    """The query name inside an app id (None for a batch load's or an unknown id)."""
    if not app or not app.startswith("rapport-"):
        return None
    return app[len("rapport-") :].rsplit("-", 5)[0]


def kafka_lag(
    ends: Mapping[Position, int], processed: Mapping[Position, int]
) -> list[dict[str, Any]]:
    """Per partition: Kafka's end offset, the next offset the query will read, the difference."""
    return [
        {
            "topic": topic,
            "partition": partition,
            "end_offset": end,
            "processed_offset": processed.get((topic, partition)),
            "lag": max(0, end - processed.get((topic, partition), 0)),
        }
        for (topic, partition), end in sorted(ends.items())
    ]


def batch_row(
    *,
    app: str,
    batch_id: int,
    finished: datetime,
    duration_s: float,
    counts: Mapping[str, int],
    rows_written: Mapping[str, int],
    max_event_time: datetime | None,
    watermark: datetime | None,
    lag: list[dict[str, Any]],
    bronze_rates: tuple[float | None, float | None] = (None, None),
) -> dict[str, Any]:
    """One ops.stream_batches row (`counts`: input, valid, quarantined, duplicate, late rows)."""
    inputs = counts.get("input_rows", 0)
    return {
        "app_id": app,
        "batch_id": batch_id,
        "started_at": finished - timedelta(seconds=duration_s),
        "finished_at": finished,
        "duration_ms": int(duration_s * 1000),
        "input_rows": inputs,
        "valid_rows": counts.get("valid_rows", 0),
        "quarantined_rows": counts.get("quarantined_rows", 0),
        "duplicate_rows": counts.get("duplicate_rows", 0),
        "late_rows": counts.get("late_rows", 0),
        "processed_rows_per_s": round(inputs / duration_s, 1) if duration_s else 0.0,
        "bronze_input_rows_per_s": bronze_rates[0],
        "bronze_processed_rows_per_s": bronze_rates[1],
        "rows_written": dict(rows_written),
        "max_event_time": max_event_time,
        "watermark": watermark,
        "kafka_lag": lag,
        "total_lag": sum(p["lag"] for p in lag),
        "batch_date": finished.date(),
    }


def write_batch_row(settings: Settings, row: dict[str, Any]) -> bool:
    """Append the row once per (app id, batch id): a replayed batch does not add a second."""
    import pyarrow as pa

    rows = pa.Table.from_pylist([row], schema=delta_rs.arrow_schema(OPS_STREAM_BATCHES))
    return delta_rs.append(
        settings, OPS_STREAM_BATCHES, rows, Txn(str(row["app_id"]), int(row["batch_id"]))
    )


def summary(row: Mapping[str, Any]) -> dict[str, Any]:
    """The row as JSON-ready values, for the status file."""
    return {
        k: (v.isoformat() if isinstance(v, datetime) else v)
        for k, v in row.items()
        if k != "batch_date"
    }
