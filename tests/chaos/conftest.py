"""The fault-injection suite: each scenario counts every event against the simulator's ledger.

`make test` runs every scenario in its bounded form; `make chaos` (RAPPORT_CHAOS=full) runs
the full one (20 kills instead of 3, longer loads, and the scenarios of minutes marked
full_chaos). The `chaos_report` fixture records each scenario's counts; the table is
printed at the end of the run and kept in var/chaos-report.json.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import pytest

from tests.helpers.chaos import COLUMNS, FULL, REPORT_FILE, RESULTS, Report
from tests.helpers.ledger_checks import Tally


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Scenarios of minutes (marked full_chaos) belong to `make chaos`, not the test suite."""
    if FULL:
        return
    later = [item for item in items if item.get_closest_marker("full_chaos")]
    if later:
        config.hook.pytest_deselected(items=later)
        items[:] = [item for item in items if not item.get_closest_marker("full_chaos")]


@pytest.fixture
def chaos_report(request: pytest.FixtureRequest) -> Report:
    """Record one scenario's counts (a Tally) and what else it checked, pass or fail."""

    def record(scenario: str, counts: Tally | None = None, **checked: Any) -> None:
        row: dict[str, Any] = {"scenario": scenario, "test": request.node.name}
        row.update(asdict(counts) if counts is not None else {})
        row.update(checked)
        RESULTS.append(row)

    return record


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not RESULTS:
        return
    write = terminalreporter.write_line
    terminalreporter.section(f"chaos report ({'full' if FULL else 'bounded'})")
    write(f"{'scenario':<34}" + "".join(f"{c:>14}" for c in COLUMNS) + "  checked")
    for row in RESULTS:
        counts = "".join(f"{row.get(c, '-')!s:>14}" for c in COLUMNS)
        extra = {k: v for k, v in row.items() if k not in (*COLUMNS, "scenario", "test")}
        write(f"{row['scenario']:<34}{counts}  {json.dumps(extra, default=str)}")
    REPORT_FILE.parent.mkdir(parents=True, exist_ok=True)
    REPORT_FILE.write_text(json.dumps({"full": FULL, "scenarios": RESULTS}, indent=2, default=str))
    write(f"written to {REPORT_FILE}")
