"""The live dashboard in headless Chromium shows the figures gold holds, and follows gold.

A simulated day of the shop goes through the stream's own Refiner (the history load) into
silver and gold; the dashboard runs as `rapport up` starts it (Streamlit, its own port); the
browser finds today's KPIs with gold's values, each currency on its own, the charts, the
low-stock list, and the freshness lines; a change to gold appears on the page without a
reload. The screenshot is
kept in var/test-artifacts/dashboard.png.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from jobs.history import load_days
from jobs.quality_checks import validate_days
from rapport.contracts.catalog import default_catalog
from rapport.lakehouse.tables import ACTIVE_PERIODS, GOLD_SALES_BY_DAY
from rapport.runtime.ports import free_port
from rapport.settings import Settings
from rapport.simulator.history import write_history
from rapport.simulator.shop import Shop, ShopConfig
from rapport.simulator.wire import ChaosConfig, encode
from serving.dashboard.app import QUALITY_WINDOW_DAYS
from serving.dashboard.dashboard_service import DashboardService
from serving.sql import query
from tests.helpers.browser import ARTIFACTS, chromium
from tests.helpers.streams import times

pytestmark = [pytest.mark.e2e, pytest.mark.spark, pytest.mark.kafka]

#: How long the page may take to draw or redraw what is asserted (ms); it polls.
DRAWN_WITHIN_MS = 45_000


@pytest.fixture
def shop_day(isolated: Callable[..., Settings], schema_registry: Any, spark: Any) -> Settings:
    """Today's simulated orders, signups and stock, refined into silver and gold."""
    settings = isolated()
    settings = settings.model_copy(
        update={"dashboard": settings.dashboard.model_copy(update={"port": free_port()})}
    )
    today = datetime.now(UTC).date()
    write_history(
        Path(settings.landing),
        default_catalog(),
        ShopConfig(seed=7, customers=120, run_tag="dash"),
        ChaosConfig(),
        today,
        1,
        actions_per_day=200,
    )
    # The charts draw the last hour. The day's actions are spread over 24 hours, so which
    # currencies that hour holds depended on the time of day (none in GBP from 15:18 UTC on):
    # the shop's last half hour goes in too, whatever the time.
    days = write_recent(Path(settings.landing), minutes=30)
    report = load_days(spark, settings, sorted({today, *days}))
    assert report.refined is not None
    assert report.refined.valid_rows > 0
    # The quality panel draws ops.quality_results: one validation of today's gold.
    validate_days(spark, settings, GOLD_SALES_BY_DAY, [today])
    return settings


def write_recent(landing: Path, minutes: int) -> set[date]:
    """A second shop's events of the last `minutes`, as landing files; their days."""
    # Seed 9's first 600 actions place orders in all three currencies (seed 8's in two).
    shop = Shop(ShopConfig(seed=9, customers=120, run_tag="dash-now"), default_catalog())
    start = datetime.now(UTC) - timedelta(minutes=minutes)
    step_ms = minutes * 60_000 // 600
    events = [e for _, e in zip(range(600), shop.events(times(start, step_ms)), strict=False)]
    by_day: dict[date, list[bytes]] = {}
    for event in events:
        by_day.setdefault(event.time.date(), []).append(encode(event, {}))
    for day, lines in by_day.items():
        folder = landing / f"date={day.isoformat()}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "events-recent.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    currencies = {e.data["currency"] for e in events if e.contract.event_type == "OrderPlaced"}
    assert currencies == {"EUR", "USD", "GBP"}, currencies  # the seed's choices, not the clock's
    return set(by_day)


@pytest.fixture
def dashboard(shop_day: Settings) -> Iterator[DashboardService]:
    service = DashboardService(shop_day)
    service.start(timeout_s=90)
    try:
        yield service
    finally:
        service.stop()


#: The charts that state a total, and gold's query for it from the window's start.
CHART_TOTALS = {
    "orders": "SELECT CAST(sum(orders) AS BIGINT) AS total FROM gold.orders_per_minute "
    "WHERE minute >= TIMESTAMP '{since}:00'",
    "signups": "SELECT CAST(sum(signups) AS BIGINT) AS total FROM gold.signups_per_hour "
    "WHERE hour >= TIMESTAMP '{since}:00'",
}


def _money(value: Any) -> str:
    return f"{value:,.2f}"  # gold's Decimal, as the page formats it


