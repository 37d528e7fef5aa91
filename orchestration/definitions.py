"""Dagster's entry point, built lazily: nothing is read or started when this module is imported.

So far the graph holds the Kafka topics and the stream-fed bronze table as external assets;
batch assets, checks and schedules join it as they are built (docs/architecture.md).
"""

from __future__ import annotations

import dagster as dg

from lakehouse.tables import BRONZE_EVENTS


def streaming_asset_specs() -> list[dg.AssetSpec]:
    """The assets the stream maintains outside Dagster: declared, so lineage is complete."""
    topics = dg.AssetSpec(
        key=dg.AssetKey(["kafka", "events"]),
        description="Domain events published by the services to the rapport.*.events topics.",
        group_name="streaming",
        kinds={"kafka"},
    )
    bronze = dg.AssetSpec(
        key=dg.AssetKey(BRONZE_EVENTS.qualified_name.split(".")),
        description=BRONZE_EVENTS.description,
        deps=[topics.key],
        group_name="streaming",
        kinds={"spark", "delta"},
        metadata={
            "table": BRONZE_EVENTS.qualified_name,
            "partitioned_by": ", ".join(BRONZE_EVENTS.partition_by),
            "written_by": "rapport stream (Spark Structured Streaming)",
        },
    )
    return [topics, bronze]


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=streaming_asset_specs())
