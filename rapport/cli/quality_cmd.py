"""`rapport freshness` and `rapport quality check|history`: the SLAs and gates from a shell."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import click

from rapport.cli.common import command_spark, fail_clearly, load_settings, parse_day


@click.command()
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@fail_clearly
def freshness(fmt: str) -> None:
    """How fresh each stream table is: complete up to T, n s behind, SLA met or breached.

    Exits 1 when an SLA is breached and 2 when none could be measured (Kafka down), so a
    cron job or a probe can act on it.
    """
    from quality.freshness import stream_freshness
    from quality.slas import SlaFileError, load_slas

    settings = load_settings()
    try:
        slas = load_slas(settings.quality.sla_file)
    except SlaFileError as exc:
        raise click.ClickException(str(exc)) from exc
    measured = stream_freshness(settings, slas)
    if fmt == "json":
        click.echo(
            json.dumps(
                [
                    {
                        "table": f.table,
                        "complete_up_to": f.complete_up_to.isoformat()
                        if f.complete_up_to
                        else None,
                        "behind_s": f.behind_s,
                        "sla_s": f.sla_s,
                        "sla_met": f.met,
                        "last_batch_at": f.last_batch_at.isoformat() if f.last_batch_at else None,
                        "unknown_because": f.unknown_because,
                    }
                    for f in measured
                ],
                indent=2,
            )
        )
    else:
        for f in measured:
            click.echo(f"{f.table:<28} {f.describe()}")
    if any(f.met is False for f in measured):
        raise SystemExit(1)
    if measured and all(f.met is None for f in measured):
        click.echo(
            "The SLAs could not be measured: is the stack up (`make up`)? "
            "`rapport status` shows what runs.",
            err=True,
        )
        raise SystemExit(2)


@click.group()
def quality() -> None:
    """Run a table's quality suite now, or read the quality history."""


@quality.command()
@click.argument("table_name", metavar="TABLE")
@click.option(
    "--day",
    "days",
    multiple=True,
    callback=lambda c, p, v: [parse_day(c, p, d) for d in v],
    metavar="DAY",
    help="A day to validate (repeatable); default: the whole table.",
)
@fail_clearly
def check(table_name: str, days: list[date]) -> None:
    """Validate TABLE (e.g. silver.orders) now; the result goes to ops.quality_results too.

    Exits 1 when a blocking check fails.
    """
    from jobs.quality_checks import validate_days
    from quality.rules import CHECKED_TABLES
    from rapport.lakehouse.tables import table

    try:
        target = table(table_name)
    except KeyError as exc:
        raise click.BadParameter(str(exc.args[0]), param_hint="TABLE") from exc
    if target not in CHECKED_TABLES:
        names = ", ".join(t.qualified_name for t in CHECKED_TABLES)
        raise click.BadParameter(f"{table_name} has no quality suite; these do: {names}")
    settings = load_settings()
    with command_spark(settings, "rapport-quality") as spark:
        result = validate_days(spark, settings, target, days)
    click.echo(f"{result.suite} on {result.partition}: {len(result.checks)} checks")
    for c in result.checks:
        if not c.passed:
            kind = "FAIL" if c.rule.blocking else "WARN"
            detail = c.error or f"{c.failing_rows} of {c.rows_checked} rows, e.g. {c.examples_json}"
            click.echo(f"  {kind} {c.rule.name}: {detail}")
    click.echo("gate passed" if result.passed else "gate FAILED: downstream would be held back")
    if not result.passed:
        raise SystemExit(1)


@quality.command()
@click.option("--days", default=1, show_default=True, help="Validations of the last N days.")
@click.option("--failed", is_flag=True, help="Only partitions whose newest validation failed.")
@fail_clearly
def history(days: int, failed: bool) -> None:
    """The newest verdict per table and partition (from ops.quality_results, no JVM)."""
    from quality.results import latest_verdicts

    verdicts = latest_verdicts(load_settings(), days=days, today=datetime.now(UTC).date())
    rows: list[Any] = sorted(verdicts, key=lambda v: (v.table, v.partition))
    if failed:
        rows = [v for v in rows if not v.passed]
    if not rows:
        click.echo("no validations recorded in that window")
        return
    for v in rows:
        state = (
            "passed"
            if v.passed
            else "FAILED " + ", ".join(f"{name} ({n} rows)" for name, n in v.failed_checks.items())
        )
        click.echo(f"{v.table:<28} {v.partition:<24} {v.validated_at:%Y-%m-%d %H:%M:%S}  {state}")
