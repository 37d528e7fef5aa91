"""delta-rs writes computed from a table's own rows: a commit made meanwhile is never
overwritten (reconciliation's correction of gold beside the running stream)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from rapport.lakehouse import delta_rs
from rapport.lakehouse.delta_rs import StaleSnapshotError, Txn
from rapport.lakehouse.tables import GOLD_SIGNUPS_PER_HOUR
from rapport.settings import Settings

pytestmark = pytest.mark.unit

TABLE = GOLD_SIGNUPS_PER_HOUR
DAY = date(2026, 11, 30)
PREDICATE = f"event_date = '{DAY}'"


def _hours(signups: dict[int, int]) -> Any:
    import pyarrow as pa

    now = datetime(2026, 12, 1, tzinfo=UTC)
    rows = [
        {"hour": datetime(2026, 11, 30, h, tzinfo=UTC), "signups": n, "complete_up_to": now,
         "updated_at": now, "event_date": DAY}
        for h, n in signups.items()
    ]  # fmt: skip
    return pa.Table.from_pylist(rows, schema=delta_rs.arrow_schema(TABLE))


def _signups(settings: Settings) -> dict[int, int]:
    rows = delta_rs.read(settings, TABLE).to_pylist()
    return {r["hour"].hour: r["signups"] for r in rows}


def test_a_replace_computed_from_an_old_version_fails_instead_of_overwriting(
    tmp_path: Path,
) -> None:
    from deltalake import write_deltalake

    settings = Settings(state_dir=tmp_path / "state", lakehouse_root=str(tmp_path / "lake"))
    write_deltalake(TABLE.location(settings), _hours({9: 3}), partition_by=["event_date"])
    compared = delta_rs.open_table(settings, TABLE).version()

    # The stream adds a signup after the comparison read `compared` ...
    delta_rs.replace(settings, TABLE, _hours({9: 4}), Txn("rapport-gold_events-x", 1), PREDICATE)
    # ... so a correction computed from `compared` must not land.
    with pytest.raises(StaleSnapshotError, match="past version"):
        delta_rs.replace(settings, TABLE, _hours({9: 2}), None, PREDICATE, compared)
    assert _signups(settings) == {9: 4}

    # Computed from the current version, it lands.
    current = delta_rs.open_table(settings, TABLE).version()
    assert delta_rs.replace(settings, TABLE, _hours({9: 5}), None, PREDICATE, current)
    assert _signups(settings) == {9: 5}
