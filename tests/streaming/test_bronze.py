"""to_bronze: every record kept byte for byte; the envelope read where there is one."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from rapport.lakehouse.tables import BRONZE_EVENTS
from streaming.bronze import to_bronze

pytestmark = pytest.mark.spark

KAFKA_SCHEMA = (
    "key binary, value binary, topic string, partition int, offset long, timestamp timestamp, "
    "timestampType int, headers array<struct<key:string,value:binary>>"
)
KAFKA_TIME = datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC)


def kafka_rows(spark: Any, values: list[bytes | None]) -> Any:
    rows = [
        (b"k", v, "rapport.orders.events", 1, 100 + i, KAFKA_TIME, 0, [("trace", b"t-1")])
        for i, v in enumerate(values)
    ]
    return spark.createDataFrame(rows, KAFKA_SCHEMA)


def event(**fields: Any) -> bytes:
    base = {
        "specversion": "1.0",
        "id": "e-1",
        "type": "OrderPlaced",
        "source": "/orders",
        "time": "2026-02-28T08:30:00Z",
        "data": {"order_id": "o-1"},
    }
    base.update(fields)
    return json.dumps(base).encode()


def test_output_has_exactly_the_catalog_schema(spark: Any) -> None:
    out = to_bronze(kafka_rows(spark, [event()]))
    assert [f.name for f in out.schema] == BRONZE_EVENTS.schema.fieldNames()
    assert [f.dataType for f in out.schema] == [f.dataType for f in BRONZE_EVENTS.schema]


def test_cloudevent_envelope_is_read_and_partitioned_by_its_own_time(spark: Any) -> None:
    row = to_bronze(kafka_rows(spark, [event()])).first()
    assert row is not None
    assert (row.event_id, row.event_type, row.event_source) == ("e-1", "OrderPlaced", "/orders")
    assert row.event_time == datetime(2026, 2, 28, 8, 30)  # session time zone is UTC
    assert row.event_date == date(2026, 2, 28)
    assert row.value == bytearray(event())
    assert (row.topic, row.partition, row.offset) == ("rapport.orders.events", 1, 100)
    assert row.headers[0].key == "trace"
    assert row.ingest_time is not None


@pytest.mark.parametrize(
    "value", [b"not json", b"\xff\xfe\x00garbage", b'{"no": "envelope"}', b"[1,2]", None]
)
def test_malformed_records_are_kept_with_null_envelope(spark: Any, value: bytes | None) -> None:
    rows = to_bronze(kafka_rows(spark, [value])).collect()
    assert len(rows) == 1
    row = rows[0]
    assert row.value == (bytearray(value) if value is not None else None)
    assert row.event_id is None
    assert row.event_time is None
    assert row.event_date == KAFKA_TIME.date()  # falls back to the Kafka timestamp


def test_unparseable_time_falls_back_to_kafka_timestamp(spark: Any) -> None:
    row = to_bronze(kafka_rows(spark, [event(time="yesterday-ish")])).first()
    assert row is not None
    assert row.event_id == "e-1"
    assert row.event_time is None
    assert row.event_date == KAFKA_TIME.date()
