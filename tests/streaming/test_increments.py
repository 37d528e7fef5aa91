"""Gold's running sums through delta-rs: increments add up, derived figures follow, replays skip."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import functions as F

from rapport.lakehouse import delta_rs
from rapport.lakehouse.delta_rs import Txn
from rapport.lakehouse.tables import GOLD_INVENTORY_CURRENT, GOLD_SALES_BY_DAY, TableDef
from rapport.settings import Settings
from streaming.gold_writer import low_stock_rows
from streaming.increments import merge_rules

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path / "state", lakehouse_root=str(tmp_path / "lake"))


def _create(settings: Settings, table: TableDef) -> None:
    from deltalake import write_deltalake

    schema = delta_rs.arrow_schema(table)
    write_deltalake(table.location(settings), schema.empty_table(),
                    partition_by=list(table.partition_by) or None)  # fmt: skip


def _rows(table: TableDef, rows: list[dict[str, Any]]) -> Any:
    import pyarrow as pa

    return pa.Table.from_pylist(rows, schema=delta_rs.arrow_schema(table))


def _day(orders: int, value: str, refunds: str = "0.00", **more: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "event_date": date(2026, 11, 30),
        "orders": orders,
        "order_value": Decimal(value),
        "average_order_value": (Decimal(value) / orders).quantize(Decimal("0.01"))
        if orders
        else None,
        "cancellations": 0,
        "refunds": 0,
        "refund_amount": Decimal(refunds),
        "net_revenue": Decimal(value) - Decimal(refunds),
        "payments": 0,
        "payment_amount": Decimal("0.00"),
        "invoiced_amount": Decimal("0.00"),
        "complete_up_to": NOW,
        "updated_at": NOW,
    }
    for name in ("currency",):  # per-currency gold carries the currency in its key
        if name in GOLD_SALES_BY_DAY.schema.fieldNames():
            row[name] = "EUR"
    row.update(more)
    return row


def test_increments_add_up_and_a_replayed_batch_is_skipped(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _create(settings, GOLD_SALES_BY_DAY)
    updates, when = merge_rules()[GOLD_SALES_BY_DAY.qualified_name]

    def merge(rows: list[dict[str, Any]], version: int) -> bool:
        return delta_rs.merge(settings, GOLD_SALES_BY_DAY, _rows(GOLD_SALES_BY_DAY, rows),
                              Txn("app", version), updates=updates, when=when)  # fmt: skip

    assert merge([_day(2, "10.01")], 0)
    assert merge([_day(1, "0.24", refunds="1.00")], 1)
    assert not merge([_day(1, "0.24", refunds="1.00")], 1)  # the same batch again: skipped
    assert not merge([_day(5, "99.99")], 0)  # an older batch: skipped
    (row,) = delta_rs.read(settings, GOLD_SALES_BY_DAY).to_pylist()
    assert row["orders"] == 3
    assert row["order_value"] == Decimal("10.25")
    # 10.25 / 3 = 3.41666..., rounded half up to cents like Spark's round() on a full day.
    assert row["average_order_value"] == Decimal("3.42")
    assert row["net_revenue"] == Decimal("9.25")
    assert delta_rs.open_table(settings, GOLD_SALES_BY_DAY).transaction_version("app") == 1


def test_a_kept_snapshot_sees_other_writers_and_a_table_made_again(tmp_path: Path) -> None:
    """delta-rs writes keep the table's snapshot between batches (`delta_rs._snapshot`):
    another writer's commit must be seen, and a table deleted and created again at the same
    place must be read afresh, never written on from the old snapshot."""
    import shutil

    from deltalake import write_deltalake

    settings = _settings(tmp_path)
    _create(settings, GOLD_SALES_BY_DAY)
    updates, when = merge_rules()[GOLD_SALES_BY_DAY.qualified_name]

    def merge(rows: list[dict[str, Any]], app: str, version: int) -> bool:
        return delta_rs.merge(settings, GOLD_SALES_BY_DAY, _rows(GOLD_SALES_BY_DAY, rows),
                              Txn(app, version), updates=updates, when=when)  # fmt: skip

    assert merge([_day(2, "10.00")], "a", 0)
    other_day = _day(1, "5.00", event_date=date(2026, 11, 29))
    write_deltalake(GOLD_SALES_BY_DAY.location(settings), _rows(GOLD_SALES_BY_DAY, [other_day]),
                    mode="append")  # another writer, behind the kept snapshot's back  # fmt: skip
    assert merge([_day(1, "1.00")], "a", 1)
    rows = {
        r["event_date"]: r["orders"] for r in delta_rs.read(settings, GOLD_SALES_BY_DAY).to_pylist()
    }
    assert rows == {date(2026, 11, 30): 3, date(2026, 11, 29): 1}

    shutil.rmtree(GOLD_SALES_BY_DAY.location(settings))
    _create(settings, GOLD_SALES_BY_DAY)
    for day in (26, 27, 28):  # the new table reaches the old snapshot's version, and more
        row = _day(1, "5.00", event_date=date(2026, 11, day))
        write_deltalake(GOLD_SALES_BY_DAY.location(settings), _rows(GOLD_SALES_BY_DAY, [row]),
                        mode="append")  # fmt: skip
    assert merge([_day(1, "2.00")], "b", 0)
    rows = {
        r["event_date"].day: r["orders"]
        for r in delta_rs.read(settings, GOLD_SALES_BY_DAY).to_pylist()
    }
    assert rows == {26: 1, 27: 1, 28: 1, 30: 1}
    assert delta_rs.open_table(settings, GOLD_SALES_BY_DAY).transaction_version("a") is None


def _stock(sku: str, on_hand: int, reorder: int, sequence: int) -> dict[str, Any]:
    return {
        "sku": sku,
        "warehouse": "w1",
        "on_hand": on_hand,
        "reorder_point": reorder,
        "low_stock": on_hand < reorder,
        "last_movement_at": NOW,
        "sequence": sequence,
        "complete_up_to": NOW,
        "updated_at": NOW,
    }


def test_stock_takes_only_a_newer_movement_and_low_stock_follows(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _create(settings, GOLD_INVENTORY_CURRENT)
    updates, when = merge_rules()[GOLD_INVENTORY_CURRENT.qualified_name]

    def merge(rows: list[dict[str, Any]], version: int) -> None:
        delta_rs.merge(settings, GOLD_INVENTORY_CURRENT, _rows(GOLD_INVENTORY_CURRENT, rows),
                       Txn("app", version), updates=updates, when=when)  # fmt: skip

    merge([_stock("SKU-00001", 5, 10, 7), _stock("SKU-00002", 50, 10, 3)], 0)
    merge([_stock("SKU-00001", 99, 10, 6), _stock("SKU-00002", 4, 10, 4)], 1)  # 6 is older
    current = delta_rs.read(settings, GOLD_INVENTORY_CURRENT)
    assert {r["sku"]: r["on_hand"] for r in current.to_pylist()} == {
        "SKU-00001": 5,
        "SKU-00002": 4,
    }
    low = low_stock_rows(current).to_pylist()
    assert {r["sku"]: r["shortfall"] for r in low} == {"SKU-00001": 5, "SKU-00002": 6}


@pytest.mark.spark
def test_the_driver_adds_up_exactly_what_the_spark_aggregates_do(spark: Any) -> None:
    """The hot query's Python increments equal `streaming.gold` over the same events."""
    import pyarrow as pa

    from rapport.contracts.catalog import default_catalog
    from rapport.contracts.classify import CatalogResolver, classify
    from rapport.simulator.wire import ChaosConfig
    from streaming.hot import silver_rows
    from streaming.increments import EVENT_FIELDS, GOLD_PAYLOAD, gold_increments, local_increments
    from streaming.validation import payload_json
    from tests.helpers.streams import START, shop_records

    chaos = ChaosConfig(duplicates=0.05, out_of_order=0.1, late=0.05, malformed=0.02)
    resolver = CatalogResolver(default_catalog())
    events: dict[str, dict[str, Any]] = {}
    for record in shop_records(seed=91, actions=1500, start=START, chaos=chaos):
        verdict = classify(record.value, resolver)
        if verdict.valid and verdict.event_id not in events:
            assert verdict.event_time is not None
            assert verdict.event_type is not None
            assert verdict.event_id is not None
            at = verdict.event_time.astimezone(UTC)
            events[verdict.event_id] = {
                "event_id": verdict.event_id,
                "event_type": verdict.event_type.rsplit(".", 1)[-1],
                "event_time": at,
                "ingest_time": NOW,
                "contract_version": verdict.version,
                "data_json": json.dumps(verdict.data),
                "event_date": at.date(),
            }
    rows = list(events.values())
    frame = spark.createDataFrame(
        rows,
        "event_id string, event_type string, event_time timestamp, ingest_time timestamp, "
        "contract_version int, data_json string, event_date date",
    )
    present = {r["event_type"] for r in rows}
    in_spark = gold_increments(silver_rows(frame, present), NOW)
    arrow = pa.Table.from_pylist(rows).select(list(EVENT_FIELDS))
    on_driver = local_increments(arrow, NOW)
    # The hot query's workers hand on only the fields GOLD_PAYLOAD names: enough for gold.
    trimmed = [
        {**r, "data_json": payload_json(r["event_type"], json.loads(r["data_json"]), GOLD_PAYLOAD)}
        for r in rows
    ]
    from_trimmed = local_increments(pa.Table.from_pylist(trimmed).select(list(EVENT_FIELDS)), NOW)
    assert set(in_spark) == set(on_driver) == set(from_trimmed)
    for name, expected in in_spark.items():
        want = sorted(
            _canonical(r.asDict())
            for r in expected.drop("updated_at").withColumn("complete_up_to", F.lit(NOW)).collect()
        )
        for got in (on_driver[name], from_trimmed[name]):
            assert sorted(map(_canonical, got.drop(["updated_at"]).to_pylist())) == want, name


def _canonical(row: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """A row with every value as text, UTC times without zone: Spark's and Arrow's alike."""

    def text(value: Any) -> str:
        if isinstance(value, datetime):
            return (value.astimezone(UTC) if value.tzinfo else value).strftime("%Y-%m-%d %H:%M:%S")
        return str(value)

    return tuple(sorted((k, text(v)) for k, v in row.items()))


def test_a_trimmed_payload_keeps_only_the_named_fields_that_are_there() -> None:
    from streaming.validation import payload_json

    data = {"total": "12.50", "currency": "EUR", "lines": [{"sku": "S-1", "qty": 2}]}
    fields = {"OrderPlaced": ("total", "region", "currency"), "CustomerRegistered": ()}
    assert payload_json("rapport.orders.OrderPlaced", data, fields) == (
        '{"total":"12.50","currency":"EUR"}'
    )
    assert payload_json("rapport.customers.CustomerRegistered", data, fields) == "{}"
    assert payload_json("rapport.orders.OrderShipped", data, fields) is None
    assert json.loads(payload_json("rapport.orders.OrderShipped", data, None) or "") == data
