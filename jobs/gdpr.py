"""Erase one customer's personal data wherever a table can still show it (`rapport gdpr erase`).

Silver holds only pseudonyms of personal values (`rapport.contracts.privacy`); the raw values
are in bronze.events and bronze.quarantine, and a quarantine or replay reason may quote one.
An erasure:

1. finds the values: the customer's events of a type with personal fields (their
   `customer_id`), and quarantined records that name the customer or hold such a value;
2. waits until the stream has refined bronze up to the version it read, because a bronze
   file the stream has not read yet must not be rewritten under it;
3. rewrites those records with stand-ins that still satisfy their contract (bronze stays
   replayable, and a replay gives the same figures), scrubs the reasons, and gives the
   customer's silver row the pseudonyms of the stand-ins;
4. purges the old versions of every table it rewrote: REORG ... APPLY (PURGE) where deletion
   vectors are on, then VACUUM down to `privacy.purge_after_s`, so that time travel cannot
   bring a value back;
5. records what it did in ops.erasures.

Gold holds counts, never a personal value, so no figure changes. Kafka keeps the raw records
until the topics' retention passes; docs/security.md says what that means.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F

from jobs.maintenance import latest_version, vacuum
from rapport.contracts.catalog import ContractCatalog, load_catalog
from rapport.contracts.privacy import (
    CUSTOMER_FIELD,
    PersonalSpecs,
    erased_record,
    erased_value,
    personal_values,
    pseudonym,
    scrub,
)
from rapport.lakehouse.delta_insert import retry_conflicts
from rapport.lakehouse.tables import (
    BRONZE_EVENTS,
    BRONZE_QUARANTINE,
    DAILY_TABLES,
    GOLD_TABLES,
    OPS_ERASURES,
    OPS_QUARANTINE_REPLAYS,
    SILVER_TABLES,
    TableDef,
)
from rapport.settings import Settings
from streaming.refine import refined_bronze_version

if TYPE_CHECKING:
    from pyspark.sql import Column, Row, SparkSession

log = logging.getLogger("rapport.gdpr")

#: Bronze's audit-trail guard (BRONZE_EVENTS.properties), lifted for the rewrite only.
APPEND_ONLY = "delta.appendOnly"


class ErasureError(RuntimeError):
    """The erasure could not run now; the message says why and what to do."""


@dataclass(frozen=True)
class Erasure:
    """What one erasure rewrote and purged (one row of ops.erasures)."""

    erasure_id: str
    customer_id: str
    bronze_rows: int
    quarantine_rows: int
    silver_rows: int
    replay_rows: int
    purged_tables: tuple[str, ...]
    requested_at: datetime
    finished_at: datetime


def personal_specs(catalog: ContractCatalog) -> dict[str, dict[str, Mapping[str, Any]]]:
    """Per CloudEvents type: its personal fields (any version) and their JSON Schemas."""
    specs: dict[str, dict[str, Mapping[str, Any]]] = {}
    for contract in catalog:
        properties = contract.schema.get("properties", {})
        for name in contract.pii_fields():
            specs.setdefault(contract.subject, {})[name] = properties[name]
    return specs


def _text(column: str) -> Column:
    return F.col(column).cast("string")


def _holds_any(column: str, values: Iterable[str]) -> Column:
    """True where the column's text contains one of the values."""
    condition = F.lit(False)
    for value in values:
        condition = condition | (F.instr(_text(column), value) > 0)
    return condition


def _names_customer(customer_id: str) -> Column:
    return F.get_json_object(_text("value"), f"$.data.{CUSTOMER_FIELD}") == customer_id


def _wait_for_refine(spark: SparkSession, settings: Settings, version: int) -> None:
    """Return once the refine query has read bronze through `version` (or never ran)."""
    deadline = time.monotonic() + settings.privacy.erase_wait_s
    while True:
        refined = refined_bronze_version(spark, settings)
        if refined is None or refined > version:
            return
        if time.monotonic() > deadline:
            raise ErasureError(
                f"the stream has refined bronze.events up to version {refined - 1}, not yet "
                f"{version}, which holds this customer's records; nothing was changed. Start "
                "the stream (`rapport stream start`) or let it catch up, then run the erase "
                "again (privacy.erase_wait_s sets how long it waits)."
            )
        time.sleep(1.0)


def _rewrite(
    spark: SparkSession, table: TableDef, settings: Settings, rows: list[dict[str, Any]]
) -> int:
    """Replace the columns in `rows` of the rows at their keys (the table's keys plus its
    partition column, for pruning); returns how many rows changed."""
    if not rows:
        return 0
    from delta.tables import DeltaTable

    keys = [*table.keys, *table.partition_by]
    columns = [c for c in rows[0] if c not in keys]
    schema = [f for f in table.schema.fields if f.name in keys or f.name in columns]
    from pyspark.sql.types import StructType

    source = spark.createDataFrame(
        [tuple(row[f.name] for f in schema) for row in rows], StructType(schema)
    )
    location = table.location(settings)
    condition = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)

    def merge() -> None:
        (
            DeltaTable.forPath(spark, location)
            .alias("t")
            .merge(source.alias("s"), condition)
            .whenMatchedUpdate(set={c: f"s.`{c}`" for c in columns})
            .execute()
        )

    retry_conflicts(table.qualified_name, merge)
    return len(rows)


