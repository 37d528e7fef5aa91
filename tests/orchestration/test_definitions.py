"""The Dagster code location loads, lazily, with the stream-fed assets in one lineage."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest

from rapport.settings import PROJECT_ROOT

pytestmark = pytest.mark.unit


def test_definitions_build_with_the_streaming_lineage() -> None:
    from orchestration.definitions import defs

    built = defs()
    graph = built.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"kafka/events", "bronze/events"} <= keys
    bronze = graph.get(dg.AssetKey(["bronze", "events"]))
    assert dg.AssetKey(["kafka", "events"]) in bronze.parent_keys


def test_importing_definitions_starts_no_spark() -> None:
    code = (
        "import sys, orchestration.definitions; "
        "assert 'pyspark.sql.session' not in sys.modules or "
        "__import__('pyspark.sql').sql.SparkSession._instantiatedSession is None"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PROJECT_ROOT)


def test_workspace_points_at_the_code_location() -> None:
    text = (PROJECT_ROOT / "workspace.yaml").read_text()
    assert "orchestration.definitions" in text


def test_one_graph_from_kafka_to_the_daily_aggregates() -> None:
    from orchestration.definitions import build_definitions
    from rapport.lakehouse.tables import DAILY_TABLES, TABLES

    built = build_definitions()
    graph = built.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    tables = {t.qualified_name.replace(".", "/") for t in TABLES}
    assert keys == tables | {"kafka/events", "landing/history", "batch/history_load"}

    def ancestors(key: str) -> set[str]:
        found: set[str] = set()
        todo = [dg.AssetKey(key.split("/"))]
        while todo:
            for parent in graph.get(todo.pop()).parent_keys:
                if parent.to_user_string() not in found:
                    found.add(parent.to_user_string())
                    todo.append(parent)
        return found

    for table in DAILY_TABLES:
        lineage = ancestors(table.qualified_name.replace(".", "/"))
        assert {"kafka/events", "bronze/events", "batch/history_load"} <= lineage, table
    assert "silver/orders" in ancestors("gold/orders_per_minute")


def test_batch_assets_backfill_in_one_run_and_automation_is_declared() -> None:
    from orchestration.definitions import build_definitions

    built = build_definitions()
    graph = built.resolve_asset_graph()
    for key in graph.materializable_asset_keys:
        policy = built.resolve_assets_def(key).backfill_policy
        assert policy is not None, key
        assert policy.max_partitions_per_run is None, key
    assert {s.name for s in built.schedules or []} == {
        "daily_aggregates_yesterday",
        "stream_quality_hourly",
        "table_maintenance_nightly",
    }
    assert [s.name for s in built.sensors or []] == [
        "late_events_sensor",
        "observe_stream",
        "rapport_alerts",
    ]
    # The stream is observed by a sensor: no job, so no run a minute in the Runs list.
    assert "observe_stream" not in {j.name for j in built.jobs or []}


def test_every_checked_table_is_gated_and_silver_gates_the_daily_runs() -> None:
    from orchestration.definitions import build_definitions
    from quality.rules import CHECKED_TABLES

    built = build_definitions()
    graph = built.resolve_asset_graph()
    checks = {k.asset_key.to_user_string(): k for k in graph.asset_check_keys}
    assert set(checks) == {t.qualified_name.replace(".", "/") for t in CHECKED_TABLES}
    for key in checks.values():
        assert key.name == "quality_suite"
        assert graph.get_check_spec(key).blocking, key

    def checked_in(job: str) -> set[str]:
        selected = built.resolve_job_def(job).asset_layer.asset_graph.asset_check_keys
        return {k.asset_key.to_user_string() for k in selected}

    silver = {k for k in checks if k.startswith("silver/")}
    daily = {k for k in checks if k.startswith("gold/daily") or k == "gold/cohort_retention"}
    assert checked_in("daily_aggregates") == silver | daily
    assert checked_in("history_backfill") == silver | daily
    assert checked_in("stream_quality") == {k for k in checks if k not in daily}


def test_every_table_with_an_sla_has_a_freshness_policy() -> None:
    from orchestration.definitions import build_definitions
    from quality.slas import DAILY_SLA_TABLES, STREAM_SLA_TABLES

    built = build_definitions()
    graph = built.resolve_asset_graph()
    for table in (*STREAM_SLA_TABLES, *DAILY_SLA_TABLES):
        node = graph.get(dg.AssetKey(table.qualified_name.split(".")))
        assert node.freshness_policy is not None, table.qualified_name
    # quality/slas.yaml: gold 15 s behind Kafka, plus the minute Dagster's window allows.
    sales = graph.get(dg.AssetKey(["gold", "sales_by_day"])).freshness_policy
    assert sales == dg.FreshnessPolicy.time_window(fail_window=timedelta(seconds=75))
    active = graph.get(dg.AssetKey(["gold", "active_customers"])).freshness_policy
    assert active == dg.FreshnessPolicy.time_window(fail_window=timedelta(seconds=180))


def test_the_observation_sensor_observes_every_stream_table_without_a_run(tmp_path: Path) -> None:
    """One observation per stream table, reported by the sensor itself: no run requested."""
    import json

    from orchestration.definitions import build_definitions
    from orchestration.resources import RapportResource
    from orchestration.streaming import STREAM_TABLES
    from rapport.settings import Settings, revealed

    settings = Settings(state_dir=tmp_path)
    built = build_definitions(RapportResource(settings_json=json.dumps(revealed(settings))))
    sensor = built.get_sensor_def("observe_stream")
    assert built.resources is not None
    with dg.build_sensor_context(
        instance=dg.DagsterInstance.ephemeral(), resources={"rapport": built.resources["rapport"]}
    ) as context:
        result = sensor(context)
    assert isinstance(result, dg.SensorResult)
    assert not result.run_requests
    observed = {e.asset_key.to_user_string() for e in result.asset_events}
    assert observed == {t.qualified_name.replace(".", "/") for t in STREAM_TABLES}
    assert all(isinstance(e, dg.AssetObservation) for e in result.asset_events)
