"""Registers the table catalog (`rapport.lakehouse.tables`) in a SparkSession by layer.

The layers are the databases bronze, silver, gold and ops.

Spark's built-in metastore is per process here (in-memory), so each session registers the
same names at start: the Delta log on storage is the shared truth, the catalog is a view of
it. See docs/decisions/0002-catalog.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from rapport.lakehouse.layout import LAYERS
from rapport.lakehouse.tables import TABLES, TableDef
from rapport.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def ensure_table(
    spark: SparkSession, settings: Settings, table: TableDef, *, register_name: bool = True
) -> None:
    """Create the Delta table at its location if absent, and register its name either way.

    `register_name=False` creates it by path only: for a second lakehouse in one session
    (tests), whose tables must not take the catalog's names.
    """
    from delta.tables import DeltaTable

    builder = DeltaTable.createIfNotExists(spark)
    if register_name:
        builder = builder.tableName(table.qualified_name)
    builder = builder.location(table.location(settings)).addColumns(table.schema)
    builder = builder.comment(table.description)
    if table.partition_by:
        builder = builder.partitionedBy(*table.partition_by)
    for key, value in table.all_properties.items():
        builder = builder.property(key, value)
    try:
        builder.execute()
    except Exception:
        # Another process created it a moment earlier (the stream and the SQL server start
        # together on a fresh lakehouse): Delta refuses the second first commit. The table
        # now exists, and creating it if not exists only registers its name.
        if not DeltaTable.isDeltaTable(spark, table.location(settings)):
            raise
        builder.execute()


def register_tables(
    spark: SparkSession, settings: Settings, tables: Iterable[TableDef] = TABLES
) -> None:
    """Create the schemas and every table of the catalog; cheap and idempotent."""
    for layer in LAYERS:
        location = f"{settings.lakehouse}/{layer}"
        spark.sql(f"CREATE SCHEMA IF NOT EXISTS {layer} LOCATION {_quote(location)}")
    for table in tables:
        ensure_table(spark, settings, table)
