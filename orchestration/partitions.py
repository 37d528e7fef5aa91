"""The daily partitions of the batch side: one per UTC day of event time."""

from __future__ import annotations

from datetime import date

import dagster as dg


def daily_partitions(start: date) -> dg.DailyPartitionsDefinition:
    """Days from `start` up to yesterday: a day becomes a partition once it is over."""
    return dg.DailyPartitionsDefinition(start_date=start.isoformat(), timezone="UTC")
