"""`rapport gdpr erase`: a customer's right to erasure, across every table (jobs.gdpr)."""

from __future__ import annotations

import click

from rapport.cli.common import command_spark, fail_clearly, load_settings


@click.group()
def gdpr() -> None:
    """Personal data: erase a customer's (docs/security.md)."""


@gdpr.command()
@click.option("--customer", "customer_id", required=True, help="The customer's id.")
@fail_clearly
def erase(customer_id: str) -> None:
    """Erase the customer's personal values from bronze, silver, gold and the quarantine,
    purge old table versions, and record it in ops.erasures. Safe while the stream runs."""
    from jobs.gdpr import ErasureError, erase_customer

    settings = load_settings()
    click.echo(
        f"erasing customer {customer_id}; old table versions are purged once the rewrite "
        f"is {settings.privacy.purge_after_s:g} s old (privacy.purge_after_s) ..."
    )
    with command_spark(settings, "rapport-gdpr") as spark:
        try:
            erasure = erase_customer(spark, settings, customer_id)
        except ErasureError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"erasure {erasure.erasure_id} of customer {customer_id}:")
    click.echo(f"  bronze.events       {erasure.bronze_rows} record(s) rewritten")
    click.echo(f"  bronze.quarantine   {erasure.quarantine_rows} record(s) rewritten")
    click.echo(f"  silver              {erasure.silver_rows} row(s) given erased pseudonyms")
    click.echo(f"  replay reasons      {erasure.replay_rows} scrubbed")
    purged = ", ".join(erasure.purged_tables) or "none (nothing held a value)"
    click.echo(f"  old versions purged {purged}")
    click.echo("recorded in ops.erasures")
