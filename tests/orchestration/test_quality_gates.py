"""Quality gates in real Dagster runs on real Spark and Delta: bad silver rows block their day.

Bad rows injected into one day of silver.orders fail its blocking check; that day's daily
aggregate is not computed while another day's is; the alert sensor posts the failure to a
webhook once; fixing the rows and rerunning the day unblocks it and the sensor posts the
recovery. Every verdict is in ops.quality_results.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import dagster as dg
import pytest

from orchestration.definitions import build_definitions
from orchestration.resources import RapportResource
from orchestration.streaming import table_key
from rapport.lakehouse.tables import (
    GOLD_DAILY_SALES,
    OPS_QUALITY_RESULTS,
    SILVER_ORDER_LINES,
    SILVER_ORDERS,
    TableDef,
)
from rapport.settings import Settings, revealed
from tests.helpers.webhook import WebhookReceiver

pytestmark = [pytest.mark.spark, pytest.mark.kafka]

CHECKS = {
    dg.AssetCheckKey(table_key(SILVER_ORDERS), "quality_suite"),
    dg.AssetCheckKey(table_key(SILVER_ORDER_LINES), "quality_suite"),
}


def _orders(day: date, n: int, tag: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """`n` valid orders of one line each on `day`."""
    at = datetime.combine(day, datetime.min.time()) + timedelta(hours=10)
    orders, lines = [], []
    for i in range(n):
        event_id = f"{tag}-{i}"
        price = Decimal("12.50") + i
        common = {"event_id": event_id, "event_time": at, "ingest_time": at, "event_date": day}
        orders.append(
            {
                **common,
                "contract_version": 2,
                "line_count": 1,
                "order_id": f"o-{event_id}",
                "customer_id": "c-1",
                "currency": "EUR",
                "channel": "web",
                "region": "eu-west",
                "warehouse": "WH-AMS",
                "total": price * 2,
                "coupon_code": None,
            }
        )
        lines.append(
            {
                **common,
                "line_number": 1,
                "order_id": f"o-{event_id}",
                "sku": "SKU-00001",
                "quantity": 2,
                "unit_price": price,
                "category": "home",
                "line_amount": price * 2,
            }
        )
    return orders, lines


def _append(spark: Any, settings: Settings, table: TableDef, rows: list[dict[str, Any]]) -> None:
    names = table.schema.fieldNames()
    frame = spark.createDataFrame([tuple(r[c] for c in names) for r in rows], table.schema)
    frame.write.format("delta").mode("append").save(table.location(settings))


def _run(defs: dg.Definitions, instance: dg.DagsterInstance, day: date) -> Any:
    """The daily job for one day, narrowed to daily_sales behind silver's gates (as the UI's
    'materialize selected' would), so the test runs two suites instead of fifteen."""
    job = defs.get_job_def("daily_aggregates").get_subset(
        asset_selection={table_key(GOLD_DAILY_SALES)}, asset_check_selection=CHECKS
    )
    return job.execute_in_process(
        instance=instance, partition_key=day.isoformat(), raise_on_error=False
    )


def _check(result: Any, table: TableDef) -> dg.AssetCheckEvaluation:
    evaluations: list[dg.AssetCheckEvaluation] = result.get_asset_check_evaluations()
    (found,) = [e for e in evaluations if e.asset_key == table_key(table)]
    return found


def _materialized(result: Any) -> set[dg.AssetKey]:
    return {m.asset_key for m in result.get_asset_materialization_events()}


def _revenue(spark: Any, settings: Settings, day: date) -> Decimal | None:
    rows = (
        spark.read.format("delta")
        .load(GOLD_DAILY_SALES.location(settings))
        .where(f"event_date = DATE'{day.isoformat()}' AND currency = 'EUR'")  # every order here
        .groupBy()
        .sum("revenue")
        .collect()
    )
    value = rows[0][0] if rows else None
    return Decimal(str(value)) if value is not None else None


def _evaluate_alerts(defs: dg.Definitions, instance: dg.DagsterInstance, cursor: str | None) -> str:
    sensor = defs.get_sensor_def("rapport_alerts")
    assert defs.resources is not None
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"rapport": defs.resources["rapport"]}
    ) as context:
        result = sensor(context)
    assert isinstance(result, dg.SensorResult)
    assert result.cursor is not None
    return result.cursor


def test_bad_silver_rows_block_their_day_alert_once_and_recover_after_the_fix(
    isolated: Callable[..., Settings], spark: Any, webhook: WebhookReceiver
) -> None:
    base = isolated()
    settings = base.model_copy(
        update={"quality": base.quality.model_copy(update={"alert_webhook_url": webhook.url})}
    )
    defs = build_definitions(
        RapportResource(settings_json=json.dumps(revealed(settings)), register_names=False)
    )
    instance = dg.DagsterInstance.ephemeral()
    today = datetime.now(UTC).date()
    bad_day, good_day = today - timedelta(days=3), today - timedelta(days=2)
    for day, tag in ((bad_day, "a"), (good_day, "b")):
        orders, lines = _orders(day, 4, tag)
        _append(spark, settings, SILVER_ORDERS, orders)
        _append(spark, settings, SILVER_ORDER_LINES, lines)

    # Bad rows in one day: a region no contract knows, and a total that is not its lines'.
    (bad,), _ = _orders(bad_day, 1, "bad")
    bad = {**bad, "region": "atlantis", "total": Decimal("-1.00")}
    _append(spark, settings, SILVER_ORDERS, [bad])

    blocked = _run(defs, instance, bad_day)
    verdict = _check(blocked, SILVER_ORDERS)
    assert not verdict.passed
    assert verdict.severity == dg.AssetCheckSeverity.ERROR
    failing: Any = verdict.metadata["failing_rows"].value
    assert failing["region_in_contract_values"] == 1
    assert failing["total_not_negative"] == 1
    assert failing["total_equals_sum_of_lines"] == 1
    examples: Any = verdict.metadata["examples"].value
    assert examples["region_in_contract_values"] == ["atlantis"]
    assert _check(blocked, SILVER_ORDER_LINES).passed
    assert table_key(GOLD_DAILY_SALES) not in _materialized(blocked)
    assert _revenue(spark, settings, bad_day) is None

    # Another day's partition is not held back by it.
    clean = _run(defs, instance, good_day)
    assert clean.success
    assert table_key(GOLD_DAILY_SALES) in _materialized(clean)
    assert _revenue(spark, settings, good_day) == sum(
        (Decimal("25.00") + 2 * i for i in range(4)), Decimal(0)
    )

    # The alert: once, however often the sensor looks.
    cursor = _evaluate_alerts(defs, instance, None)
    cursor = _evaluate_alerts(defs, instance, cursor)
    gate = f"gate:silver.orders:{bad_day.isoformat()}"
    breach = webhook.wait_for(10, key=gate, status="breach")
    assert "region_in_contract_values (1 rows)" in breach["message"]
    assert breach["text"].startswith(":red_circle: Rapport gate BREACH")
    assert len(webhook.notices(key=gate)) == 1

    # Fix the rows, rerun the day: the gate passes, the aggregate is written, it recovers.
    spark.sql(f"DELETE FROM delta.`{SILVER_ORDERS.location(settings)}` WHERE event_id = 'bad-0'")
    fixed = _run(defs, instance, bad_day)
    assert fixed.success
    assert _check(fixed, SILVER_ORDERS).passed
    assert table_key(GOLD_DAILY_SALES) in _materialized(fixed)
    assert _revenue(spark, settings, bad_day) == sum(
        (Decimal("25.00") + 2 * i for i in range(4)), Decimal(0)
    )
    _evaluate_alerts(defs, instance, cursor)
    webhook.wait_for(10, key=gate, status="recovered")
    assert len(webhook.notices(key=gate)) == 2

    # The history: every validation, failing counts included, queryable with SQL.
    history = spark.read.format("delta").load(OPS_QUALITY_RESULTS.location(settings))
    orders_history = history.where(
        f"table_name = 'silver.orders' AND partition = '{bad_day.isoformat()}'"
    )
    verdicts = {
        r.validation_id: r.passed
        for r in orders_history.groupBy("validation_id")
        .agg({"passed": "min"})
        .withColumnRenamed("min(passed)", "passed")
        .collect()
    }
    assert sorted(verdicts.values()) == [False, True]
    region = orders_history.where("check_name = 'region_in_contract_values' AND NOT passed")
    assert [r.failing_rows for r in region.collect()] == [1]
