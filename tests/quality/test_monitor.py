"""From measurements to breaches: SLAs, gates and deadlines."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from quality.freshness import Freshness, behind_seconds
from quality.monitor import deadline_breaches, gate_breaches, sla_breaches
from quality.results import GateVerdict
from quality.slas import DailySla

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_behind_is_the_age_of_the_oldest_waiting_event_and_zero_when_none_waits() -> None:
    ends = {("t", 0): 10, ("t", 1): 5}
    waiting = {("t", 0): datetime(2026, 11, 27, 11, 59, tzinfo=UTC)}
    assert behind_seconds(NOW, ends, {("t", 0): 7, ("t", 1): 5}, waiting) == 60
    assert behind_seconds(NOW, ends, {("t", 0): 10, ("t", 1): 5}, {}) == 0


def _fresh(behind: float | None) -> Freshness:
    return Freshness("gold.sales_by_day", NOW, behind, 60, None, None, "Kafka down")


def test_sla_breach_only_when_measured_and_over() -> None:
    breaches, _observed = sla_breaches([_fresh(61)])
    assert [b.key for b in breaches] == ["sla:gold.sales_by_day"]
    assert "61 s behind, SLA 60 s BREACHED" in breaches[0].message
    assert sla_breaches([_fresh(60)]) == ([], {"sla:gold.sales_by_day"})
    assert sla_breaches([_fresh(None)]) == ([], set())


def test_gate_breach_names_the_checks_and_rows() -> None:
    failed = GateVerdict(
        "silver.orders", "2026-11-26", False, NOW, {"region_in_contract_values": 3}
    )
    breaches, _observed = gate_breaches([failed])
    assert breaches[0].key == "gate:silver.orders:2026-11-26"
    assert "region_in_contract_values (3 rows)" in breaches[0].message


def test_deadline_breach_until_the_partition_is_materialized_even_days_later() -> None:
    sla = DailySla("gold.daily_sales", time(1, 0), "gold.daily_*")
    breaches, _ = deadline_breaches([sla], {}, NOW, date(2026, 1, 1))
    assert [b.key for b in breaches] == ["deadline:gold.daily_sales:2026-11-26"]
    later = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    done = {"gold.daily_sales": {"2026-11-26", "2026-11-27"}}
    breaches, observed = deadline_breaches(
        [sla], done, later, date(2026, 1, 1), ["deadline:gold.daily_sales:2026-11-26"]
    )
    assert breaches == []
    assert "deadline:gold.daily_sales:2026-11-26" in observed
    assert deadline_breaches([sla], {}, NOW, date(2026, 11, 27)) == ([], set())
