"""`rapport quarantine list|replay`: what the quarantine holds and why, and replay after a fix."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import click

from rapport.cli.common import command_spark, fail_clearly, load_settings, parse_day
from rapport.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from jobs.quarantine import ReplayReport

#: Reasons longer than this are cut in the table format (the JSON format has them whole).
REASON_WIDTH = 80


SINCE = click.option(
    "--since", callback=parse_day, metavar="DAY", help="From this Kafka day on (YYYY-MM-DD)."
)
UNTIL = click.option(
    "--until",
    callback=parse_day,
    metavar="DAY",
    help="Up to this Kafka day, included (YYYY-MM-DD).",
)
REASON = click.option(
    "--reason",
    "reason",
    metavar="TEXT",
    help="Only records whose reason (latest or original) contains TEXT, any case.",
)


def _check_range(since: date | None, until: date | None) -> None:
    if since is not None and until is not None and until < since:
        raise click.BadParameter(f"--until {until} is before --since {since}")


def _spark(settings: Settings) -> AbstractContextManager[SparkSession]:
    """A session for one command. The catalog is not created here: listing must not make an
    empty lakehouse appear."""
    return command_spark(settings, "rapport-quarantine", register_tables=False)


def _utc(value: Any) -> Any:
    """Spark hands timestamps over as naive local times; show them in UTC."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return value


def render_summary(rows: Sequence[Mapping[str, Any]], fmt: str) -> str:
    """The `list` output: JSON records, or aligned columns for a terminal."""
    if fmt == "json":
        return json.dumps(
            [
                {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r.items()}
                for r in ({k: _utc(v) for k, v in row.items()} for row in rows)
            ]
        )
    if not rows:
        return "(nothing in quarantine)"
    headers = ("records", "retried", "event_type", "first", "last", "example", "reason")
    cells = [list(headers)]
    for row in rows:
        reason = str(row["reason"])
        if len(reason) > REASON_WIDTH:
            reason = reason[: REASON_WIDTH - 3] + "..."
        cells.append(
            [
                str(row["records"]),
                str(row["retried"]),
                str(row["event_type"] or "-"),
                f"{_utc(row['first_quarantined_at']):%Y-%m-%d %H:%M:%S}",
                f"{_utc(row['last_quarantined_at']):%Y-%m-%d %H:%M:%S}",
                f"{row['example_topic']}[{row['example_partition']}]@{row['example_offset']}",
                reason,
            ]
        )
    widths = [max(len(line[i]) for line in cells) for i in range(len(headers))]
    lines = []
    for line in cells:
        padded = [
            c.rjust(w) if i < 2 else c.ljust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ]
        lines.append("  ".join(padded).rstrip())
    total = sum(int(r["records"]) for r in rows)
    lines.append(f"{total} record(s) in quarantine; replay them with `rapport quarantine replay`")
    return "\n".join(lines)


def describe_report(report: ReplayReport) -> list[str]:
    """The `replay` output: totals, then per original reason, then why some still fail."""
    verb = "would replay" if report.dry_run else "replayed"
    lines = [
        f"replay {report.replay_id}{' (dry run: nothing written)' if report.dry_run else ''}: "
        f"{report.attempted} attempted, {report.replayed} {verb}, "
        f"{report.still_invalid} still invalid"
    ]
    if not report.attempted:
        lines.append("nothing to replay: no quarantined record matches, or all were replayed")
        return lines
    if not report.dry_run:
        lines.append(f"{report.new_events} event(s) new to silver")
    for reason, outcome in sorted(report.by_reason.items()):
        lines.append(
            f"  {outcome.attempted:>6} attempted, {outcome.replayed:>6} {verb}, "
            f"{outcome.still_invalid:>6} still invalid: was {reason}"
        )
    if report.new_reasons:
        lines.append("still invalid, now because:")
        for reason, count in sorted(report.new_reasons.items(), key=lambda kv: -kv[1]):
            lines.append(f"  {count:>6} {reason}")
        lines.append(
            "fix the contract (`rapport contracts register`) or the value "
            '(`rapport sql --spark "UPDATE bronze.quarantine SET value = ..."`), then replay again'
        )
    return lines


def _require_lakehouse(settings: Settings) -> None:
    """Refuse at once, before Spark starts, when a local lakehouse has no quarantine yet."""
    from jobs.quarantine import QuarantineError, require_quarantine

    try:
        require_quarantine(settings)
    except QuarantineError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
def quarantine() -> None:
    """Records that failed validation: list them by reason, replay them after a fix."""


@quarantine.command("list")
@SINCE
@UNTIL
@REASON
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
)
@fail_clearly
def list_command(since: date | None, until: date | None, reason: str | None, fmt: str) -> None:
    """Count the quarantined records not yet replayed, by reason and event type."""
    from jobs import quarantine as jobs

    _check_range(since, until)
    settings = load_settings()
    _require_lakehouse(settings)
    try:
        with _spark(settings) as spark:
            rows = jobs.list_quarantine(spark, settings, since, reason, until=until)
    except jobs.QuarantineError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(render_summary(rows, fmt))


@quarantine.command("replay")
@SINCE
@UNTIL
@REASON
@click.option("--dry-run", is_flag=True, help="Validate and report what would pass; write nothing.")
@click.option(
    "--include-replayed",
    is_flag=True,
    help="Attempt the records replayed before as well (after rebuilding silver); "
    "silver deduplicates, so nothing counts twice.",
)
@fail_clearly
def replay_command(
    since: date | None,
    until: date | None,
    reason: str | None,
    dry_run: bool,
    include_replayed: bool,
) -> None:
    """Validate quarantined records again and send those that pass to silver and gold.

    Run it after fixing the cause: a new compatible contract version registered, or a
    record's value corrected in bronze.quarantine. Without --since/--until/--reason every
    record not yet replayed is attempted. Safe to rerun.
    """
    from jobs import quarantine as jobs

    _check_range(since, until)
    settings = load_settings()
    _require_lakehouse(settings)
    try:
        jobs.require_registry(settings)  # before Spark: a refusal should be instant
        with _spark(settings) as spark:
            jobs.require_quarantine(settings, spark)
            from rapport.lakehouse.spark_catalog import register_tables

            register_tables(spark, settings)  # the Refiner writes silver, gold and ops
            report = jobs.replay(
                spark,
                settings,
                since=since,
                until=until,
                reason_contains=reason,
                include_replayed=include_replayed,
                dry_run=dry_run,
            )
    except jobs.QuarantineError as exc:
        raise click.ClickException(str(exc)) from exc
    for line in describe_report(report):
        click.echo(line)
