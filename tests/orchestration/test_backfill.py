"""A history backfill through Dagster, on real Spark and Delta: equal to the ledger, idempotent."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from orchestration.definitions import build_definitions
from orchestration.resources import RapportResource
from rapport.contracts.catalog import default_catalog
from rapport.lakehouse.tables import (
    BRONZE_EVENTS,
    BRONZE_QUARANTINE,
    DAILY_TABLES,
    GOLD_DAILY_BILLING,
    GOLD_DAILY_CUSTOMERS,
    GOLD_DAILY_INVENTORY,
    GOLD_DAILY_SALES,
    GOLD_SALES_BY_DAY,
    OPS_LATE_EVENTS,
    OPS_RECONCILIATION,
    SILVER_ORDERS,
    SILVER_TABLES,
    TableDef,
)
from rapport.settings import Settings, revealed
from rapport.simulator.history import write_history
from rapport.simulator.shop import ShopConfig
from rapport.simulator.wire import ChaosConfig

pytestmark = [pytest.mark.spark, pytest.mark.kafka]

DAYS = 3
#: Columns stamped at write time: they differ between two runs by design.
VOLATILE = {"computed_at", "updated_at", "ingest_time", "quarantined_at", "checked_at"}


def _definitions(settings: Settings) -> dg.Definitions:
    return build_definitions(
        RapportResource(settings_json=json.dumps(revealed(settings)), register_names=False)
    )


def _run(
    defs: dg.Definitions,
    job: str,
    first: date,
    last: date,
    only: set[dg.AssetKey] | None = None,
) -> dg.ExecuteInProcessResult:
    """One run over a partition range, as a single-run backfill launches it; `only` runs
    just those assets and none of the quality checks (they write ops.quality_results alone,
    and test_quality_gates.py proves them)."""
    job_def = defs.get_job_def(job)
    if only is not None:
        job_def = job_def.get_subset(asset_selection=only, asset_check_selection=set())
    return job_def.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        tags={
            "dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat(),
        },
    )


def _rows(spark: Any, settings: Settings, table: TableDef) -> list[tuple[Any, ...]]:
    frame = spark.read.format("delta").load(table.location(settings))
    kept = [c for c in frame.columns if c not in VOLATILE]
    return sorted((tuple(r) for r in frame.select(*kept).collect()), key=repr)


def _money(value: Any) -> Decimal:
    return Decimal(str(value))


@pytest.fixture
def history(
    isolated: Callable[..., Settings], schema_registry: Any
) -> tuple[Settings, dict[str, Any], date]:
    settings = isolated()
    first = datetime.now(UTC).date() - timedelta(days=DAYS + 1)
    ledger = write_history(
        Path(settings.landing),
        default_catalog(),
        ShopConfig(seed=21, customers=150, run_tag="hist"),
        ChaosConfig(duplicates=0.03, out_of_order=0.03, malformed=0.01),
        first,
        DAYS,
        actions_per_day=150,
    )
    return settings, ledger.expected(), first


def test_backfill_equals_the_ledger_in_one_run_a_rerun_changes_nothing_reconciliation_fixes(
    history: tuple[Settings, dict[str, Any], date], spark: Any
) -> None:
    settings, expected, first = history
    last = first + timedelta(days=DAYS - 1)
    defs = _definitions(settings)
    for key in defs.resolve_asset_graph().materializable_asset_keys:
        policy = defs.resolve_assets_def(key).backfill_policy
        assert policy is not None, key
        assert policy.max_partitions_per_run is None, key

    assert _run(defs, "history_backfill", first, last).success
    per_day = expected["per_day"]
    # Money per day and currency, as gold keeps it: (day, currency) -> figures.
    sales_by_day = {
        (day, currency): figures
        for day, by_currency in expected["sales_by_day"].items()
        for currency, figures in by_currency.items()
    }
    assert {c for _, c in sales_by_day} == {"EUR", "USD", "GBP"}

    # Silver and the stream's gold, loaded through the stream's own code.
    orders = spark.read.format("delta").load(SILVER_ORDERS.location(settings))
    counted = {
        (str(r[0]), r[1]): r[2] for r in orders.groupBy("event_date", "currency").count().collect()
    }
    assert counted == {k: f["orders"] for k, f in sales_by_day.items() if f["orders"]}
    quarantined = spark.read.format("delta").load(BRONZE_QUARANTINE.location(settings)).count()
    assert quarantined == sum(expected["malformed_by_reason"].values()) > 0
    gold = {(str(r.event_date), r.currency): r for r in _load(spark, settings, GOLD_SALES_BY_DAY)}
    assert set(gold) == set(sales_by_day)
    for group, figures in sales_by_day.items():
        assert gold[group].orders == figures["orders"], group
        assert _money(gold[group].order_value) == _money(figures["order_value"]), group
        assert gold[group].cancellations == figures["cancellations"], group

    # The daily aggregates.
    sales: dict[tuple[str, str], Decimal] = {}
    for r in _load(spark, settings, GOLD_DAILY_SALES):
        day_currency = (str(r.event_date), r.currency)
        sales[day_currency] = sales.get(day_currency, Decimal(0)) + _money(r.revenue)
    assert sales == {k: _money(f["order_value"]) for k, f in sales_by_day.items() if f["orders"]}
    customers = {str(r.event_date): r for r in _load(spark, settings, GOLD_DAILY_CUSTOMERS)}
    for day, figures in per_day.items():
        assert customers[day].signups == figures["signups"], day
        assert customers[day].active_customers == figures["active_customers"], day
    billing = {
        (str(r.event_date), r.currency): r for r in _load(spark, settings, GOLD_DAILY_BILLING)
    }
    billed = {
        k: f
        for k, f in sales_by_day.items()
        if f["invoiced_amount"] != "0.00" or f["payments"] or f["refunds"]
    }
    assert set(billing) == set(billed)
    for group, figures in billed.items():
        assert _money(billing[group].invoiced_amount) == _money(figures["invoiced_amount"]), group
        assert billing[group].payments == figures["payments"], group
        assert _money(billing[group].paid_amount) == _money(figures["payment_amount"]), group
        assert billing[group].refunds == figures["refunds"], group
        assert _money(billing[group].refunded_amount) == _money(figures["refund_amount"]), group
    closing: dict[tuple[str, str], tuple[date, int]] = {}
    for r in _load(spark, settings, GOLD_DAILY_INVENTORY):
        item = (r.sku, r.warehouse)
        if item not in closing or r.event_date > closing[item][0]:
            closing[item] = (r.event_date, r.closing_on_hand)
    assert {k: v[1] for k, v in closing.items()} == {
        (i["sku"], i["warehouse"]): i["on_hand"] for i in expected["inventory_on_hand"]
    }
    checks = _load(spark, settings, OPS_RECONCILIATION)
    assert checks
    assert all(r.matches for r in checks)

    # The same backfill again: no row of any table changes.
    tables = (BRONZE_EVENTS, BRONZE_QUARANTINE, *SILVER_TABLES, GOLD_SALES_BY_DAY, *DAILY_TABLES)
    before = {t.qualified_name: _rows(spark, settings, t) for t in tables}
    writers = set(defs.resolve_job_def("history_backfill").asset_layer.selected_asset_keys)
    assert _run(defs, "history_backfill", first, last, only=writers).success
    after = {t.qualified_name: _rows(spark, settings, t) for t in tables}
    for name, rows in before.items():
        assert after[name] == rows, name

    # Reconciliation: a wrong gold figure is reported with its size, and corrected.
    location = GOLD_SALES_BY_DAY.location(settings)
    spark.sql(f"UPDATE delta.`{location}` SET orders = orders + 7 WHERE event_date = '{first}'")
    reconcile = {dg.AssetKey([OPS_RECONCILIATION.layer, OPS_RECONCILIATION.name])}
    assert _run(defs, "daily_aggregates", first, first, only=reconcile).success
    wrong = [r for r in _load(spark, settings, OPS_RECONCILIATION) if not r.matches]
    # Every currency of that day was changed, so each is reported on its own.
    currencies = sorted(c for d, c in sales_by_day if d == first.isoformat())
    assert sorted((r.currency, r.figure, r.difference, r.corrected) for r in wrong) == [
        (c, "orders", 7.0, True) for c in currencies
    ]
    fixed = [r for r in _load(spark, settings, GOLD_SALES_BY_DAY) if r.event_date == first]
    assert {r.currency: r.orders for r in fixed} == {
        c: sales_by_day[first.isoformat(), c]["orders"] for c in currencies
    }


def test_late_data_sensor_requests_the_days_late_events_touched(
    isolated: Callable[..., Settings], spark: Any
) -> None:
    settings = isolated()
    defs = _definitions(settings)
    today = datetime.now(UTC).date()
    days = [today - timedelta(days=3), today - timedelta(days=1)]
    recorded = datetime.now(UTC).replace(tzinfo=None)
    rows = [
        (f"late-{i}", "OrderPlaced", datetime.combine(day, datetime.min.time()),
         recorded, recorded, 7200.0, recorded, day)
        for i, day in enumerate([*days, days[0], today])
    ]  # fmt: skip
    frame = spark.createDataFrame(rows, OPS_LATE_EVENTS.schema)
    frame.write.format("delta").mode("append").save(OPS_LATE_EVENTS.location(settings))

    sensor = defs.get_sensor_def("late_events_sensor")
    first = sensor(dg.build_sensor_context(resources={"rapport": _resource(settings)}))
    assert isinstance(first, dg.SensorResult)
    # Today is not over, so not a partition yet; each past day once.
    assert sorted(str(r.partition_key) for r in first.run_requests or []) == [
        d.isoformat() for d in days
    ]
    again = sensor(
        dg.build_sensor_context(cursor=first.cursor, resources={"rapport": _resource(settings)})
    )
    assert isinstance(again, dg.SensorResult)
    assert not again.run_requests


def _resource(settings: Settings) -> RapportResource:
    return RapportResource(settings_json=json.dumps(revealed(settings)), register_names=False)


def _load(spark: Any, settings: Settings, table: TableDef) -> list[Any]:
    return list(spark.read.format("delta").load(table.location(settings)).collect())
