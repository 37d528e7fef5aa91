"""History mode: day-partitioned landing files that match the ledger exactly."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

import orjson
import pytest

from rapport.contracts.catalog import default_catalog
from rapport.simulator.history import write_history
from rapport.simulator.shop import ShopConfig
from rapport.simulator.wire import ChaosConfig

pytestmark = pytest.mark.unit


def test_days_land_in_their_partitions_and_match_the_ledger(tmp_path: Path) -> None:
    ledger = write_history(
        tmp_path,
        default_catalog(),
        ShopConfig(seed=9),
        ChaosConfig(duplicates=0.02),
        date(2026, 3, 30),
        days=3,
        actions_per_day=800,
    )
    folders = sorted(p.name for p in tmp_path.iterdir())
    assert folders == ["date=2026-03-30", "date=2026-03-31", "date=2026-04-01"]
    ids: Counter[str] = Counter()
    types: Counter[str] = Counter()
    for folder in tmp_path.iterdir():
        day = folder.name.removeprefix("date=")
        for line in (folder / "events-9.jsonl").read_bytes().splitlines():
            doc = orjson.loads(line)
            assert doc["time"].startswith(day)
            ids[doc["id"]] += 1
            types[doc["type"].rsplit(".", 1)[1]] += 1 if ids[doc["id"]] == 1 else 0
    expected = ledger.expected()
    assert dict(sorted(types.items())) == expected["events_by_type"]
    assert sum(n - 1 for n in ids.values()) == sum(expected["duplicates_by_type"].values())
    assert sorted(expected["per_day"]) == ["2026-03-30", "2026-03-31", "2026-04-01"]


def test_late_arrivals_are_refused_in_history_mode(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="late"):
        write_history(
            tmp_path,
            default_catalog(),
            ShopConfig(),
            ChaosConfig(late=0.1),
            date(2026, 1, 1),
            1,
            10,
        )
