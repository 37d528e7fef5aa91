"""`rapport maintain`: compact tables, VACUUM old files, clean orphaned stream checkpoints."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

import click

from rapport.cli.common import command_spark, fail_clearly, load_settings
from rapport.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from rapport.lakehouse.tables import TableDef


def _tables(
    _ctx: click.Context, _param: click.Parameter, names: tuple[str, ...]
) -> tuple[TableDef, ...]:
    """--table values as catalog entries; none given means every table."""
    # Imported here: the catalog pulls in pyspark, and `rapport --help` should stay instant.
    from rapport.lakehouse.tables import TABLES, table

    try:
        return tuple(table(name) for name in names) or TABLES
    except KeyError as exc:
        raise click.BadParameter(str(exc.args[0])) from exc


TABLE_OPTION = click.option(
    "--table",
    "tables",
    multiple=True,
    callback=_tables,
    metavar="LAYER.NAME",
    help="Only this table (repeatable); default every table in the catalog.",
)


def _active_queries() -> tuple[str, ...]:
    """Names of the streaming queries the code runs today; their checkpoints are in use."""
    from streaming import ingest

    active = getattr(ingest, "ACTIVE_QUERIES", None)
    if active is not None:
        return tuple(active)
    # Before the stream listed its queries; looked up by name, as either may be gone.
    return tuple(getattr(ingest, name) for name in ("BRONZE_QUERY", "VALIDATION_QUERY"))


def _spark(settings: Settings) -> AbstractContextManager[SparkSession]:
    """A session for one maintenance run."""
    return command_spark(settings, "rapport-maintain")


def _echo_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Rows as aligned columns: text left, numbers right."""
    if not rows:
        click.echo("(no tables)")
        return
    cells = [[str(c) for c in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [isinstance(c, int | float) for c in rows[0]]
    for row in cells:
        click.echo(
            "  ".join(
                c.rjust(w) if num else c.ljust(w)
                for c, w, num in zip(row, widths, numeric, strict=True)
            ).rstrip()
        )


@click.group()
def maintain() -> None:
    """Table upkeep: compaction, VACUUM, checkpoint cleanup."""


@maintain.command()
@TABLE_OPTION
@fail_clearly
def compact(tables: tuple[TableDef, ...]) -> None:
    """Rewrite small files into large ones (OPTIMIZE); the data does not change."""
    from jobs.maintenance import compact as compact_tables

    settings = load_settings()
    with _spark(settings) as spark:
        results = compact_tables(spark, settings, tables)
    _echo_table(
        ("table", "files removed", "files added", "seconds"),
        [(r.table, r.files_removed, r.files_added, round(r.duration_s, 1)) for r in results],
    )


@maintain.command()
@TABLE_OPTION
@click.option(
    "--retention-hours",
    type=float,
    default=None,
    help="Keep files younger than this [default: maintenance.vacuum_retention_hours].",
)
@click.option(
    "--force",
    is_flag=True,
    help="Allow a retention below maintenance.min_vacuum_retention_hours.",
)
@fail_clearly
def vacuum(tables: tuple[TableDef, ...], retention_hours: float | None, force: bool) -> None:
    """Delete files that no table version within the retention still references (VACUUM)."""
    from jobs.maintenance import vacuum as vacuum_tables
    from jobs.maintenance import vacuum_retention

    settings = load_settings()
    try:
        # Checked before Spark starts: a refusal should be instant.
        retention = vacuum_retention(settings, retention_hours, force)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    with _spark(settings) as spark:
        results = vacuum_tables(spark, settings, tables, retention, force)
    _echo_table(
        ("table", "retention h", "files deleted", "seconds"),
        [
            (
                r.table,
                r.retention_hours,
                "?" if r.files_deleted is None else r.files_deleted,
                round(r.duration_s, 1),
            )
            for r in results
        ],
    )


@maintain.command()
@click.option("--apply", is_flag=True, help="Delete the orphaned folders (default: report only).")
@fail_clearly
def checkpoints(apply: bool) -> None:
    """List streaming checkpoints; delete those of queries that no longer run (--apply)."""
    from jobs.maintenance import clean_checkpoints

    settings = load_settings()
    try:
        report = clean_checkpoints(settings, _active_queries(), apply=apply)
    except NotImplementedError as exc:
        raise click.ClickException(str(exc)) from exc
    _echo_table(
        ("table", "query", "state", "batches", "bytes"),
        [
            (f.table, f.query, "active" if f.active else "orphaned", f.batches, f.size_bytes)
            for f in report.folders
        ],
    )
    click.echo(
        f"Spark keeps the last {report.batches_kept_by_spark} batches of each active checkpoint "
        "(spark.sql.streaming.minBatchesToRetain)."
    )
    if apply:
        click.echo(f"deleted {len(report.deleted)} orphaned checkpoint folder(s)")
    elif report.orphaned:
        click.echo(f"{len(report.orphaned)} orphaned folder(s); delete them with --apply")
