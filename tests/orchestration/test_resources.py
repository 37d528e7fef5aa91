"""The run's Spark resource: a run on a new lakehouse finds every table created."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orchestration.resources import RapportResource
from rapport.lakehouse.tables import TABLES
from rapport.settings import revealed
from tests.helpers.settings import SettingsFactory

pytestmark = pytest.mark.spark


def test_a_run_before_the_stream_ever_wrote_finds_every_table(
    make_settings: SettingsFactory, spark: Any
) -> None:
    from delta.tables import DeltaTable

    fresh = make_settings("fresh-lakehouse")
    resource = RapportResource(settings_json=json.dumps(revealed(fresh)), register_names=False)
    session = resource.spark()
    assert session is spark  # the process's one session, not a second one
    missing = [
        t.qualified_name for t in TABLES if not DeltaTable.isDeltaTable(session, t.location(fresh))
    ]
    assert missing == []


@pytest.fixture
def heaps(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The heap of every JVM a run would start (get_spark recorded, not called)."""
    import rapport.lakehouse.spark as lakehouse_spark

    started: list[str] = []

    def fake_get_spark(settings: Any, **_: Any) -> Any:
        started.append(settings.spark.driver_memory)
        return object()

    monkeypatch.setattr(lakehouse_spark, "get_spark", fake_get_spark)
    return started


@pytest.mark.unit
def test_the_first_caller_sets_the_runs_heap(
    make_settings: SettingsFactory, heaps: list[str]
) -> None:
    """A run's first session sets its heap; a run has one JVM, so later calls keep it."""
    fresh = make_settings("heap-of-the-run")
    resource = RapportResource(settings_json=json.dumps(revealed(fresh)))
    resource.spark(driver_memory="700m")
    resource.spark()
    assert heaps == ["700m", fresh.spark.driver_memory]


@pytest.mark.unit
def test_quality_runs_use_the_sql_server_or_say_how_not_to(
    make_settings: SettingsFactory, heaps: list[str]
) -> None:
    """On: through Spark Connect, and a clear error when the server is down. Off: own JVM."""
    from rapport.runtime.processes import ServiceError

    on = make_settings("quality-on", serving={"enabled": True})
    with pytest.raises(ServiceError, match="RAPPORT_QUALITY__THROUGH_SQL_SERVER=false"):
        RapportResource(settings_json=json.dumps(revealed(on))).checks_spark()
    assert heaps == []  # no JVM of its own behind the user's back
    off = make_settings("quality-off", quality={"through_sql_server": False})
    RapportResource(settings_json=json.dumps(revealed(off))).checks_spark()
    assert heaps == [off.quality.driver_memory]
