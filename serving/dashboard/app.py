"""The live dashboard: `streamlit run serving/dashboard/app.py` (started by `make run` on :8501).

A layout only: the figures come from `serving.dashboard.panels` (gold through the embedded SQL) and
the freshness lines from `quality.freshness` (the stream's ops table and Kafka's offsets).
The page redraws its live part every few seconds by itself.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import streamlit as st

from rapport.contracts.currency import NO_CURRENCY
from rapport.lakehouse.tables import ACTIVE_PERIODS
from rapport.settings import Settings, get_settings
from serving.dashboard import panels
from serving.sql import EmbeddedSql

#: Seconds between redraws (the stream writes gold every batch; Kafka is probed each time).
REFRESH_S = 5
ORDERS_WINDOW_MIN = 60
SIGNUPS_WINDOW_H = 24
QUALITY_WINDOW_DAYS = 7


@st.cache_data(ttl=REFRESH_S, show_spinner=False)
def _freshness() -> dict[str, str]:
    """Each stream table's 'complete up to T, n s behind, SLA met' line, once per redraw."""
    from quality.freshness import stream_freshness
    from quality.slas import load_slas

    settings = get_settings()
    measured = stream_freshness(settings, load_slas(settings.quality.sla_file))
    return {f.table: f.describe() for f in measured}


def _fresh(table: str) -> None:
    st.caption(f"`{table}`: {_freshness().get(table, 'no SLA declared')}")


def _missing(reason: str | None) -> bool:
    if reason:
        st.info(reason)
        return True
    return False


#: Every time axis of the page reads in 24-hour UTC, as the captions do.
TIME_FORMAT = "%H:%M"


def _bars(
    frame: Any, x: str, y: str, color: str | None = None, *, temporal: bool, stack: bool = True
) -> None:
    """A bar chart of `y` by `x` (and `color`): time in 24-hour UTC, one total per bar group.

    Side by side (stack=False) for money in several currencies: a stack would draw a sum.
    """
    encoding: dict[str, Any] = {
        "x": {"field": x, "type": "temporal", "scale": {"type": "utc"},
              "axis": {"format": TIME_FORMAT, "title": f"{x} (UTC)", "labelAngle": 0}}
        if temporal
        else {"field": x, "type": "nominal", "axis": {"labelAngle": 0}},
        "y": {"field": y, "type": "quantitative", "aggregate": "sum", "title": y},
    }  # fmt: skip
    if color is not None:
        encoding["color"] = {"field": color, "type": "nominal"}
        if not stack:
            encoding["xOffset"] = {"field": color}
    spec = {"mark": {"type": "bar", "tooltip": True}, "encoding": encoding}
    st.vega_lite_chart(frame, spec, width="stretch")


def _total(since: Any, what: str, value: Any) -> None:
    """The chart's total under it, so a reader (and the page test) can check it against gold."""
    st.caption(f"In this chart, since {since:%Y-%m-%d %H:%M} UTC: {what} {value}")


def _money(value: Any) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _per_currency(frame: Any, column: str) -> str:
    """'EUR 1,234.50, GBP ...': a money column's decimals added up within each currency."""
    totals: dict[str, Decimal] = {}
    for currency, value in zip(frame["currency"], frame[column], strict=True):
        totals[currency] = totals.get(currency, Decimal(0)) + value
    return ", ".join(f"{c} {_money(v)}" for c, v in sorted(totals.items()))


def _sales(sql: EmbeddedSql, now: datetime) -> None:
    st.subheader("Today's sales")
    st.caption("One row per currency: money is never added across currencies.")
    sales, why = panels.safely(panels.today_sales, sql, now.date())
    if not _missing(why):
        if not sales:
            st.info("No sales today yet.")
        for day in sales:
            c = day.currency
            if c == NO_CURRENCY:  # cancellations whose event stated no currency (v1)
                st.metric(f"Cancellations, currency not stated ({c})", f"{day.cancellations:,}")
                continue
            cols = st.columns(5)
            cols[0].metric(f"Orders today ({c})", f"{day.orders:,}")
            cols[1].metric(f"Revenue today ({c})", _money(day.order_value))
            cols[2].metric(f"Average order ({c})", _money(day.average_order_value))
            cols[3].metric(f"Cancellations ({c})", f"{day.cancellations:,}")
            cols[4].metric(f"Net revenue ({c})", _money(day.net_revenue))
    _fresh("gold.sales_by_day")


