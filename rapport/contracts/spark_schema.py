"""Spark schemas derived from the contracts, so typed tables never drift from the events."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DataType,
    DateType,
    DecimalType,
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from rapport.contracts.catalog import EventContract

_DECIMAL = re.compile(r"^decimal\((\d+),(\d+)\)$")


class UnsupportedSchemaError(ValueError):
    """A JSON Schema construct with no single Spark type (e.g. a union of object and string)."""


def spark_type(spec: Mapping[str, Any], path: str = "#") -> DataType:
    """The Spark type of one JSON Schema node. Money strings become exact decimals."""
    hint = spec.get("x-rapport-type")
    if hint:
        match = _DECIMAL.match(str(hint))
        if not match:
            raise UnsupportedSchemaError(f"{path}: unknown x-rapport-type {hint!r}")
        return DecimalType(int(match[1]), int(match[2]))
    kind = spec.get("type")
    if isinstance(kind, list):
        non_null = [k for k in kind if k != "null"]
        if len(non_null) != 1:
            raise UnsupportedSchemaError(f"{path}: type union {kind} has no single Spark type")
        kind = non_null[0]
    if kind == "object":
        return struct_type(spec, path)
    if kind == "array":
        return ArrayType(spark_type(spec.get("items", {}), f"{path}/items"), True)
    if kind == "string":
        return {"date-time": TimestampType(), "date": DateType()}.get(
            spec.get("format", ""), StringType()
        )
    simple: dict[str, DataType] = {
        "integer": LongType(),
        "number": DoubleType(),
        "boolean": BooleanType(),
    }
    if kind in simple:
        return simple[kind]
    raise UnsupportedSchemaError(f"{path}: no Spark type for {spec!r}")


def struct_type(spec: Mapping[str, Any], path: str = "#") -> StructType:
    """Object properties in declaration order; a field is nullable unless required."""
    required = set(spec.get("required", []))
    return StructType(
        [
            StructField(
                name,
                spark_type(prop, f"{path}/properties/{name}"),
                nullable=name not in required,
                metadata={"comment": prop.get("description", ""), "pii": bool(prop.get("x-pii"))},
            )
            for name, prop in spec.get("properties", {}).items()
        ]
    )


def payload_schema(contract: EventContract) -> StructType:
    """The Spark schema of one contract version's `data`."""
    return struct_type(contract.schema, f"{contract.event_type}.v{contract.version}")
