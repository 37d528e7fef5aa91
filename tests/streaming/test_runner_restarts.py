"""Which query failures the stream restarts by itself, and how often."""

from __future__ import annotations

import pytest

from streaming.runner import RestartBudget, explain_failure

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


def test_failures_an_operator_must_act_on_come_with_what_to_do() -> None:
    lost = (
        "[KAFKA_DATA_LOSS.PARTITION_OFFSET_CHANGED] Some data may have been lost because they "
        "are not available in Kafka any more"
    )
    advice = explain_failure(lost)
    assert advice is not None
    assert "RAPPORT_STREAM__FAIL_ON_DATA_LOSS=false" in advice
    assert "docs/reliability.md#retention-overrun" in advice
    full = explain_failure("java.io.IOException: No space left on device")
    assert full is not None
    assert "Free space" in full
    within_a_batch = (
        "KafkaIllegalStateException: Some data may have been lost because they are not "
        "available in Kafka any more"
    )
    assert explain_failure(within_a_batch) == advice
    assert explain_failure("something nobody foresaw") is None
