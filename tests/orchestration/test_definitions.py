"""The Dagster code location loads, lazily, with the stream-fed assets in one lineage."""

from __future__ import annotations

import subprocess
import sys

import dagster as dg
import pytest

from lakehouse.settings import PROJECT_ROOT

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
