"""Fix and replay on real Spark and Delta: the selection, the summary, and replays end to end."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import pytest

from jobs.quarantine import (
    Selection,
    as_bronze,
    list_quarantine,
    replay,
    select_pending,
    summarise,
)
from rapport.contracts.catalog import default_catalog
from rapport.contracts.envelope import envelope
from rapport.lakehouse.tables import (
    BRONZE_EVENTS,
    BRONZE_QUARANTINE,
    GOLD_SALES_BY_DAY,
    OPS_QUARANTINE_REPLAYS,
    SILVER_ORDERS,
    TableDef,
)
from rapport.settings import Settings

pytestmark = pytest.mark.spark

DAY = date(2026, 3, 1)
KAFKA_TIME = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
TOPIC = "rapport.orders.events"


# --- the selection and the summary, on crafted frames ----------------------------------------


def _quarantined(
    offset: int,
    reason: str,
    *,
    day: date = DAY,
    value: bytes = b"{}",
    event_type: str | None = "rapport.orders.OrderPlaced",
    minute: int = 0,
) -> tuple[Any, ...]:
    at = datetime(day.year, day.month, day.day, 10, minute, tzinfo=UTC)
    return (TOPIC, 0, offset, None, value, at, f"e-{offset}", event_type, reason, at, day)


def _replayed(offset: int, ok: bool, reason: str | None, minute: int) -> tuple[Any, ...]:
    at = datetime(2026, 3, 5, 12, minute, tzinfo=UTC)
    return (TOPIC, 0, offset, f"e-{offset}", None, "was", ok, reason, "r", at, at.date())


def _frames(spark: Any) -> tuple[Any, Any]:
    quarantine = spark.createDataFrame(
        [
            _quarantined(1, "invalid_payload: 'XYZ' is not one of ['EUR']", minute=3),
            _quarantined(2, "invalid_payload: 'XYZ' is not one of ['EUR']", minute=1),
            _quarantined(3, "not_json", event_type=None),
            _quarantined(4, "unknown_event_type", day=date(2026, 3, 2)),
            _quarantined(5, "not_json", event_type=None),
        ],
        BRONZE_QUARANTINE.schema,
    )
    replays = spark.createDataFrame(
        [
            _replayed(5, True, None, 0),  # replayed: no longer listed
            _replayed(3, False, "still_broken", 0),
            _replayed(3, False, "missing_envelope_attribute: id", 9),  # the latest attempt
        ],
        OPS_QUARANTINE_REPLAYS.schema,
    )
    return quarantine, replays


def test_pending_leaves_out_replayed_records_and_carries_the_latest_reason(spark: Any) -> None:
    quarantine, replays = _frames(spark)
    pending = {r.offset: r for r in select_pending(quarantine, replays, Selection()).collect()}
    assert sorted(pending) == [1, 2, 3, 4]
    assert pending[3].reason == "missing_envelope_attribute: id"
    assert pending[3].original_reason == "not_json"
    assert pending[3].retried == 2
    assert pending[1].reason == pending[1].original_reason
    assert pending[1].retried == 0

    everything = select_pending(quarantine, replays, Selection(include_replayed=True))
    assert sorted(r.offset for r in everything.collect()) == [1, 2, 3, 4, 5]


def test_pending_filters_by_kafka_day_and_either_reason_in_any_case(spark: Any) -> None:
    quarantine, replays = _frames(spark)

    def offsets(selection: Selection) -> list[int]:
        return sorted(r.offset for r in select_pending(quarantine, replays, selection).collect())

    assert offsets(Selection(since=date(2026, 3, 2))) == [4]
    assert offsets(Selection(until=DAY)) == [1, 2, 3]
    assert offsets(Selection(reason_contains="XYZ")) == [1, 2]
    assert offsets(Selection(reason_contains="NOT_JSON")) == [3]  # its original reason
    assert offsets(Selection(reason_contains="envelope")) == [3]  # its latest reason
    with pytest.raises(ValueError, match="before since"):
        Selection(since=date(2026, 3, 2), until=DAY)


def test_the_summary_counts_by_reason_and_type_with_the_earliest_example(spark: Any) -> None:
    quarantine, replays = _frames(spark)
    summary = summarise(select_pending(quarantine, replays, Selection())).collect()
    by_reason = {r.reason: r for r in summary}
    assert set(by_reason) == {
        "invalid_payload: 'XYZ' is not one of ['EUR']",
        "missing_envelope_attribute: id",
        "unknown_event_type",
    }
    payload = by_reason["invalid_payload: 'XYZ' is not one of ['EUR']"]
    assert (payload.records, payload.retried) == (2, 0)
    assert payload.example_offset == 2  # quarantined first
    assert payload.first_quarantined_at < payload.last_quarantined_at
    assert by_reason["missing_envelope_attribute: id"].retried == 1
    assert summary[0].records == 2  # the biggest group first


def test_bronze_rows_keep_the_coordinates_and_read_a_corrected_value(spark: Any) -> None:
    corrected = orjson.dumps(
        {"id": "fixed-1", "type": "rapport.orders.OrderPlaced", "time": "2026-02-27T08:00:00Z"}
    )
    quarantine = spark.createDataFrame(
        [_quarantined(7, "not_json", value=corrected, event_type=None)],
        BRONZE_QUARANTINE.schema,
    )
    (row,) = as_bronze(quarantine).collect()
    assert (row.topic, row.partition, row.offset) == (TOPIC, 0, 7)
    assert (row.event_id, row.event_type) == ("fixed-1", "rapport.orders.OrderPlaced")
    assert row.event_date == date(2026, 2, 27)  # the corrected event's own day
    assert bytes(row.value) == corrected
    assert as_bronze(quarantine).columns == BRONZE_EVENTS.schema.fieldNames()


# --- end to end: quarantine, list, fix, replay, replay again ---------------------------------


def _order(event_id: str, currency: str) -> bytes:
    data = {
        "order_id": f"o-{event_id}",
        "customer_id": "c-1",
        "lines": [{"sku": "SKU-00001", "quantity": 2, "unit_price": "10.00", "category": "home"}],
        "currency": currency,
        "channel": "web",
        "region": "eu-west",
        "warehouse": "WH-AMS",
        "total": "20.00",
    }
    contract = default_catalog().get("OrderPlaced", 1)
    return orjson.dumps(envelope(contract, data, event_id=event_id, time=KAFKA_TIME))


def _load(spark: Any, settings: Settings, values: list[bytes]) -> str:
    """Refine these records as the history load does (bronze first); returns their topic."""
    from streaming.bronze import to_bronze
    from streaming.refine import Refiner

    topic = settings.kafka.topics["orders"].name
    kafka = spark.createDataFrame(
        [(None, v, topic, 0, i, KAFKA_TIME, 0, []) for i, v in enumerate(values)],
        "key binary, value binary, topic string, partition int, offset long, timestamp timestamp,"
        " timestampType int, headers array<struct<key:string,value:binary>>",
    )
    bronze = to_bronze(kafka)
    bronze.write.format("delta").mode("append").save(BRONZE_EVENTS.location(settings))
    refiner = Refiner(settings)
    try:
        refiner.load(bronze, app_id="test-quarantine", version=1, complete_up_to=None)
    finally:
        refiner.close()
    return topic


def _table(spark: Any, settings: Settings, table: TableDef) -> list[Any]:
    return list(spark.read.format("delta").load(table.location(settings)).collect())


@pytest.mark.kafka
def test_a_fixed_record_is_replayed_once_and_a_broken_one_stays_listed(
    spark: Any, isolated: Any, schema_registry: Any
) -> None:
    settings = isolated()
    good, fixable = _order("q-good", "EUR"), _order("q-fixable", "XYZ")  # XYZ: not in the enum
    topic = _load(spark, settings, [good, fixable, b"{not json"])
    assert [r.event_id for r in _table(spark, settings, SILVER_ORDERS)] == ["q-good"]

    listed = {r["reason"].split(":")[0]: r for r in list_quarantine(spark, settings)}
    assert set(listed) == {"invalid_payload", "not_json"}
    assert listed["invalid_payload"]["event_type"] == "rapport.orders.OrderPlaced"
    assert "XYZ" in listed["invalid_payload"]["reason"]
    assert (
        listed["invalid_payload"]["example_topic"],
        listed["invalid_payload"]["example_offset"],
    ) == (topic, 1)
    assert listed["not_json"]["records"] == 1
    assert [r["reason"] for r in list_quarantine(spark, settings, reason_contains="JSON")] == [
        "not_json"
    ]
    assert list_quarantine(spark, settings, since=DAY + timedelta(days=1)) == []

    # The operator corrects the record's value, as docs/operations.md shows.
    fixed = _order("q-fixable", "EUR").decode()
    spark.sql(
        f"UPDATE delta.`{BRONZE_QUARANTINE.location(settings)}` SET value = CAST('{fixed}' AS "
        f"BINARY) WHERE topic = '{topic}' AND partition = 0 AND offset = 1"
    )

    dry = replay(spark, settings, dry_run=True)
    assert (dry.attempted, dry.replayed, dry.still_invalid) == (2, 1, 1)
    assert len(_table(spark, settings, SILVER_ORDERS)) == 1  # a dry run writes nothing
    assert _table(spark, settings, OPS_QUARANTINE_REPLAYS) == []

    first = replay(spark, settings)
    assert (first.attempted, first.replayed, first.still_invalid) == (2, 1, 1)
    assert first.new_reasons == {"not_json": 1}
    assert first.new_events == 1
    assert sorted(r.event_id for r in _table(spark, settings, SILVER_ORDERS)) == [
        "q-fixable",
        "q-good",
    ]
    (sales,) = _table(spark, settings, GOLD_SALES_BY_DAY)
    assert (sales.event_date, sales.orders) == (DAY, 2)
    assert len(_table(spark, settings, BRONZE_QUARANTINE)) == 2  # no duplicate rows
    assert len(_table(spark, settings, BRONZE_EVENTS)) == 3  # bronze is left as it arrived
    attempts = {r.offset: r for r in _table(spark, settings, OPS_QUARANTINE_REPLAYS)}
    assert attempts[1].replayed
    assert attempts[1].reason is None
    assert attempts[1].original_reason.startswith("invalid_payload")
    assert attempts[1].event_id == "q-fixable"
    assert not attempts[2].replayed
    assert attempts[2].reason == "not_json"
    assert attempts[1].replay_id == attempts[2].replay_id == first.replay_id

    (still,) = list_quarantine(spark, settings)
    assert (still["reason"], still["records"], still["retried"]) == ("not_json", 1, 1)

    # Again: the replayed record is not attempted, the broken one fails the same way.
    second = replay(spark, settings)
    assert (second.attempted, second.replayed, second.still_invalid) == (1, 0, 1)
    assert len(_table(spark, settings, SILVER_ORDERS)) == 2
    assert len(_table(spark, settings, BRONZE_QUARANTINE)) == 2
    assert len(_table(spark, settings, OPS_QUARANTINE_REPLAYS)) == 3

    # Even forced through again, silver deduplicates by event id: nothing counts twice.
    forced = replay(spark, settings, include_replayed=True)
    assert (forced.attempted, forced.replayed, forced.new_events) == (2, 1, 0)
    assert len(_table(spark, settings, SILVER_ORDERS)) == 2
    (sales,) = _table(spark, settings, GOLD_SALES_BY_DAY)
    assert sales.orders == 2
    assert len(_table(spark, settings, BRONZE_QUARANTINE)) == 2
