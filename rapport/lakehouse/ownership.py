"""Who writes each table: one engine per table, and the streaming query that keeps it fresh.

Two engines write Delta here: Spark (bronze, silver, the daily aggregates) and delta-rs from
the driver (the hot gold tables and the stream's metrics, milliseconds per commit). Two
engines committing to one table on local storage can overwrite each other's commit, so each
table has exactly one (docs/decisions/0011-hot-path.md).
"""

from __future__ import annotations

#: The streaming queries, by name (their app ids are `rapport-<name>-<query id>`).
BRONZE_QUERY = "bronze_events"
GOLD_QUERY = "gold_events"
REFINE_QUERY = "refine_events"

#: Gold tables the hot query keeps, straight from Kafka, through delta-rs.
HOT_TABLES = (
    "gold.orders_per_minute",
    "gold.sales_by_day",
    "gold.signups_per_hour",
    "gold.inventory_current",
    "gold.low_stock",
)

#: Every table delta-rs writes; Spark writes all the others (and only reads these).
DELTA_RS_TABLES = (*HOT_TABLES, "ops.stream_batches")


def feeding_query(qualified_name: str) -> str:
    """The streaming query whose progress says how fresh a table is."""
    if qualified_name in HOT_TABLES:
        return GOLD_QUERY
    if qualified_name.startswith("bronze.events"):
        return BRONZE_QUERY
    return REFINE_QUERY


def writer_engine(qualified_name: str) -> str:
    """'delta-rs' or 'spark'."""
    return "delta-rs" if qualified_name in DELTA_RS_TABLES else "spark"
