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