def test_dashboard_shows_gold_and_follows_it(dashboard: DashboardService, spark: Any) -> None:
    from playwright.sync_api import expect, sync_playwright

    settings = dashboard.settings
    today = datetime.now(UTC).date().isoformat()
    sales = query(
        settings,
        "SELECT currency, orders, order_value, average_order_value, cancellations, net_revenue "
        f"FROM gold.sales_by_day WHERE event_date = DATE '{today}' ORDER BY currency",
    ).to_pylist()
    # The shop sells in EUR, USD and GBP: the page must show each, never a sum of them.
    assert {s["currency"] for s in sales} == {"EUR", "USD", "GBP"}
    assert all(s["orders"] > 0 for s in sales)
    (stock,) = query(
        settings,
        "SELECT sum(on_hand) AS units, count(*) FILTER (WHERE low_stock) AS low "
        "FROM gold.inventory_current",
    ).to_pylist()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), headless=True)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 2200})
            page.set_default_timeout(DRAWN_WITHIN_MS)
            # expect() polls for 5 s unless told: the page's deadline applies to it too.
            expect.set_options(timeout=DRAWN_WITHIN_MS)
            page.goto(dashboard.url)

            def metric(label: str) -> Any:
                box = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
                return box.locator('[data-testid="stMetricValue"]')

            for s in sales:
                c = s["currency"]
                expect(metric(f"Orders today ({c})")).to_have_text(f"{s['orders']:,}")
                expect(metric(f"Revenue today ({c})")).to_have_text(_money(s["order_value"]))
                expect(metric(f"Average order ({c})")).to_have_text(
                    _money(s["average_order_value"])
                )
                expect(metric(f"Cancellations ({c})")).to_have_text(f"{s['cancellations']:,}")
                expect(metric(f"Net revenue ({c})")).to_have_text(_money(s["net_revenue"]))
            expect(
                page.locator('[data-testid="stMetric"]').filter(has_text="Revenue today")
            ).to_have_count(len(sales))
            expect(metric("Units on hand")).to_have_text(f"{int(stock['units']):,}")
            expect(metric("Low-stock items")).to_have_text(f"{int(stock['low']):,}")
            active = {
                r["period"]: r["active_customers"]
                for r in query(
                    settings, "SELECT period, active_customers FROM gold.active_customers"
                ).to_pylist()
            }
            assert set(active) <= {p for p, _ in ACTIVE_PERIODS}  # the catalog's labels only
            for period, _seconds in ACTIVE_PERIODS:
                # A history load leaves the live window empty: the tile then says 0, as gold.
                expect(metric(f"Active, last {period}")).to_have_text(f"{active.get(period, 0):,}")
            # Each chart's total, in the window the page says it drew, equals gold's.
            for what, sql in CHART_TOTALS.items():
                caption = page.get_by_text(re.compile(rf"In this chart, since .* UTC: {what} "))
                expect(caption).to_be_visible()
                shown = caption.inner_text()
                since = re.search(r"since (\S+ \S+) UTC", shown)
                assert since is not None, shown
                (row,) = query(settings, sql.format(since=since.group(1))).to_pylist()
                assert shown.endswith(f"{what} {int(row['total'] or 0):,}"), (shown, row)
            # The order value chart's total: each currency's own sum, to the cent, as gold's.
            caption = page.get_by_text(re.compile(r"In this chart, since .* UTC: order value "))
            expect(caption).to_be_visible()
            shown = caption.inner_text()
            since = re.search(r"since (\S+ \S+) UTC", shown)
            assert since is not None, shown
            values = query(
                settings,
                "SELECT currency, sum(order_value) AS v FROM gold.orders_per_minute "
                f"WHERE minute >= TIMESTAMP '{since.group(1)}:00' GROUP BY currency "
                "ORDER BY currency",
            ).to_pylist()
            assert len(values) == 3, values  # EUR, GBP and USD, never one sum of them
            per_currency = ", ".join(f"{v['currency']} {_money(v['v'])}" for v in values)
            assert shown.endswith(f"order value {per_currency}"), (shown, values)
            signups = query(
                settings, "SELECT CAST(sum(signups) AS BIGINT) AS n FROM gold.signups_per_hour"
            ).to_pylist()[0]["n"]
            assert signups > 0
            expect(metric("New signups, last 24 h")).to_have_text(f"{signups:,}")
            # The quality panel: validations and failed blocking checks of the last 7 days.
            week = datetime.now(UTC).date() - timedelta(days=QUALITY_WINDOW_DAYS)
            window = f"validated_date >= DATE '{week.isoformat()}'"
            (checks,) = query(
                settings,
                "SELECT count(*) AS runs FROM (SELECT DISTINCT validated_date, table_name, "
                f"validation_id FROM ops.quality_results WHERE {window})",
            ).to_pylist()
            (failed,) = query(
                settings,
                "SELECT count(*) AS failed FROM ops.quality_results "
                f"WHERE {window} AND NOT passed AND blocking",
            ).to_pylist()
            checks["failed"] = failed["failed"]
            assert checks["runs"] > 0
            expect(metric("Validations, last 7 days")).to_have_text(f"{checks['runs']:,}")
            expect(metric("Failed gate checks")).to_have_text(f"{checks['failed']:,}")
            # Charts (Vega-Lite) and each panel's freshness line.
            charts = page.locator('[data-testid="stVegaLiteChart"]')
            expect(charts.first).to_be_visible()
            expect(
                page.get_by_text(re.compile(r"gold\.sales_by_day.*complete up to"))
            ).to_be_visible()
            page.screenshot(path=ARTIFACTS / "dashboard.png", full_page=True)

            # Gold changes; the page redraws by itself (no reload) with the new figure.
            location = GOLD_SALES_BY_DAY.location(settings)
            spark.sql(
                f"UPDATE delta.`{location}` SET orders = orders + 1000 "
                f"WHERE event_date = DATE'{today}'"
            )
            for s in sales:
                expect(metric(f"Orders today ({s['currency']})")).to_have_text(
                    f"{s['orders'] + 1000:,}"
                )
        finally:
            browser.close()
