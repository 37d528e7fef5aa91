"""Dagster freshness policies from Rapport's SLAs (quality/slas.yaml), per asset."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from quality.slas import Slas
from rapport.lakehouse.tables import TableDef


def freshness_policy(slas: Slas, target: TableDef) -> dg.FreshnessPolicy | None:
    """Dagster's view of an SLA: the stream wrote the table within its SLA plus a minute of
    reporting slack (Dagster's windows are whole minutes); a daily table by its deadline."""
    stream = slas.stream_sla(target.qualified_name)
    if stream is not None:
        fail = timedelta(seconds=stream.max_behind_s + 60)
        return dg.FreshnessPolicy.time_window(fail_window=fail)
    daily = slas.daily_sla(target.qualified_name)
    if daily is not None:
        return dg.FreshnessPolicy.cron(
            deadline_cron=f"{daily.ready_by.minute} {daily.ready_by.hour} * * *",
            lower_bound_delta=timedelta(days=1),
        )
    return None
