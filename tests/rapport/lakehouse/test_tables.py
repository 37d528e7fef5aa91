"""The table catalog: definitions validate themselves and are found by name."""

from __future__ import annotations

import pytest
from pyspark.sql.types import StringType, StructField, StructType

from rapport.lakehouse.tables import BRONZE_EVENTS, TABLES, TableDef, table
from rapport.settings import Settings

pytestmark = pytest.mark.unit


def test_every_table_is_in_a_known_layer_and_unique() -> None:
    names = [t.qualified_name for t in TABLES]
    assert len(names) == len(set(names))
    assert table("bronze.events") is BRONZE_EVENTS


def test_unknown_table_error_lists_known_ones() -> None:
    with pytest.raises(KeyError, match=r"bronze\.events"):
        table("gold.nope")


def test_partition_column_must_exist() -> None:
    with pytest.raises(ValueError, match="partition columns"):
        TableDef("silver", "x", StructType([StructField("a", StringType())]), "d", ("b",))


def test_unknown_layer_rejected() -> None:
    with pytest.raises(ValueError, match="unknown layer"):
        TableDef("platinum", "x", StructType([]), "d")


def test_locations_follow_the_lakehouse_root() -> None:
    s = Settings(lakehouse_root="s3a://lake/r", checkpoint_root="s3a://lake/cp")
    assert BRONZE_EVENTS.location(s) == "s3a://lake/r/bronze/events"
    assert BRONZE_EVENTS.checkpoint(s, "q") == "s3a://lake/cp/bronze/events/q"


def test_bronze_keeps_every_kafka_coordinate_and_is_append_only() -> None:
    cols = set(BRONZE_EVENTS.schema.fieldNames())
    assert {
        "key",
        "value",
        "headers",
        "topic",
        "partition",
        "offset",
        "kafka_timestamp",
        "ingest_time",
    } <= cols
    assert BRONZE_EVENTS.all_properties["delta.appendOnly"] == "true"
    assert BRONZE_EVENTS.all_properties["delta.enableDeletionVectors"] == "false"


def test_silver_schemas_follow_the_contracts() -> None:
    from rapport.contracts.catalog import default_catalog
    from rapport.contracts.spark_schema import payload_schema
    from rapport.lakehouse.tables import SILVER_INVOICES, SILVER_ORDERS, SILVER_TABLES

    invoice = payload_schema(default_catalog().latest("InvoiceIssued"))
    for column in invoice.fields:
        assert SILVER_INVOICES.schema[column.name].dataType == column.dataType
    # coupon_code exists only from OrderPlaced v2 on: nullable in silver
    assert SILVER_ORDERS.schema["coupon_code"].nullable
    assert "lines" not in SILVER_ORDERS.schema.fieldNames()
    for silver in SILVER_TABLES:
        assert silver.keys, silver.qualified_name
        assert silver.sources, silver.qualified_name


def test_no_not_null_inside_arrays_or_maps() -> None:
    """Delta refuses NOT NULL nested in arrays and maps at table creation."""
    from pyspark.sql.types import ArrayType, MapType, StructType

    def nested_not_null(kind: object, inside: bool) -> bool:
        if isinstance(kind, StructType):
            return any(
                (inside and not f.nullable) or nested_not_null(f.dataType, inside)
                for f in kind.fields
            )
        if isinstance(kind, ArrayType):
            return (not kind.containsNull) or nested_not_null(kind.elementType, True)
        if isinstance(kind, MapType):
            return (not kind.valueContainsNull) or nested_not_null(kind.valueType, True)
        return False

    for t in TABLES:
        assert not nested_not_null(t.schema, False), t.qualified_name


def test_personal_fields_reach_only_silver_customers() -> None:
    """Only silver.customers takes the fields the contracts mark personal (as pseudonyms,
    docs/security.md); no other silver, gold or ops table has a column marked so."""
    from rapport.lakehouse.tables import SILVER_CUSTOMERS, TABLES

    marked = {
        table.qualified_name: sorted(f.name for f in table.schema.fields if f.metadata.get("pii"))
        for table in TABLES
        if table.layer != "bronze"
    }
    assert {name: fields for name, fields in marked.items() if fields} == {
        SILVER_CUSTOMERS.qualified_name: ["email", "name"]
    }
