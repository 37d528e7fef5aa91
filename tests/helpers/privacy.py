"""Where personal values may be: raw in bronze (and quarantine), pseudonymised elsewhere."""

from __future__ import annotations

from typing import Any

from pyspark.sql import functions as F
from pyspark.sql.types import StringType

from jobs.gdpr import personal_specs
from rapport.contracts.catalog import default_catalog
from rapport.contracts.privacy import PREFIX, personal_values, pseudonym
from rapport.lakehouse.tables import BRONZE_EVENTS, SILVER_CUSTOMERS, SILVER_TABLES
from rapport.settings import Settings


def raw_personal_values(spark: Any, settings: Settings) -> set[str]:
    """Every personal value sent in the events bronze holds (by the contracts' marks)."""
    specs = personal_specs(default_catalog())
    bronze = spark.read.format("delta").load(BRONZE_EVENTS.location(settings))
    found: set[str] = set()
    for row in bronze.where(F.col("event_type").isin(list(specs))).select("value").collect():
        found |= personal_values(row.value, specs)
    return found


def assert_personal_values_pseudonymised(spark: Any, settings: Settings) -> None:
    """silver.customers holds each personal value's pseudonym; no silver table fed by such
    events holds a raw one in any text column. (Gold's columns come from no personal field:
    tests/rapport/lakehouse/test_tables.py.)"""
    raw = raw_personal_values(spark, settings)
    assert raw, "the events should have carried personal data"
    key = settings.pseudonym_key().get_secret_value().encode()
    pseudonyms = {pseudonym(key, value) for value in raw}
    customers = spark.read.format("delta").load(SILVER_CUSTOMERS.location(settings))
    held = {
        value
        for row in customers.select("email", "name").collect()
        for value in row
        if value is not None
    }
    assert held, "silver.customers should hold pseudonyms"
    assert all(value.startswith(PREFIX) for value in held)
    assert held <= pseudonyms
    # Every silver table fed by an event type with personal fields: none holds a raw value.
    for table in SILVER_TABLES:
        if not set(table.sources) & PERSONAL_TYPES:
            continue
        texts = [f.name for f in table.schema.fields if isinstance(f.dataType, StringType)]
        frame = spark.read.format("delta").load(table.location(settings)).select(*texts)
        leaked = {v for row in frame.collect() for v in row if v in raw}
        assert not leaked, f"{table.qualified_name} holds raw personal values: {sorted(leaked)[:3]}"


#: Event types (short names) whose contracts mark a field personal.
PERSONAL_TYPES = {c.event_type for c in default_catalog() if c.pii_fields()}
