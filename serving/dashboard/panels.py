"""What each dashboard panel shows: its query over gold (embedded SQL) and its source table.

Kept apart from the Streamlit page so the figures can be tested without a browser, and so
the page stays a layout. Every query reads gold or ops through `serving.sql`, never Spark and
never an operational service. Money comes per currency, as gold keeps it: no query here
adds two currencies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from serving.sql import EmbeddedSql, SqlError


@dataclass(frozen=True)
class TodaySales:
    """Today's sales in one currency (money in that currency)."""

    day: date
    currency: str
    orders: int
    order_value: Decimal
    average_order_value: Decimal | None
    cancellations: int
    net_revenue: Decimal
    complete_up_to: datetime | None


def today_sales(sql: EmbeddedSql, today: date) -> list[TodaySales]:
    """Today's rows of gold.sales_by_day, one per currency, by currency (none before the
    first sale of the day)."""
    rows = sql.rows(
        "SELECT currency, orders, order_value, average_order_value, cancellations, "
        "net_revenue, complete_up_to FROM gold.sales_by_day "
        f"WHERE event_date = DATE '{today.isoformat()}' ORDER BY currency"
    )
    return [
        TodaySales(
            today,
            r["currency"],
            int(r["orders"]),
            Decimal(r["order_value"]),
            Decimal(r["average_order_value"]) if r["average_order_value"] is not None else None,
            int(r["cancellations"]),
            Decimal(r["net_revenue"]),
            r["complete_up_to"],
        )
        for r in rows
    ]


def orders_over_time(sql: EmbeddedSql, since: datetime) -> Any:
    """Orders and value per minute, region, channel and currency since `since` (pandas).

    The value stays gold's decimal: a total on the page is added up from it, never from
    floats; only the chart's bars are drawn from a float copy.
    """
    return sql.query(
        "SELECT minute, region, channel, currency, orders, order_value "
        f"FROM gold.orders_per_minute WHERE minute >= TIMESTAMP '{since:%Y-%m-%d %H:%M:%S}' "
        "ORDER BY minute"
    ).to_pandas()


def active_customers(sql: EmbeddedSql) -> dict[str, int]:
    """Active customers per period, by the catalog's period labels (ACTIVE_PERIODS)."""
    rows = sql.rows("SELECT period, active_customers FROM gold.active_customers")
    return {r["period"]: int(r["active_customers"]) for r in rows}


def signups(sql: EmbeddedSql, since: datetime) -> Any:
    """New customers per hour since `since`."""
    return sql.query(
        "SELECT hour, signups FROM gold.signups_per_hour "
        f"WHERE hour >= TIMESTAMP '{since:%Y-%m-%d %H:%M:%S}' ORDER BY hour"
    ).to_pandas()


def stock_by_warehouse(sql: EmbeddedSql) -> Any:
    return sql.query(
        "SELECT warehouse, CAST(sum(on_hand) AS BIGINT) AS on_hand, count(*) AS skus, "
        "count(*) FILTER (WHERE low_stock) AS low_stock_skus "
        "FROM gold.inventory_current GROUP BY warehouse ORDER BY warehouse"
    ).to_pandas()


def low_stock(sql: EmbeddedSql, limit: int = 20) -> Any:
    return sql.query(
        "SELECT sku, warehouse, on_hand, reorder_point, shortfall FROM gold.low_stock "
        f"ORDER BY shortfall DESC, sku LIMIT {limit}"
    ).to_pandas()


def quality_history(sql: EmbeddedSql, since: date) -> Any:
    """Per table and day of validation: validations, failed blocking checks, failing rows."""
    return sql.query(
        "SELECT validated_date, table_name, count(DISTINCT validation_id) AS validations, "
        "count(*) FILTER (WHERE NOT passed AND blocking) AS failed_checks, "
        "CAST(sum(failing_rows) AS BIGINT) AS failing_rows FROM ops.quality_results "
        f"WHERE validated_date >= DATE '{since.isoformat()}' "
        "GROUP BY validated_date, table_name ORDER BY validated_date, table_name"
    ).to_pandas()


def quality_failures(sql: EmbeddedSql, since: date, limit: int = 20) -> Any:
    return sql.query(
        "SELECT validated_at, table_name, partition, check_name, failing_rows, examples "
        f"FROM ops.quality_results WHERE NOT passed AND validated_date >= DATE "
        f"'{since.isoformat()}' ORDER BY validated_at DESC LIMIT {limit}"
    ).to_pandas()


def safely(read: Any, *args: Any) -> tuple[Any, str | None]:
    """A panel's data, or why it has none yet (a table the stream has not written)."""
    try:
        return read(*args), None
    except SqlError as exc:
        return None, str(exc)


def window_start(now: datetime, minutes: int) -> datetime:
    return (now - timedelta(minutes=minutes)).replace(second=0, microsecond=0, tzinfo=None)
