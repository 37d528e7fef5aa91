"""The fault-injection suite: each scenario counts every event against the simulator's ledger.

`make test` runs every scenario in its bounded form; `make chaos` (RAPPORT_CHAOS=full) runs
the full one (20 kills instead of 3, longer loads). Each scenario records what it produced,
landed, lost and duplicated through the `chaos_report` fixture; the table is printed at the
end of the run and kept in var/chaos-report.json.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import pytest

from rapport.settings import PROJECT_ROOT
from tests.helpers.ledger_checks import Tally

#: The full runs of `make chaos`; otherwise the bounded subset of `make test`.
FULL = os.environ.get("RAPPORT_CHAOS") == "full"
REPORT_FILE = PROJECT_ROOT / "var" / "chaos-report.json"
_RESULTS: list[dict[str, Any]] = []


def scale(bounded: int, full: int) -> int:
    """A scenario's size: `bounded` inside `make test`, `full` under `make chaos`."""
    return full if FULL else bounded


Report = Callable[..., None]


@pytest.fixture
def chaos_report(request: pytest.FixtureRequest) -> Report:
    """Record one scenario's counts (a Tally) and what else it checked, pass or fail."""

    def record(scenario: str, counts: Tally | None = None, **checked: Any) -> None:
        row: dict[str, Any] = {"scenario": scenario, "test": request.node.name}
        row.update(asdict(counts) if counts is not None else {})
        row.update(checked)
        _RESULTS.append(row)

    return record


COLUMNS = ("produced", "landed", "lost", "duplicated", "to_quarantine", "quarantined")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _RESULTS:
        return
    write = terminalreporter.write_line
    terminalreporter.section(f"chaos report ({'full' if FULL else 'bounded'})")
    write(f"{'scenario':<34}" + "".join(f"{c:>14}" for c in COLUMNS) + "  checked")
    for row in _RESULTS:
        counts = "".join(f"{row.get(c, '-')!s:>14}" for c in COLUMNS)
        extra = {k: v for k, v in row.items() if k not in (*COLUMNS, "scenario", "test")}
        write(f"{row['scenario']:<34}{counts}  {json.dumps(extra, default=str)}")
    REPORT_FILE.parent.mkdir(parents=True, exist_ok=True)
    REPORT_FILE.write_text(json.dumps({"full": FULL, "scenarios": _RESULTS}, indent=2, default=str))
    write(f"written to {REPORT_FILE}")
