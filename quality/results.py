"""The quality history as the gates see it: the newest verdict per table and partition.

Read through delta-rs (no JVM), so the alert sensor can afford it every few seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from rapport.lakehouse.layout import existing_delta
from rapport.lakehouse.tables import OPS_QUALITY_RESULTS
from rapport.settings import Settings


@dataclass(frozen=True)
class GateVerdict:
    """The newest validation of one table's partition: did its blocking checks hold?"""

    table: str
    partition: str
    passed: bool
    validated_at: datetime
    #: Blocking checks that failed, with their failing-row counts.
    failed_checks: dict[str, int]


def latest_verdicts(
    settings: Settings, days: int = 7, today: date | None = None
) -> list[GateVerdict]:
    """Per (table, partition) validated in the last `days` days, its newest verdict."""
    today = today or datetime.now(UTC).date()
    delta = existing_delta(OPS_QUALITY_RESULTS.location(settings))
    if delta is None:
        return []
    rows = delta.to_pyarrow_table(
        columns=[
            "validation_id",
            "table_name",
            "partition",
            "check_name",
            "blocking",
            "passed",
            "failing_rows",
            "validated_at",
        ],
        filters=[("validated_date", ">=", today - timedelta(days=days))],
    ).to_pylist()
    newest: dict[tuple[str, str], tuple[datetime, str]] = {}
    for row in rows:
        key = (row["table_name"], row["partition"])
        stamp = (row["validated_at"], row["validation_id"])
        if key not in newest or stamp > newest[key]:
            newest[key] = stamp
    verdicts: dict[tuple[str, str], GateVerdict] = {}
    for row in rows:
        key = (row["table_name"], row["partition"])
        validated_at, validation_id = newest[key]
        if row["validation_id"] != validation_id:
            continue
        verdict = verdicts.setdefault(
            key, GateVerdict(key[0], key[1], True, validated_at.replace(tzinfo=UTC), {})
        )
        if row["blocking"] and not row["passed"]:
            verdict.failed_checks[row["check_name"]] = int(row["failing_rows"])
    return [
        GateVerdict(v.table, v.partition, not v.failed_checks, v.validated_at, v.failed_checks)
        for v in verdicts.values()
    ]
