"""The embedded SQL (delta-rs (DataFusion)) answers like Spark SQL on the same Delta tables."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from rapport.lakehouse.tables import GOLD_SALES_BY_DAY, SILVER_ORDERS, TABLES, TableDef, table
from rapport.settings import Settings
from serving.sql import EmbeddedSql, SqlError, query


def _sales(day: date, orders: int, value: str, currency: str = "EUR") -> dict[str, Any]:
    money = Decimal(value)
    return {
        "event_date": day,
        "currency": currency,
        "orders": orders,
        "order_value": money,
        "average_order_value": (money / orders).quantize(Decimal("0.01")) if orders else None,
        "cancellations": 1,
        "refunds": 0,
        "refund_amount": Decimal("0.00"),
        "net_revenue": money,
        "payments": orders,
        "payment_amount": money,
        "invoiced_amount": money,
        "complete_up_to": datetime(2026, 11, 26, 9, 50),
        "updated_at": datetime(2026, 11, 26, 10, 0),
    }


def _order(i: int, day: date, region: str) -> dict[str, Any]:
    at = datetime.combine(day, datetime.min.time())
    return {
        "event_id": f"e{i}",
        "event_time": at,
        "ingest_time": at,
        "contract_version": 2,
        "line_count": 1,
        "order_id": f"o{i}",
        "customer_id": f"c{i % 3}",
        "currency": "EUR",
        "channel": "web" if i % 2 else "mobile",
        "region": region,
        "warehouse": "WH-AMS",
        "total": Decimal(f"{10 + i}.50"),
        "coupon_code": None,
        "event_date": day,
    }


def _append(spark: Any, settings: Settings, target: TableDef, rows: list[dict[str, Any]]) -> None:
    names = target.schema.fieldNames()
    frame = spark.createDataFrame([tuple(r[c] for c in names) for r in rows], target.schema)
    frame.write.format("delta").mode("append").save(target.location(settings))


def _on_spark(spark: Any, settings: Settings, sql: str) -> list[tuple[Any, ...]]:
    """The same query on Spark, the catalog names replaced by the tables' paths."""

    def path(match: re.Match[str]) -> str:
        return f"delta.`{table(match[0]).location(settings)}`"

    names = "|".join(re.escape(t.qualified_name) for t in TABLES)
    return [tuple(r) for r in spark.sql(re.sub(rf"\b({names})\b", path, sql)).collect()]


def _embedded(settings: Settings, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r.values()) for r in query(settings, sql).to_pylist()]


@pytest.fixture
def lake(isolated: Callable[..., Settings], spark: Any) -> Settings:
    settings = isolated()
    _append(spark, settings, GOLD_SALES_BY_DAY, [_sales(date(2026, 11, 25), 40, "1234.50")])
    _append(
        spark,
        settings,
        GOLD_SALES_BY_DAY,
        [_sales(date(2026, 11, 26), 7, "99.99"), _sales(date(2026, 11, 26), 3, "45.00", "USD")],
    )
    orders = [_order(i, date(2026, 11, 25 + i % 2), ["apac", "eu-west"][i % 2]) for i in range(20)]
    _append(spark, settings, SILVER_ORDERS, orders)
    return settings


QUERIES = [
    "SELECT event_date, currency, orders, order_value, average_order_value "
    "FROM gold.sales_by_day ORDER BY event_date, currency",
    "SELECT region, channel, count(*) AS n, sum(total) AS value FROM silver.orders "
    "WHERE event_date = DATE '2026-11-25' GROUP BY region, channel ORDER BY region, channel",
    "SELECT s.event_date, s.currency, s.orders, count(o.event_id) AS silver_orders "
    "FROM gold.sales_by_day s LEFT JOIN silver.orders o ON o.event_date = s.event_date "
    "AND o.currency = s.currency GROUP BY s.event_date, s.currency, s.orders "
    "ORDER BY s.event_date, s.currency",
    "SELECT event_date, orders FROM gold.sales_by_day VERSION AS OF 1 ORDER BY event_date",
]


@pytest.mark.spark
@pytest.mark.parametrize("sql", QUERIES)
def test_embedded_sql_agrees_with_spark_sql(lake: Settings, spark: Any, sql: str) -> None:
    embedded = _embedded(lake, sql)
    assert embedded
    assert embedded == _on_spark(spark, lake, sql)


@pytest.mark.spark
def test_time_travel_sees_the_table_as_it_was(lake: Settings) -> None:
    # Version 0 is the empty table the catalog created; 1 and 2 are the two appends.
    counts = {
        v: _embedded(lake, f"SELECT count(*) FROM gold.sales_by_day VERSION AS OF {v}")[0][0]
        for v in (0, 1, 2)
    }
    assert counts == {0: 0, 1: 1, 2: 3}
    with pytest.raises(SqlError, match="DESCRIBE HISTORY"):
        query(lake, "SELECT * FROM gold.sales_by_day VERSION AS OF 99")


@pytest.mark.spark
def test_the_dashboard_reads_todays_sales_per_currency(lake: Settings) -> None:
    from serving.dashboard.panels import today_sales

    engine = EmbeddedSql(lake)
    try:
        sales = today_sales(engine, date(2026, 11, 26))
        none_yet = today_sales(engine, date(2026, 11, 27))
    finally:
        engine.close()
    assert [(s.currency, s.orders, s.order_value) for s in sales] == [
        ("EUR", 7, Decimal("99.99")),
        ("USD", 3, Decimal("45.00")),
    ]
    assert none_yet == []


@pytest.mark.spark
def test_limit_stops_early_and_keeps_the_order(lake: Settings) -> None:
    engine = EmbeddedSql(lake)
    try:
        rows = engine.query("SELECT event_id FROM silver.orders ORDER BY total DESC", limit=3)
    finally:
        engine.close()
    assert rows.column("event_id") == ["e19", "e18", "e17"]


@pytest.mark.unit
def test_errors_say_what_to_do(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)
    with pytest.raises(SqlError, match=r"no table gold\.nope in the catalog; known tables: "):
        query(settings, "SELECT * FROM gold.nope")
    with pytest.raises(SqlError, match=r"holds no data yet .*`make up`"):
        query(settings, "SELECT * FROM gold.sales_by_day")
    with pytest.raises(SqlError, match="does not parse"):
        query(settings, "SELEC 1")
    with pytest.raises(SqlError, match="only reads; run this on Spark SQL: rapport sql --spark"):
        query(settings, "UPDATE gold.sales_by_day SET orders = 0")
    with pytest.raises(SqlError, match="is not a time"):
        query(settings, "SELECT * FROM gold.sales_by_day TIMESTAMP AS OF 'yesterday'")
