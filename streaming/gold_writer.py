"""Gold's writes: increments merged, or whole tables replaced, through delta-rs, exactly once.

Gold's tables are small (a row per minute, hour, day or stock item), so the driver writes
them with delta-rs in milliseconds instead of a Spark job per table. This module is the only
writer of those tables (docs/decisions/0011-hot-path.md lists which engine owns which table).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from rapport.lakehouse import delta_rs
from rapport.lakehouse.delta_rs import Txn
from rapport.lakehouse.tables import GOLD_INVENTORY_CURRENT, GOLD_LOW_STOCK, table
from rapport.settings import Settings
from streaming.increments import merge_rules

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame

log = logging.getLogger("rapport.stream.gold")


def low_stock_rows(current: pa.Table) -> pa.Table:
    """gold.low_stock from gold.inventory_current: the rows below their reorder point."""
    import pyarrow.compute as pc

    below = current.filter(pc.field("low_stock"))
    shortfall = pc.subtract(below.column("reorder_point"), below.column("on_hand"))
    below = below.append_column("shortfall", shortfall)
    return below.select(GOLD_LOW_STOCK.schema.fieldNames())


class GoldWriter:
    """Merges gold increments (or replaces whole tables) and keeps gold.low_stock in step."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.rules = merge_rules()

    def apply(self, increments: Mapping[str, DataFrame | pa.Table], txn: Txn) -> dict[str, int]:
        """Merge each table's increment once per `txn`; rows merged per table.

        The tables are independent, so each is computed (a small Spark job over the cached
        batch) and merged in its own thread: on two cores the jobs' scheduling overlaps.
        """
        with ThreadPoolExecutor(max(1, len(increments)), "rapport-gold") as pool:
            futures = {n: pool.submit(self._merge, n, f, txn) for n, f in increments.items()}
            written = {n: rows for n, future in futures.items() if (rows := future.result())}
        if GOLD_INVENTORY_CURRENT.qualified_name in increments:
            written[GOLD_LOW_STOCK.qualified_name] = self._low_stock(txn)
        return written

    def _merge(self, name: str, frame: DataFrame | pa.Table, txn: Txn) -> int:
        import pyarrow as pa

        began = time.monotonic()
        rows = frame if isinstance(frame, pa.Table) else frame.toArrow()
        computed = time.monotonic()
        if not rows.num_rows:
            return 0
        updates, when = self.rules[name]
        merged = delta_rs.merge(self.settings, table(name), rows, txn, updates=updates, when=when)
        log.debug("%s: %s rows computed in %.0f ms, merged in %.0f ms", name, rows.num_rows,
                  (computed - began) * 1000, (time.monotonic() - computed) * 1000)  # fmt: skip
        return int(rows.num_rows) if merged else 0

    def replace_all(self, tables: dict[str, DataFrame], txn: Txn) -> dict[str, int]:
        """Replace every owned table with these full aggregates (a rebuild); rows per table."""
        written: dict[str, int] = {}
        for name in self.rules:
            frame = tables.get(name)
            rows = frame.toArrow() if frame is not None else None
            target = table(name)
            if rows is None:
                rows = delta_rs.arrow_schema(target).empty_table()
            delta_rs.replace(self.settings, target, rows, txn)
            written[name] = rows.num_rows
        written[GOLD_LOW_STOCK.qualified_name] = self._low_stock(txn)
        return written

    def _low_stock(self, txn: Txn) -> int:
        """Derive gold.low_stock again from the merged stock: absolute, so replays are harmless."""
        current = delta_rs.read(self.settings, GOLD_INVENTORY_CURRENT)
        rows = low_stock_rows(current)
        delta_rs.replace(self.settings, GOLD_LOW_STOCK, rows, txn)
        return int(rows.num_rows)
