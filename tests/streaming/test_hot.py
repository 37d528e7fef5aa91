"""The hot query's bookkeeping: where a rebuilt gold starts in Kafka, and whose ops row is whose."""

from __future__ import annotations

import json

import pytest

from rapport.lakehouse.ownership import GOLD_QUERY, REFINE_QUERY, feeding_query, writer_engine
from streaming.hot import starting_offsets
from streaming.metrics import app_id, kafka_lag, query_of

pytestmark = pytest.mark.unit


def test_a_rebuilt_gold_starts_right_after_bronze_and_at_the_earliest_elsewhere() -> None:
    positions = {("orders", 0): 120, ("orders", 2): 7}
    partitions = [("orders", 0), ("orders", 1), ("orders", 2), ("billing", 0)]
    found = json.loads(starting_offsets(positions, partitions) or "")
    assert found == {"orders": {"0": 120, "1": -2, "2": 7}, "billing": {"0": -2}}
    assert starting_offsets({}, partitions) is None  # nothing in bronze: the configured start


def test_app_ids_name_their_query() -> None:
    uuid = "be35a7a2-243f-4c98-ac8b-2f17cf06898a"
    assert query_of(app_id(GOLD_QUERY, uuid)) == GOLD_QUERY
    assert query_of(app_id(REFINE_QUERY, uuid)) == REFINE_QUERY
    assert query_of("history-2026-11-30") is None


def test_each_table_has_one_writer_and_a_query_that_feeds_it() -> None:
    assert writer_engine("gold.sales_by_day") == "delta-rs"
    assert writer_engine("gold.active_customers") == "spark"
    assert writer_engine("silver.orders") == "spark"
    assert feeding_query("gold.sales_by_day") == GOLD_QUERY
    assert feeding_query("gold.active_customers") == REFINE_QUERY


def test_lag_is_the_end_offset_less_the_next_to_read() -> None:
    lag = kafka_lag({("t", 0): 10, ("t", 1): 5}, {("t", 0): 10, ("t", 1): 2})
    assert [p["lag"] for p in lag] == [0, 3]
