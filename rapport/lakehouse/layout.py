"""Where a table lives, by name alone: light enough for readers that must start in milliseconds.

`rapport.lakehouse.tables` defines the tables (and imports Spark's types); this module only
knows the layers and the path rule both it and the JVM-free readers (embedded SQL, dashboard) use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rapport.settings import Settings

if TYPE_CHECKING:
    from deltalake import DeltaTable

#: Schemas (namespaces) of the catalog, in the order data flows through them; `ref` holds
#: reference data loaded from files (exchange rates), beside the flow.
LAYERS = ("bronze", "silver", "gold", "ops", "ref")


def table_location(settings: Settings, layer: str, name: str) -> str:
    """The storage location of table `layer.name` under the configured lakehouse root."""
    return f"{settings.lakehouse}/{layer}/{name}"


def delta_uri(location: str) -> str:
    """delta-rs names Hadoop's s3a:// scheme s3://."""
    return "s3://" + location[len("s3a://") :] if location.startswith("s3a://") else location


def existing_delta(location: str) -> DeltaTable | None:
    """The Delta table at `location`, opened with delta-rs (no JVM); None while there is none.

    The one place that opens a table for the JVM-free readers: observations, sensors, SLAs,
    the quality history and the embedded SQL all treat "not written yet" the same way.
    """
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        return DeltaTable(delta_uri(location))
    except TableNotFoundError:
        return None
