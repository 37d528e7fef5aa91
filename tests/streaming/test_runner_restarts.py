"""Which query failures the stream restarts by itself, and how often."""

from __future__ import annotations

import pytest

from streaming.runner import RestartBudget

pytestmark = pytest.mark.unit

SPARK_55271 = (
    'java.lang.NullPointerException: Cannot invoke "scala.collection.IterableOps.map('
    'scala.Function1)" because the return value of "scala.Option.get()" is null'
)


def test_the_known_kafka_metrics_failure_is_restarted_a_bounded_number_of_times() -> None:
    budget = RestartBudget(limit=2, window_s=600)
    assert budget.allow("bronze_events", SPARK_55271)
    assert budget.allow("bronze_events", SPARK_55271)
    assert not budget.allow("bronze_events", SPARK_55271)
    assert budget.allow("refine_events", SPARK_55271)  # budgets are per query


def test_any_other_failure_stops_the_stream() -> None:
    assert not RestartBudget().allow("refine_events", "registry unreachable")
