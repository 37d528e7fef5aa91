"""Spark schemas derived from the contracts: exact decimals, nested lines, nullability."""

from __future__ import annotations

import pytest
from pyspark.sql.types import (
    ArrayType,
    DecimalType,
    LongType,
    StringType,
    StructType,
    TimestampType,
)

from rapport.contracts.catalog import default_catalog
from rapport.contracts.spark_schema import UnsupportedSchemaError, payload_schema, spark_type

pytestmark = pytest.mark.unit


def test_orderplaced_lines_and_money() -> None:
    schema = payload_schema(default_catalog().latest("OrderPlaced"))
    assert schema["total"].dataType == DecimalType(17, 2)
    assert not schema["total"].nullable
    lines = schema["lines"].dataType
    assert isinstance(lines, ArrayType)
    line = lines.elementType
    assert isinstance(line, StructType)
    assert line["quantity"].dataType == LongType()
    assert line["unit_price"].dataType == DecimalType(17, 2)
    assert schema["coupon_code"].nullable  # optional in v2


def test_every_contract_has_a_spark_schema_with_comments_and_pii() -> None:
    for contract in default_catalog():
        schema = payload_schema(contract)
        assert schema.fieldNames() == list(contract.schema["properties"])
        for field in schema.fields:
            assert field.metadata["pii"] == (field.name in contract.pii_fields())


def test_formats_map_to_time_types() -> None:
    assert spark_type({"type": "string", "format": "date-time"}) == TimestampType()
    assert spark_type({"type": ["string", "null"]}) == StringType()


def test_unions_are_refused() -> None:
    with pytest.raises(UnsupportedSchemaError, match="no single Spark type"):
        spark_type({"type": ["string", "integer"]})
