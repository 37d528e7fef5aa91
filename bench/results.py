"""Where benchmark figures go: printed, and kept in var/bench/<name>-<time>.json to compare runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rapport.settings import PROJECT_ROOT


def publish(name: str, sections: dict[str, dict[str, Any]]) -> Path:
    """Print each section's figures and write them all, time-stamped, to one file."""
    results: dict[str, Any] = {"at": datetime.now(UTC).isoformat(timespec="seconds")}
    for section, figures in sections.items():
        results[section] = figures
        print(f"{section}:", json.dumps(figures))
    out = PROJECT_ROOT / "var" / "bench" / f"{name}-{results['at'][:19].replace(':', '')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"results in {out}")
    return out
