"""docs/quality.md is generated from the rules and the SLA file and must not go stale."""

from __future__ import annotations

import pytest

from quality.docs import QUALITY_MD, SLA_FILE, main, render
from quality.rules import CHECKED_TABLES, rules_for
from quality.slas import load_slas

pytestmark = pytest.mark.unit


def test_quality_md_is_current() -> None:
    assert QUALITY_MD.read_text() == render(load_slas(SLA_FILE)), (
        "docs/quality.md is stale: run `uv run python -m quality.docs`"
    )
    assert main(["--check"]) == 0


def test_every_check_and_sla_is_listed() -> None:
    text = render(load_slas(SLA_FILE))
    for table in CHECKED_TABLES:
        assert f"### {table.qualified_name} " in text
        for rule in rules_for(table):
            assert f"| `{rule.name}` |" in text
    assert "| gold.sales_by_day | an event is in it at most 15 s" in text
    assert "| gold.active_customers | an event is in it at most 120 s" in text
    assert "| gold.daily_sales | day D's partition ready by 01:00 UTC" in text
