"""The right to erasure on real Kafka, Spark and Delta, with the stream running beside it."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
import pytest
from pyspark.sql import functions as F

from jobs.gdpr import erase_customer
from rapport.contracts.catalog import default_catalog
from rapport.contracts.classify import CatalogResolver, classify
from rapport.contracts.privacy import pseudonym
from rapport.lakehouse.tables import (
    BRONZE_EVENTS,
    BRONZE_QUARANTINE,
    OPS_ERASURES,
    OPS_QUARANTINE_REPLAYS,
    SILVER_CUSTOMERS,
    TableDef,
)
from rapport.runtime.processes import wait_until
from rapport.settings import Settings
from rapport.simulator.ledger import Ledger
from rapport.simulator.wire import ChaosConfig, WireRecord
from streaming.ingest import start_bronze_query, start_refine_query
from streaming.refine import Refiner
from tests.helpers.ledger_checks import assert_tables_match
from tests.helpers.privacy import assert_personal_values_pseudonymised
from tests.helpers.streams import START, run_stream, send, shop_records

pytestmark = [pytest.mark.spark, pytest.mark.kafka]

#: Every table a personal value, raw or pseudonymised, may have been in.
HOLDERS = (BRONZE_EVENTS, BRONZE_QUARANTINE, SILVER_CUSTOMERS, OPS_QUARANTINE_REPLAYS)


def _victim(records: list[WireRecord], half: int) -> tuple[str, set[str]]:
    """Among the customers who signed up here, the one with the most events carrying personal
    values, all in the first `half` records (a later one would be new data, not erased data;
    later orders and logins carry none): (id, raw values)."""
    last: dict[str, int] = {}
    personal: dict[str, list[dict[str, object]]] = {}
    signed_up = set()
    for n, r in enumerate(records):
        if r.event is not None and "customer_id" in r.event.data:
            customer = str(r.event.data["customer_id"])
            if {"email", "name"} & set(r.event.data):
                last[customer] = n
                personal.setdefault(customer, []).append(r.event.data)
            if r.event.contract.event_type == "CustomerRegistered":
                signed_up.add(customer)
    chosen = max(
        (c for c in personal if c in signed_up and last[c] < half),
        key=lambda c: len(personal[c]),
    )
    values = {str(d[k]) for d in personal[chosen] for k in ("email", "name") if k in d}
    return chosen, values


def _bad_records(customer: str, email: str, signup: WireRecord) -> list[WireRecord]:
    """Two quarantined records holding the customer's e-mail: an invalid sign-up, and bytes
    that are not JSON at all."""
    doc = orjson.loads(signup.value)
    doc["id"] = f"bad-{doc['id']}"
    doc["data"]["channel"] = "carrier-pigeon"
    return [
        WireRecord("customers", customer.encode(), orjson.dumps(doc), "malformed",
                   reason="invalid_enum"),
        WireRecord("customers", customer.encode(), b"\x00{not json " + email.encode(),
                   "malformed", reason="not_json"),
    ]  # fmt: skip


def _holding(frame: Any, values: Iterable[str]) -> int:
    """Rows with any of the values, as a whole word, in any text or binary column (the
    erasure's own rule: "Customer 2" is not in "Customer 23")."""
    words = "|".join(f"\\Q{v}\\E" for v in sorted(values, key=len, reverse=True))
    pattern = f"(?<![\\w])(?:{words})(?![\\w])"
    condition = F.lit(False)
    for f in frame.schema.fields:
        if f.dataType.typeName() in ("string", "binary"):
            condition = condition | F.col(f"`{f.name}`").cast("string").rlike(pattern)
    return int(frame.where(condition).count())


def _versions_holding(
    spark: Any, table: TableDef, settings: Settings, values: set[str]
) -> dict[str, Any]:
    """Per outcome over every version in the table's history: how many still show a value
    ("holding"), show none ("clean"), or can no longer be read ("purged")."""
    from delta.tables import DeltaTable

    location = table.location(settings)
    outcome: dict[str, Any] = {"holding": 0, "clean": 0, "purged": 0}
    for commit in DeltaTable.forPath(spark, location).history().collect():
        try:
            frame = spark.read.format("delta").option("versionAsOf", commit.version).load(location)
            found = _holding(frame, values)
        except Exception as exc:  # a vacuumed version fails on its first missing file
            if "FileNotFound" not in str(exc) and "does not exist" not in str(exc):
                raise
            outcome["purged"] += 1
            continue
        outcome["holding" if found else "clean"] += 1
        if found:
            outcome.setdefault("examples", []).append(
                (commit.version, commit.operation, _examples(frame, values))
            )
    return outcome


def _examples(frame: Any, values: set[str]) -> list[str]:
    """A few rows of `frame` that hold a value, and which value: for the failure message."""
    found = []
    for row in frame.limit(100_000).collect():
        text = " ".join(
            bytes(v).decode("utf-8", "replace") if isinstance(v, bytes | bytearray) else str(v)
            for v in row
        )
        hits = [v for v in values if re.search(rf"(?<![\w]){re.escape(v)}(?![\w])", text)]
        if hits:
            found.append(f"{hits}: {text[:300]}")
    return found[:3]


def test_an_erased_customer_is_gone_from_every_readable_version_and_no_figure_moves(
    spark: Any, isolated: Any, schema_registry: Any
) -> None:
    base = isolated(watermark_delay_s=600.0)
    settings = base.model_copy(
        update={"privacy": base.privacy.model_copy(update={"purge_after_s": 10.0})}
    )
    records = shop_records(seed=43, actions=600, start=START, chaos=ChaosConfig(duplicates=0.02))
    half = len(records) // 2
    customer, raw = _victim(records, half)
    email = next(v for v in raw if "@" in v)
    signup = next(
        r for r in records
        if r.event is not None and r.event.contract.event_type == "CustomerRegistered"
        and r.event.data["customer_id"] == customer
    )  # fmt: skip
    key = settings.pseudonym_key().get_secret_value().encode()
    personal = raw | {pseudonym(key, v) for v in raw}
    ledger = Ledger()

    # The bronze and refine queries run all along; the erasure starts once bronze holds the
    # customer's records (the sign-up, the bad copy, the non-JSON bytes), while the second
    # half of the events arrives.
    bronze_query = start_bronze_query(spark, settings)
    refiner = Refiner(settings)
    refine_query = start_refine_query(spark, refiner)
    try:
        send(settings, [*records[:half], *_bad_records(customer, email, signup)], ledger)
        bronze = BRONZE_EVENTS.location(settings)
        landed = lambda: _holding(spark.read.format("delta").load(bronze), raw) >= 3  # noqa: E731
        assert wait_until(landed, timeout_s=120, interval_s=1.0)
        sender = threading.Thread(target=send, args=(settings, records[half:], ledger))
        sender.start()
        try:
            erasure = erase_customer(spark, settings, customer)
        finally:
            sender.join()
    finally:
        for query in (bronze_query, refine_query):
            query.stop()
        refiner.close()
    run_stream(spark, settings)  # from the checkpoints, whatever the erasure interrupted
    assert_personal_values_pseudonymised(spark, settings)

    assert erasure.bronze_rows >= 3
    assert erasure.quarantine_rows == 2
    assert erasure.silver_rows == 1
    assert set(erasure.purged_tables) >= {
        BRONZE_EVENTS.qualified_name,
        BRONZE_QUARANTINE.qualified_name,
        SILVER_CUSTOMERS.qualified_name,
    }
    # No figure moved, and every event of both halves is counted once.
    assert_tables_match(spark, settings, ledger)
    # Gone from every version that can still be read; the older ones cannot be.
    for table in HOLDERS:
        outcome = _versions_holding(spark, table, settings, personal)
        assert outcome["holding"] == 0, (table.qualified_name, outcome)
        if table.qualified_name in erasure.purged_tables:
            assert outcome["purged"] >= 1, (table.qualified_name, outcome)
        log = Path(table.location(settings)) / "_delta_log"
        for entry in log.glob("*.json"):
            text = entry.read_text()
            held = [v for v in personal if re.search(rf"(?<![\w]){re.escape(v)}(?![\w])", text)]
            assert not held, (table.qualified_name, entry.name, held)
    # A replay from bronze gives the same figures: every rewritten event is still valid.
    resolver = CatalogResolver(default_catalog())
    rewritten = (
        spark.read.format("delta").load(BRONZE_EVENTS.location(settings))
        .where(F.get_json_object(F.col("value").cast("string"), "$.data.customer_id") == customer)
        .where(F.col("event_type").isin("rapport.customers.CustomerRegistered",
                                        "rapport.customers.CustomerProfileUpdated"))
        .where(~F.col("event_id").startswith("bad-"))
        .collect()
    )  # fmt: skip
    assert rewritten
    for row in rewritten:
        assert classify(bytes(row.value), resolver).valid, row.value
    (recorded,) = spark.read.format("delta").load(OPS_ERASURES.location(settings)).collect()
    assert recorded.customer_id == customer
    assert recorded.erasure_id == erasure.erasure_id
    assert recorded.bronze_rows == erasure.bronze_rows
