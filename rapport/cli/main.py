"""`rapport`: run the local stack, drive its services, deploy contracts, simulate, query."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import click

from rapport.cli.backfill_cmd import backfill
from rapport.cli.common import command_spark, fail_clearly, load_settings
from rapport.cli.contracts_cmd import contracts
from rapport.cli.gdpr_cmd import gdpr
from rapport.cli.maintain_cmd import maintain
from rapport.cli.quality_cmd import freshness, quality
from rapport.cli.quarantine_cmd import quarantine
from rapport.cli.services import SERVICES, service_group
from rapport.cli.simulate_cmd import simulate


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="rapport")
def main() -> None:
    """Rapport: real-time reports from event streams (Kafka -> Spark -> Delta)."""


# --- the whole stack ------------------------------------------------------------------------


#: `--cluster` of `rapport up` and `rapport run`: the local cluster profile.
_cluster_option = click.option(
    "--cluster",
    is_flag=True,
    help="A Spark standalone master and two workers, and three Kafka brokers, all on "
    "loopback: the same code on a cluster (docs/deployment.md).",
)


@main.command()
@_cluster_option
@fail_clearly
def run(cluster: bool) -> None:
    """Start Kafka, the registry, the stream and Dagster; say what runs where; Ctrl-C stops all."""
    from rapport.cli.stack_cmd import Stack

    stack = Stack.in_profile(load_settings(), "cluster" if cluster else None)
    sys.exit(stack.run_foreground(click.echo))


@main.command()
@_cluster_option
@fail_clearly
def up(cluster: bool) -> None:
    """Start Kafka, the schema registry, the stream and Dagster in the background (idempotent)."""
    from rapport.cli.stack_cmd import Stack

    stack = Stack.in_profile(load_settings(), "cluster" if cluster else None)
    stack.up(click.echo)
    for line in stack.where():
        click.echo(line)
    click.echo("Stop with `make down`.")


@main.command()
@fail_clearly
def down() -> None:
    """Stop Dagster, the stream, the registry, then Kafka (idempotent)."""
    from rapport.cli.stack_cmd import Stack

    Stack(load_settings()).down(click.echo)


@main.command()
def status() -> None:
    """Show which services run, their pids and where they listen."""
    from rapport.cli.stack_cmd import Stack
    from rapport.settings import active_profile

    settings = load_settings()
    stack = Stack(settings)
    profile = active_profile(settings)
    if profile:
        click.echo(f"profile  {profile} (Spark master {settings.spark.master})")
    for line in stack.status():
        click.echo(f"{line.name:<8} {'running' if line.running else 'stopped':<8} {line.detail}")
    click.echo(f"{'total':<8} {'':<8} RSS {stack.total_rss_mb():,.0f} MiB")
    for name, doors in stack.open_doors().items():
        where = ", ".join(f"{host}:{port}" for host, port in doors)
        click.echo(
            f"warning: {name} listens beyond loopback on {where}; put authentication in "
            "front of it or bind it to 127.0.0.1 (docs/security.md)"
        )


# --- the services: kafka, registry, stream, dagster, dashboard ------------------------------

_groups = {spec.name: service_group(spec) for spec in SERVICES}
for _group in _groups.values():
    main.add_command(_group)
stream = _groups["stream"]
sql_server = _groups["sql-server"]


@sql_server.command("beeline", context_settings={"ignore_unknown_options": True})
@click.argument("beeline_args", nargs=-1, type=click.UNPROCESSED)
@fail_clearly
def sql_server_beeline(beeline_args: tuple[str, ...]) -> None:
    """Open beeline (JDBC, from the pyspark wheel) on the SQL server; extra args go to it.

    For example `rapport sql-server beeline -e "SELECT * FROM gold.sales_by_day"`.
    """
    import os

    from serving.sql_server_service import SqlServerService, beeline_command

    service = SqlServerService(load_settings())
    if not service.status().running:
        raise click.ClickException(
            "the SQL server is not running: `rapport sql-server start` (or `make up`) first"
        )
    argv = beeline_command(service.jdbc_url, beeline_args)
    os.execv(argv[0], argv)


@stream.command("rebuild-gold")
@fail_clearly
def stream_rebuild_gold() -> None:
    """Rebuild gold from bronze when the stream next starts (exactly; stop the stream first).

    The hot query catches duplicates within stream.dedup_horizon_s; this recounts every
    gold figure from bronze, e.g. after duplicates arrived later than that.
    """

    from streaming.hot import gold_checkpoint
    from streaming.stream_service import StreamService

    settings = load_settings()
    if StreamService(settings).status().running:
        raise click.ClickException("the stream is running: `rapport stream stop` first")
    checkpoint = gold_checkpoint(settings)
    if len(urlparse(checkpoint).scheme) > 1:
        raise click.ClickException(
            f"the gold checkpoint {checkpoint} is not on local disk: delete that folder with "
            "your storage's tools, then `rapport stream start`"
        )
    shutil.rmtree(checkpoint, ignore_errors=True)
    click.echo(
        "the gold checkpoint is removed: `rapport stream start` rebuilds gold from bronze and "
        "goes on from Kafka right after it"
    )


# --- data -----------------------------------------------------------------------------------


@main.command()
@click.argument("topic")
@click.argument("event", required=False)
@click.option("--key", help="Record key (the entity id keeps an entity's events in order).")
@click.option(
    "--file",
    "file_",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Send every line of this file as one event.",
)
@fail_clearly
def produce(topic: str, event: str | None, key: str | None, file_: Path | None) -> None:
    """Send raw events to a topic: TOPIC is a name or a domain (orders, customers, ...).

    EVENT is one JSON document; without it (and without --file) lines are read from stdin.
    Records are sent as they are: invalid ones land in bronze too, which is the point.
    """
    from rapport.cli.produce_cmd import send_lines

    settings = load_settings()
    topic_name = settings.kafka.topics[topic].name if topic in settings.kafka.topics else topic
    if event is not None:
        lines = [event]
    elif file_ is not None:
        lines = file_.read_text().splitlines()
    else:
        lines = sys.stdin.read().splitlines()
    sent = send_lines(settings, topic_name, [ln for ln in lines if ln.strip()], key)
    click.echo(f"sent {sent} event(s) to {topic_name}")


@main.command()
@click.argument("query")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@click.option("--limit", type=int, default=100, show_default=True, help="Rows to print.")
@click.option(
    "--spark",
    "on_spark",
    is_flag=True,
    help="Run it on Spark SQL instead (slower to start): DML such as UPDATE, DESCRIBE HISTORY.",
)
@fail_clearly
def sql(query: str, fmt: str, limit: int, on_spark: bool) -> None:
    """Run SQL over the catalog (bronze, silver, gold, ops) and print the result.

    Embedded by default (delta-rs and DataFusion, no JVM: the query takes milliseconds),
    with Delta time travel as `gold.sales_by_day VERSION AS OF 3`. --spark runs Spark SQL.
    """
    from rapport.cli.output import print_rows

    settings = load_settings()
    if on_spark:
        result = _spark_sql(settings, query, limit)
    else:
        from serving.sql import SqlError
        from serving.sql import query as embedded

        try:
            result = embedded(settings, query, limit)
        except SqlError as exc:
            raise click.ClickException(str(exc)) from exc
    print_rows(result, fmt)


def _spark_sql(settings: Any, query: str, limit: int) -> Any:
    from pyspark.errors import AnalysisException, ParseException

    from serving.sql import Result

    with command_spark(settings, "rapport-sql") as spark:
        try:
            table = spark.sql(query).limit(limit).toArrow()
        except ParseException as exc:
            raise click.ClickException(f"the query does not parse: {exc.getMessage()}") from exc
        except AnalysisException as exc:
            tables = ", ".join(
                f"{r.namespace}.{r.tableName}"
                for layer in ("bronze", "silver", "gold", "ops")
                for r in spark.sql(f"SHOW TABLES IN {layer}").collect()
            )
            raise click.ClickException(f"{exc.getMessage()}\nknown tables: {tables}") from exc
    return Result(list(table.column_names), table)


# --- the command groups that live in modules of their own -------------------------------------

main.add_command(backfill)
main.add_command(contracts)
main.add_command(freshness)
main.add_command(gdpr)
main.add_command(maintain)
main.add_command(quality)
main.add_command(quarantine)
main.add_command(simulate)

if __name__ == "__main__":
    main()
