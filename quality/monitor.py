"""What is broken right now: the breaches of the freshness SLAs, the gates and the deadlines.

Pure functions from measurements to `Breach`es (and the incident keys measured), which
`quality.alerts.advance` turns into notices. The Dagster sensor gathers the measurements.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime

from quality.alerts import Breach
from quality.freshness import Freshness
from quality.results import GateVerdict
from quality.slas import DailySla

#: Breaches found, and every incident key whose state was measured (breached or healthy).
Found = tuple[list[Breach], set[str]]


def sla_breaches(measured: Iterable[Freshness]) -> Found:
    """A stream table behind its SLA; unknown lag is neither a breach nor a recovery."""
    breaches, observed = [], set()
    for item in measured:
        key = f"sla:{item.table}"
        if item.met is None:
            continue
        observed.add(key)
        if not item.met:
            breaches.append(Breach(key, "sla", item.table, f"{item.table} is {item.describe()}"))
    return breaches, observed


def gate_breaches(verdicts: Iterable[GateVerdict]) -> Found:
    """A partition whose newest validation failed a blocking check."""
    breaches, observed = [], set()
    for verdict in verdicts:
        key = f"gate:{verdict.table}:{verdict.partition}"
        observed.add(key)
        if not verdict.passed:
            checks = ", ".join(
                f"{name} ({rows} rows)" for name, rows in verdict.failed_checks.items()
            )
            breaches.append(
                Breach(
                    key,
                    "gate",
                    f"{verdict.table} [{verdict.partition}]",
                    f"quality gate failed: {checks}; its downstream aggregates are held back. "
                    "Fix the rows and rerun the partition.",
                )
            )
    return breaches, observed


def deadline_breaches(
    slas: Iterable[DailySla],
    materialized: Mapping[str, set[str]],
    now: datetime,
    first_day: date,
    open_keys: Iterable[str] = (),
) -> Found:
    """A daily table whose newest due partition was not materialized by its deadline.

    The days of incidents still open are measured again too, so a partition materialized
    late closes its incident even after the next day's deadline has passed.
    """
    breaches, observed = [], set()
    days: dict[str, set[date]] = {}
    for key in open_keys:
        kind, _, rest = key.partition(":")
        table, _, day_text = rest.rpartition(":")
        if kind == "deadline" and table:
            days.setdefault(table, set()).add(date.fromisoformat(day_text))
    due = [
        (sla, day)
        for sla in slas
        for day in sorted({sla.last_due_day(now), *days.get(sla.table, set())})
        if day >= first_day
    ]
    for sla, day in due:
        key = f"deadline:{sla.table}:{day.isoformat()}"
        observed.add(key)
        if day.isoformat() not in materialized.get(sla.table, set()):
            breaches.append(
                Breach(
                    key,
                    "deadline",
                    f"{sla.table} [{day.isoformat()}]",
                    f"the partition of {day.isoformat()} was due by "
                    f"{sla.deadline(day).isoformat(timespec='minutes')} and is not ready",
                )
            )
    return breaches, observed
