"""The chaos suite's sizes and report rows (tests/chaos, docs/reliability.md).

`make test` runs every scenario in its bounded form; `make chaos` (RAPPORT_CHAOS=full) runs
the full one. Each scenario records what it produced, landed, lost and duplicated through
the `chaos_report` fixture (tests/chaos/conftest.py), which prints the table at the end.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from rapport.settings import PROJECT_ROOT

#: The full runs of `make chaos`; otherwise the bounded subset of `make test`.
FULL = os.environ.get("RAPPORT_CHAOS") == "full"
REPORT_FILE = PROJECT_ROOT / "var" / "chaos-report.json"
#: The rows recorded in this test session, in order.
RESULTS: list[dict[str, Any]] = []
#: What the `chaos_report` fixture hands a test: record(scenario, tally, **checked).
Report = Callable[..., None]
COLUMNS = ("produced", "landed", "lost", "duplicated", "to_quarantine", "quarantined")


def scale(bounded: int, full: int) -> int:
    """A scenario's size: `bounded` inside `make test`, `full` under `make chaos`."""
    return full if FULL else bounded
