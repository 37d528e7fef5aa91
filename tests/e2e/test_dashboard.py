"""The live dashboard in headless Chromium shows the figures gold holds, and follows gold.

A simulated day of the shop goes through the stream's own Refiner (the history load) into
silver and gold; the dashboard runs as `rapport up` starts it (Streamlit, its own port); the
browser finds today's KPIs with gold's values, the charts, the low-stock list, and the
freshness lines; a change to gold appears on the page without a reload. The screenshot is
kept in var/test-artifacts/dashboard.png.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from contracts.catalog import default_catalog
from dashboard.service import DashboardService
from jobs.history import load_days
from lakehouse.settings import Settings
from lakehouse.tables import GOLD_SALES_BY_DAY
from serving.sql import query
from simulator.history import write_history
from simulator.shop import ShopConfig
from simulator.wire import ChaosConfig
from tests.conftest import free_port
from tests.e2e.test_dagster_ui import ARTIFACTS, chromium

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
    report = load_days(spark, settings, [today])
    assert report.refined is not None
    assert report.refined.valid_rows > 0
    return settings


@pytest.fixture
def dashboard(shop_day: Settings) -> Iterator[DashboardService]:
    service = DashboardService(shop_day)
    service.start(timeout_s=90)
    try:
        yield service
    finally:
        service.stop()


def _money(value: Any) -> str:
    return f"{float(value):,.2f}"


def test_dashboard_shows_gold_and_follows_it(dashboard: DashboardService, spark: Any) -> None:
    from playwright.sync_api import expect, sync_playwright

    settings = dashboard.settings
    today = datetime.now(UTC).date().isoformat()
    (sales,) = query(
        settings,
        "SELECT orders, order_value, cancellations FROM gold.sales_by_day "
        f"WHERE event_date = DATE '{today}'",
    ).to_pylist()
    assert sales["orders"] > 0
    (stock,) = query(
        settings, "SELECT sum(on_hand) AS units FROM gold.inventory_current"
    ).to_pylist()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), headless=True)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 2200})
            page.set_default_timeout(DRAWN_WITHIN_MS)
            page.goto(dashboard.url)

            def metric(label: str) -> Any:
                box = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
                return box.locator('[data-testid="stMetricValue"]')

            expect(metric("Orders today")).to_have_text(f"{sales['orders']:,}")
            expect(metric("Revenue today")).to_have_text(_money(sales["order_value"]))
            expect(metric("Cancellations")).to_have_text(f"{sales['cancellations']:,}")
            expect(metric("Units on hand")).to_have_text(f"{int(stock['units']):,}")
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
            expect(metric("Orders today")).to_have_text(f"{sales['orders'] + 1000:,}")
        finally:
            browser.close()
