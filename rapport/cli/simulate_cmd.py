"""`rapport simulate`: the shop, live into Kafka or as N days of history in a landing zone."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import click

from rapport.cli.common import load_settings
from rapport.runtime.processes import ServiceError


@click.command()
@click.option("--rate", type=float, default=500.0, show_default=True, help="Records per second.")
@click.option("--duration", type=float, default=None, help="Seconds to run (default 60).")
@click.option(
    "--events", "max_records", type=int, default=None, help="Stop after this many records."
)
@click.option("--seed", type=int, default=42, show_default=True, help="Same seed, same events.")
@click.option("--products", type=int, default=200, show_default=True, help="Catalogue size.")
@click.option("--customers", type=int, default=500, show_default=True, help="Population size.")
@click.option("--duplicates", type=float, default=0.0, help="Share re-sent with the same id.")
@click.option("--out-of-order", type=float, default=0.0, help="Share held back a few records.")
@click.option("--late", type=float, default=0.0, help="Share sent with a time far in the past.")
@click.option("--late-by", type=float, default=7200.0, show_default=True, help="Seconds late.")
@click.option("--malformed", type=float, default=0.0, help="Share of extra broken records.")
@click.option("--new-version", type=float, default=0.0, help="Share of OrderPlaced sent as v2.")
@click.option("--unknown-types", type=float, default=0.0, help="Share of extra unknown types.")
@click.option(
    "--ledger",
    "ledger_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write ledger.json and records.jsonl (default var/simulator/<time>).",
)
@click.option("--history-days", type=int, default=None, help="Write N past days to --landing.")
@click.option(
    "--landing",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Landing zone for --history-days (default var/landing).",
)
@click.option("--actions-per-day", type=int, default=20000, show_default=True)
@click.option("--progress/--no-progress", default=True, show_default=True)
@click.option(
    "--client",
    type=click.Choice(["librdkafka", "kafka-python"]),
    default="librdkafka",
    show_default=True,
    help="Producer transport; kafka-python tops out near 4,000 records/s per process.",
)
def simulate(
    rate: float,
    duration: float | None,
    max_records: int | None,
    seed: int,
    products: int,
    customers: int,
    duplicates: float,
    out_of_order: float,
    late: float,
    late_by: float,
    malformed: float,
    new_version: float,
    unknown_types: float,
    ledger_dir: Path | None,
    history_days: int | None,
    landing: Path | None,
    actions_per_day: int,
    progress: bool,
    client: str,
) -> None:
    """Simulate the shop: customers, orders, stock and billing, with a ground-truth ledger.

    Live (default): sends to Kafka at --rate until --duration or --events; Ctrl-C stops
    cleanly. With --history-days N: writes N past days, day-partitioned, to --landing.
    """
    from rapport.simulator.shop import ShopConfig
    from rapport.simulator.wire import ChaosConfig

    settings = load_settings()
    try:
        chaos = ChaosConfig(
            duplicates=duplicates,
            out_of_order=out_of_order,
            late=late,
            late_by=timedelta(seconds=late_by),
            malformed=malformed,
            unknown_types=unknown_types,
        )
        shop = ShopConfig(
            seed=seed,
            products=products,
            customers=customers,
            v2_share=new_version,
            run_tag=f"s{seed}",
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    ledger_dir = ledger_dir or settings.state_dir / "simulator" / stamp

    if history_days is not None:
        from rapport.contracts.catalog import default_catalog
        from rapport.simulator.history import write_history

        landing = landing or Path(settings.landing)
        first = date.today() - timedelta(days=history_days)
        try:
            ledger = write_history(
                landing, default_catalog(), shop, chaos, first, history_days, actions_per_day
            )
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from exc
        ledger.write(ledger_dir)
        click.echo(
            f"wrote {sum(ledger.sent.values())} records for {history_days} day(s) from {first} "
            f"to {landing}; ledger in {ledger_dir}"
        )
        return

    from rapport.simulator.live import LiveRun, run_live
    from registry.client import RegistryError
    from registry.producer import DeliveryError, Transport, UnregisteredContractError

    transport: Transport = "librdkafka" if client == "librdkafka" else "kafka-python"
    run = LiveRun(
        rate=rate, duration_s=duration if duration or max_records else 60.0, max_records=max_records
    )
    total = max_records or int(rate * (run.duration_s or 0))
    try:
        if progress and total:
            with click.progressbar(length=total, label="sending", file=sys.stderr) as bar:
                ledger = run_live(
                    settings, shop, chaos, run, on_progress=bar.update, transport=transport
                )
        else:
            ledger = run_live(settings, shop, chaos, run, transport=transport)
    except (ServiceError, UnregisteredContractError, RegistryError, DeliveryError) as exc:
        raise click.ClickException(str(exc)) from exc
    ledger.write(ledger_dir)
    sent = ledger.sent
    click.echo(
        f"sent {sum(sent.values())} records ({sent['event']} events, {sent['duplicate']} "
        f"duplicates, {sent['malformed']} malformed, {sent['unknown_type']} unknown types); "
        f"ledger in {ledger_dir}"
    )