def _set_property(spark: SparkSession, location: str, key: str, value: str) -> None:
    def alter() -> None:
        spark.sql(f"ALTER TABLE delta.`{location}` SET TBLPROPERTIES ('{key}' = '{value}')")

    retry_conflicts(location, alter)


def _rewrite_bronze(spark: SparkSession, settings: Settings, rows: list[dict[str, Any]]) -> int:
    """The bronze rewrite, with bronze's append-only guard lifted for it alone."""
    if not rows:
        return 0
    location = BRONZE_EVENTS.location(settings)
    guarded = BRONZE_EVENTS.all_properties.get(APPEND_ONLY) == "true"
    if guarded:
        _set_property(spark, location, APPEND_ONLY, "false")
    try:
        return _rewrite(spark, BRONZE_EVENTS, settings, rows)
    finally:
        if guarded:
            _set_property(spark, location, APPEND_ONLY, "true")


def _personal_tables() -> list[tuple[TableDef, list[str]]]:
    """Silver and gold tables with columns the contracts mark personal, keyed by customer."""
    found = []
    for table in (*SILVER_TABLES, *GOLD_TABLES, *DAILY_TABLES):
        names = table.schema.fieldNames()
        personal = [f.name for f in table.schema.fields if f.metadata.get("pii")]
        if personal and CUSTOMER_FIELD in names:
            found.append((table, personal))
    return found


def _erase_pseudonyms(
    spark: SparkSession, settings: Settings, customer_id: str, specs: PersonalSpecs
) -> tuple[int, list[TableDef]]:
    """The customer's silver (and gold) rows get the pseudonyms of the stand-ins."""
    key = settings.pseudonym_key().get_secret_value().encode()
    field_specs = {name: spec for fields in specs.values() for name, spec in fields.items()}
    changed, touched = 0, []
    for table, columns in _personal_tables():
        stand_ins = {c: pseudonym(key, erased_value(field_specs.get(c, {}))) for c in columns}
        # The customer id and the stand-ins' pseudonyms, not personal values, are all the
        # predicate holds (and the Delta log keeps).
        differs = F.lit(False)
        for column, stand_in in stand_ins.items():
            differs = differs | ~F.col(column).eqNullSafe(F.lit(stand_in))
        condition = (F.col(CUSTOMER_FIELD) == F.lit(customer_id)) & differs
        location = table.location(settings)

        def update(
            condition: Column = condition,
            stand_ins: dict[str, str] = stand_ins,
            location: str = location,
        ) -> int:
            from delta.tables import DeltaTable

            found = spark.read.format("delta").load(location).where(condition).count()
            if found:
                DeltaTable.forPath(spark, location).update(
                    condition, {c: F.lit(v) for c, v in stand_ins.items()}
                )
            return int(found)

        rows = retry_conflicts(table.qualified_name, update)
        if rows:
            changed += rows
            touched.append(table)
    return changed, touched


def _scrub_replays(spark: SparkSession, settings: Settings, known: set[str]) -> int:
    """Reasons in the replay log that quote a personal value lose it. By key, like every
    rewrite here: a predicate naming the values would keep them in the Delta log."""
    if not known:
        return 0
    location = OPS_QUARANTINE_REPLAYS.location(settings)
    columns = ("reason", "original_reason")
    holding = F.lit(False)
    for column in columns:
        holding = holding | _holds_any(column, known)
    found = spark.read.format("delta").load(location).where(holding).collect()
    rows = _changed(
        found,
        OPS_QUARANTINE_REPLAYS,
        {c: (lambda r, c=c: scrub(r[c], known) if r[c] is not None else None) for c in columns},
    )
    return _rewrite(spark, OPS_QUARANTINE_REPLAYS, settings, rows)


def _purge(spark: SparkSession, settings: Settings, tables: list[TableDef], since: float) -> None:
    """No old version of `tables` may still show a value: deletion vectors applied, then
    every file no longer current removed once it is `purge_after_s` old."""
    from delta.tables import DeltaTable

    for table in tables:
        location = table.location(settings)
        detail = DeltaTable.forPath(spark, location).detail().first()
        if detail is not None and detail["properties"].get("delta.enableDeletionVectors") == "true":
            statement = f"REORG TABLE delta.`{location}` APPLY (PURGE)"

            def reorg(statement: str = statement) -> None:
                spark.sql(statement).collect()  # a command runs when spark.sql is called

            retry_conflicts(table.qualified_name, reorg)
    # The rewrite's old files become deletable purge_after_s after it: no sooner, because a
    # younger file may be a running writer's, not yet committed.
    time.sleep(max(0.0, since + settings.privacy.purge_after_s + 1.0 - time.time()))
    vacuum(spark, settings, tables, settings.privacy.purge_after_s / 3600, force=True)


