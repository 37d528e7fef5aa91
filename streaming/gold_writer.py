"""Gold's writes: increments merged, or whole tables replaced, through delta-rs, exactly once.

Gold's tables are small (a row per minute, hour, day or stock item), so the driver writes
them with delta-rs in milliseconds instead of a Spark job per table. This module is the only
writer of those tables (docs/decisions/0011-hot-path.md lists which engine owns which table).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lakehouse import delta_rs
from lakehouse.delta_rs import Txn
from lakehouse.settings import Settings
from lakehouse.tables import GOLD_INVENTORY_CURRENT, GOLD_LOW_STOCK, table
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

    def apply(self, increments: dict[str, DataFrame], txn: Txn) -> dict[str, int]:
        """Merge each table's increment once per `txn`; rows merged per table."""
        written: dict[str, int] = {}
        for name, frame in increments.items():
            rows = frame.toArrow()
            if not rows.num_rows:
                continue
            updates, when = self.rules[name]
            if delta_rs.merge(self.settings, table(name), rows, txn, updates=updates, when=when):
                written[name] = rows.num_rows
        if GOLD_INVENTORY_CURRENT.qualified_name in increments:
            written[GOLD_LOW_STOCK.qualified_name] = self._low_stock(txn)
        return written

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
