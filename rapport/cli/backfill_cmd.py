"""`rapport backfill --from --to`: backfill the daily assets on the running Dagster."""

from __future__ import annotations

from datetime import UTC, date, datetime

import click

from rapport.cli.common import load_settings, parse_day


@click.command()
@click.option("--from", "first", required=True, callback=parse_day, help="First day, YYYY-MM-DD.")
@click.option("--to", "last", required=True, callback=parse_day, help="Last day (included).")
@click.option(
    "--aggregates-only",
    is_flag=True,
    help="Recompute the daily aggregates and reconciliation only; skip the landing-zone load.",
)
@click.option("--wait", "wait_s", type=float, default=None, help="Wait up to N s for the end.")
def backfill(first: date, last: date, aggregates_only: bool, wait_s: float | None) -> None:
    """Load landing days and recompute their daily aggregates, as one Dagster backfill.

    Dagster must be running (`make up`); its UI shows the backfill's progress. Rerunning a
    range is safe: every day is replaced, never added to.
    """
    from orchestration import backfill as dagster_backfill

    settings = load_settings()
    today = datetime.now(UTC).date()  # the partitions are UTC days
    if last < first:
        raise click.BadParameter(f"--to {last} is before --from {first}")
    if last >= today:
        raise click.BadParameter(
            f"--to {last} is not over yet; a day becomes a partition the day after"
        )
    if first < settings.history_start:
        raise click.BadParameter(
            f"--from {first} is before the first partition {settings.history_start}; "
            "set RAPPORT_HISTORY_START to backfill earlier days"
        )
    try:
        launched = dagster_backfill.launch(
            settings.dagster.url, first, last, include_history=not aggregates_only
        )
        click.echo(f"backfill {launched.backfill_id}: {launched.partitions} day(s), one run")
        click.echo(f"progress: {launched.url}")
        if wait_s is not None:
            state = dagster_backfill.wait(settings.dagster.url, launched.backfill_id, wait_s)
            click.echo(f"backfill {launched.backfill_id}: {state}")
            if state not in ("COMPLETED", "COMPLETED_SUCCESS"):
                raise click.ClickException(
                    f"the backfill ended {state}; open {launched.url} for the failed run's logs"
                )
    except dagster_backfill.BackfillError as exc:
        raise click.ClickException(str(exc)) from exc
