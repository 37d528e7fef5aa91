"""History mode: N past days of shop events, written fast as day-partitioned JSON Lines files.

The landing zone looks like any export in the contract format: one CloudEvent JSON per line,
in `<landing>/date=YYYY-MM-DD/events-<seed>.jsonl`, partitioned by the day the record was
produced. The batch side (Dagster's historical load) reads it with the stream's own code.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from rapport.contracts.catalog import ContractCatalog
from rapport.simulator.ledger import Ledger
from rapport.simulator.shop import Shop, ShopConfig, day_bounds
from rapport.simulator.wire import ChaosConfig, wire_records


def action_times(first_day: date, days: int, actions_per_day: int, seed: int) -> Iterator[datetime]:
    """Evenly spread action times over each day, with jitter (monotonic within a day)."""
    rng = random.Random(seed ^ 0x71AE)
    step = 86_400 / actions_per_day
    for offset in range(days):
        start, _ = day_bounds(first_day + timedelta(days=offset))
        for i in range(actions_per_day):
            yield start + timedelta(seconds=i * step + rng.random() * step * 0.9)


def write_history(
    landing: Path,
    catalog: ContractCatalog,
    shop: ShopConfig,
    chaos: ChaosConfig,
    first_day: date,
    days: int,
    actions_per_day: int,
    ledger: Ledger | None = None,
) -> Ledger:
    """Generate and write the history; returns the ledger of everything written."""
    if chaos.late:
        raise ValueError("late arrivals are a streaming notion; history mode does not take them")
    ledger = ledger or Ledger(keep_lines=False)
    model = Shop(shop, catalog)
    current_day = ""
    out: BinaryIO | None = None
    try:
        events = model.events(action_times(first_day, days, actions_per_day, shop.seed))
        for record in wire_records(events, chaos, shop.seed):
            day = (
                record.event.time.isoformat()[:10]
                if record.event is not None
                else current_day or first_day.isoformat()
            )
            if day != current_day:
                if out is not None:
                    out.close()
                folder = landing / f"date={day}"
                folder.mkdir(parents=True, exist_ok=True)
                out = (folder / f"events-{shop.seed}.jsonl").open("ab")
                current_day = day
            assert out is not None  # set on the first record: day differs from ""
            out.write(record.value + b"\n")
            ledger.record(record)
    finally:
        if out is not None:
            out.close()
    return ledger
