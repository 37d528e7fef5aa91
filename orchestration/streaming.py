"""The stream's tables as external assets, observed by a sensor: size, freshness, health.

The stream (`rapport stream start`) writes bronze, silver, gold and ops outside Dagster. They
join the graph as external assets; the `observe_stream` sensor reports an observation of each
every minute without a JVM and without a run (a run per minute would fill the Runs page with
1,440 runs a day): each table's Delta log (through delta-rs) gives its version, last commit
and row count, and the newest row of ops.stream_batches gives the stream's watermark, lag
and rates.
"""

from datetime import UTC, datetime
from typing import Any

import dagster as dg

from orchestration.freshness import freshness_policy
from orchestration.resources import RapportResource
from quality.slas import Slas
from rapport.lakehouse.delta_log import last_stream_batch, observe_table
from rapport.lakehouse.tables import (
    BRONZE_EVENTS,
    BRONZE_QUARANTINE,
    GOLD_TABLES,
    OPS_LATE_EVENTS,
    OPS_STREAM_BATCHES,
    SILVER_TABLES,
    UPSTREAM,
    TableDef,
)
from rapport.settings import Settings

#: The tables the stream writes, observed rather than materialized by Dagster.
STREAM_TABLES: tuple[TableDef, ...] = (
    BRONZE_EVENTS,
    BRONZE_QUARANTINE,
    *SILVER_TABLES,
    *GOLD_TABLES,
    OPS_STREAM_BATCHES,
    OPS_LATE_EVENTS,
)

KAFKA_KEY = dg.AssetKey(["kafka", "events"])


def table_key(table: TableDef | str) -> dg.AssetKey:
    """The asset key of a table: its catalog name, e.g. gold/sales_by_day."""
    name = table if isinstance(table, str) else table.qualified_name
    return dg.AssetKey(name.split("."))


def _deps(table: TableDef) -> list[dg.AssetKey]:
    if table is BRONZE_EVENTS:
        return [KAFKA_KEY]
    return [table_key(name) for name in UPSTREAM.get(table.qualified_name, ())]


def stream_table_specs(slas: Slas | None = None) -> list[dg.AssetSpec]:
    return [
        dg.AssetSpec(
            key=table_key(table),
            description=table.description,
            deps=_deps(table),
            group_name="streaming",
            kinds={"delta"},
            freshness_policy=freshness_policy(slas, table) if slas else None,
            metadata={
                "table": table.qualified_name,
                "partitioned_by": ", ".join(table.partition_by) or "-",
                "keys": ", ".join(table.keys) or "-",
                "written_by": "rapport stream (Spark Structured Streaming)",
            },
        )
        for table in STREAM_TABLES
    ]


def kafka_spec() -> dg.AssetSpec:
    return dg.AssetSpec(
        key=KAFKA_KEY,
        description="Domain events published by the services to the rapport.*.events topics.",
        group_name="streaming",
        kinds={"kafka"},
    )


def _stream_metadata(batch: dict[str, Any] | None, now: datetime) -> dict[str, Any]:
    if batch is None:
        return {"stream_last_batch": "none in the last two days"}
    finished = batch["finished_at"].replace(tzinfo=UTC)
    newest = batch["max_event_time"]
    meta: dict[str, Any] = {
        "stream_last_batch_at": finished.isoformat(),
        "stream_last_batch_age_s": round((now - finished).total_seconds(), 1),
        "stream_kafka_lag": int(batch["total_lag"] or 0),
        "stream_processed_rows_per_s": float(batch["processed_rows_per_s"] or 0),
        "stream_input_rows_per_s": float(batch["bronze_input_rows_per_s"] or 0),
        "stream_batch_ms": int(batch["duration_ms"] or 0),
    }
    if newest is not None:
        meta["newest_event_time"] = newest.replace(tzinfo=UTC).isoformat()
    if batch["watermark"] is not None:
        meta["watermark"] = batch["watermark"].replace(tzinfo=UTC).isoformat()
    return meta


#: The tag that carries an observation's data version (Dagster's own name for it).
DATA_VERSION_TAG = "dagster/data_version"


def observations(settings: Settings, now: datetime | None = None) -> list[dg.AssetObservation]:
    """One observation per stream table (absent tables are reported as such)."""
    now = now or datetime.now(UTC)
    stream = _stream_metadata(last_stream_batch(settings, now.date()), now)
    results = []
    for table in STREAM_TABLES:
        found = observe_table(settings, table)
        if found is None:
            results.append(
                dg.AssetObservation(asset_key=table_key(table), metadata={"exists": False})
            )
            continue
        metadata: dict[str, Any] = {
            "exists": True,
            "dagster/row_count": found["rows"],
            "files": found["files"],
            "delta_version": found["version"],
            **stream,
        }
        if found["last_commit"] is not None:
            metadata["last_commit"] = found["last_commit"].isoformat()
            metadata["last_commit_age_s"] = round((now - found["last_commit"]).total_seconds(), 1)
        results.append(
            dg.AssetObservation(
                asset_key=table_key(table),
                metadata=metadata,
                tags={DATA_VERSION_TAG: str(found["version"])},
            )
        )
    return results


def observation_sensor(interval_s: int = 60) -> dg.SensorDefinition:
    """Every `interval_s`, one observation per stream table, reported without a run."""

    @dg.sensor(
        name="observe_stream",
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Reads each stream table's Delta log and the stream's newest batch, and "
        "reports them as observations (rows, version, last commit, lag); starts no run.",
    )
    def observe_stream(rapport: RapportResource) -> dg.SensorResult:
        return dg.SensorResult(asset_events=list(observations(rapport.settings())))

    return observe_stream