def _record(spark: SparkSession, settings: Settings, erasure: Erasure) -> None:
    row = (
        erasure.erasure_id,
        erasure.customer_id,
        erasure.bronze_rows,
        erasure.quarantine_rows,
        erasure.silver_rows,
        erasure.replay_rows,
        list(erasure.purged_tables),
        erasure.requested_at,
        erasure.finished_at,
    )
    frame = spark.createDataFrame([row], OPS_ERASURES.schema)
    frame.write.format("delta").mode("append").save(OPS_ERASURES.location(settings))


def erase_customer(spark: SparkSession, settings: Settings, customer_id: str) -> Erasure:
    """Erase the customer's personal values from every table, and purge old versions."""
    if not customer_id.strip():
        raise ErasureError("give the customer's id: rapport gdpr erase --customer ID")
    requested_at = datetime.now(UTC)
    specs = personal_specs(load_catalog(settings.contracts_dir))
    bronze_location = BRONZE_EVENTS.location(settings)
    from delta.tables import DeltaTable

    version = latest_version(DeltaTable.forPath(spark, bronze_location))
    bronze = spark.read.format("delta").option("versionAsOf", version).load(bronze_location)

    # 1. Only files the stream has read may change; and the quarantine then holds every
    #    invalid record of those files.
    _wait_for_refine(spark, settings, version)

    # 2. The values: from the customer's events, then from the quarantine.
    own = bronze.where(F.col("event_type").isin(list(specs)) & _names_customer(customer_id))
    known: set[str] = set()
    for row in own.select("value").collect():
        known |= personal_values(row.value, specs)
    quarantine = spark.read.format("delta").load(BRONZE_QUARANTINE.location(settings))
    of_customer = (F.col("key") == F.lit(customer_id.encode())) | _names_customer(customer_id)
    for row in quarantine.where(of_customer).select("value").collect():
        known |= personal_values(row.value, specs)
    # More than the customer's may match here ("Customer 2" is in "Customer 23"); the
    # rewrite below changes only what is theirs (`erased_record`, `scrub`).
    in_quarantine = quarantine.where(
        of_customer | _holds_any("value", known) | _holds_any("reason", known)
    ).collect()

    # 3. The rewrites: a record changes only if it held a value.
    candidates = bronze.where(
        (F.col("event_type").isin(list(specs)) & _names_customer(customer_id))
        | _holds_any("value", known)
    ).collect()
    erase = {"value": lambda r: erased_record(r.value, specs, known, customer_id)}
    bronze_rows = _changed(candidates, BRONZE_EVENTS, erase)
    quarantine_rows = _changed(
        in_quarantine, BRONZE_QUARANTINE, {**erase, "reason": lambda r: scrub(r.reason, known)}
    )
    rewritten_bronze = _rewrite_bronze(spark, settings, bronze_rows)
    rewritten_quarantine = _rewrite(spark, BRONZE_QUARANTINE, settings, quarantine_rows)
    replays = _scrub_replays(spark, settings, known)
    silver_rows, silver_tables = _erase_pseudonyms(spark, settings, customer_id, specs)
    rewritten_at = time.time()

    # 4. Old versions go.
    touched = [
        *([BRONZE_EVENTS] if rewritten_bronze else []),
        *([BRONZE_QUARANTINE] if rewritten_quarantine else []),
        *([OPS_QUARANTINE_REPLAYS] if replays else []),
        *silver_tables,
    ]
    _purge(spark, settings, touched, rewritten_at)
    erasure = Erasure(
        erasure_id=str(uuid.uuid4()),
        customer_id=customer_id,
        bronze_rows=rewritten_bronze,
        quarantine_rows=rewritten_quarantine,
        silver_rows=silver_rows,
        replay_rows=replays,
        purged_tables=tuple(t.qualified_name for t in touched),
        requested_at=requested_at,
        finished_at=datetime.now(UTC),
    )
    _record(spark, settings, erasure)
    log.info("erasure %s of customer %s: %s", erasure.erasure_id, customer_id, erasure)
    return erasure


def _changed(rows: list[Row], table: TableDef, rewrites: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rows that a rewrite (column -> function of the row) changes: their key and
    partition columns, and the rewritten columns' new values."""
    identity = [*table.keys, *table.partition_by]
    changed = []
    for row in rows:
        updated = {column: rewrite(row) for column, rewrite in rewrites.items()}
        if any(row[column] != value for column, value in updated.items()):
            changed.append({**{k: row[k] for k in identity}, **updated})
    return changed
