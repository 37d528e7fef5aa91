"""Where a table lives, by name alone: light enough for readers that must start in milliseconds.

`rapport.lakehouse.tables` defines the tables (and imports Spark's types); this module only
knows the layers and the path rule both it and the JVM-free readers (embedded SQL, dashboard) use.
"""

from __future__ import annotations

from rapport.settings import Settings

#: Schemas (namespaces) of the catalog, in the order data flows through them; `ref` holds
#: reference data loaded from files (exchange rates), beside the flow.
LAYERS = ("bronze", "silver", "gold", "ops", "ref")


def table_location(settings: Settings, layer: str, name: str) -> str:
    """The storage location of table `layer.name` under the configured lakehouse root."""
    return f"{settings.lakehouse}/{layer}/{name}"


def delta_uri(location: str) -> str:
    """delta-rs names Hadoop's s3a:// scheme s3://."""
    return "s3://" + location[len("s3a://") :] if location.startswith("s3a://") else location