def _orders(sql: EmbeddedSql, now: datetime) -> None:
    st.subheader(f"Orders, last {ORDERS_WINDOW_MIN} minutes")
    since = panels.window_start(now, ORDERS_WINDOW_MIN)
    frame, why = panels.safely(panels.orders_over_time, sql, since)
    if not _missing(why):
        if frame.empty:
            st.info("No orders in this window yet.")
        else:
            left, right = st.columns(2)
            with left:
                st.markdown("**Orders per minute, by region**")
                _bars(frame, "minute", "orders", "region", temporal=True)
                _total(since, "orders", f"{int(frame['orders'].sum()):,}")
            with right:
                st.markdown("**Order value per minute, by currency** (each in its own)")
                bars = frame.assign(order_value=frame["order_value"].astype(float))
                _bars(bars, "minute", "order_value", "currency", temporal=True, stack=False)
                _total(since, "order value", _per_currency(frame, "order_value"))
    _fresh("gold.orders_per_minute")


def _customers(sql: EmbeddedSql, now: datetime) -> None:
    st.subheader("Customers")
    active, why = panels.safely(panels.active_customers, sql)
    if not _missing(why):
        cols = st.columns(len(ACTIVE_PERIODS))
        for col, (period, _seconds) in zip(cols, ACTIVE_PERIODS, strict=True):
            col.metric(f"Active, last {period}", f"{active.get(period, 0):,}")
    _fresh("gold.active_customers")
    since = (now - timedelta(hours=SIGNUPS_WINDOW_H)).replace(tzinfo=None)
    frame, why = panels.safely(panels.signups, sql, since)
    if not _missing(why):
        st.metric(f"New signups, last {SIGNUPS_WINDOW_H} h", f"{int(frame['signups'].sum()):,}")
        if not frame.empty:
            _bars(frame, "hour", "signups", temporal=True)
            _total(since, "signups", f"{int(frame['signups'].sum()):,}")
    _fresh("gold.signups_per_hour")


def _inventory(sql: EmbeddedSql) -> None:
    st.subheader("Inventory")
    stock, why = panels.safely(panels.stock_by_warehouse, sql)
    if not _missing(why):
        cols = st.columns(2)
        cols[0].metric("Units on hand", f"{int(stock['on_hand'].sum()):,}")
        cols[1].metric("Low-stock items", f"{int(stock['low_stock_skus'].sum()):,}")
        if not stock.empty:
            _bars(stock, "warehouse", "on_hand", temporal=False)
    low, why = panels.safely(panels.low_stock, sql)
    if not _missing(why):
        st.markdown("**Low stock** (below the reorder point, largest shortfall first)")
        st.dataframe(low, hide_index=True, width="stretch")
    _fresh("gold.inventory_current")


def _quality(sql: EmbeddedSql, now: datetime) -> None:
    st.subheader("Data quality")
    since = now.date() - timedelta(days=QUALITY_WINDOW_DAYS)
    history, why = panels.safely(panels.quality_history, sql, since)
    if _missing(why):
        return
    if history.empty:
        st.info("No validations in the last week yet (they run with the daily and hourly jobs).")
        return
    cols = st.columns(2)
    cols[0].metric("Validations, last 7 days", f"{int(history['validations'].sum()):,}")
    cols[1].metric("Failed gate checks", f"{int(history['failed_checks'].sum()):,}")
    by_day = history.assign(validated_date=history["validated_date"].astype(str))  # ISO days
    _bars(by_day, "validated_date", "failed_checks", "table_name", temporal=False)
    failures, why = panels.safely(panels.quality_failures, sql, since)
    if not _missing(why) and not failures.empty:
        st.markdown("**Latest failures**")
        st.dataframe(failures, hide_index=True, width="stretch")


def _page(settings: Settings) -> None:
    now = datetime.now(UTC)
    sql = EmbeddedSql(settings)
    try:
        st.caption(f"Updated {now:%Y-%m-%d %H:%M:%S} UTC; redraws every {REFRESH_S} s.")
        _sales(sql, now)
        _orders(sql, now)
        left, right = st.columns(2)
        with left:
            _customers(sql, now)
        with right:
            _inventory(sql)
        _quality(sql, now)
    finally:
        sql.close()


def main() -> None:
    st.set_page_config(page_title="Rapport: live reports", layout="wide")
    st.title("Rapport: sales, customers and stock, live")
    live: Any = st.fragment(run_every=f"{REFRESH_S}s")(_page)
    live(get_settings())


if __name__ == "__main__":  # streamlit runs the page as __main__; importing it draws nothing
    main()
