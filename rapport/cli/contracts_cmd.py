"""`rapport contracts register|check|diff`: deploy the event contracts to the schema registry."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from rapport.cli.common import load_settings
from rapport.contracts.catalog import ContractCatalog, ContractError, load_catalog
from rapport.settings import Settings

if TYPE_CHECKING:
    from registry.client import RegistryClient
from registry.levels import CompatibilityLevel


def _client(settings: Settings) -> RegistryClient:
    from registry.client import RegistryClient

    return RegistryClient(settings.registry)


def _catalog(settings: Settings) -> ContractCatalog:
    try:
        return load_catalog(settings.contracts_dir)
    except ContractError as exc:
        raise click.ClickException(str(exc)) from exc


def _fail(exc: Exception) -> click.ClickException:
    return click.ClickException(str(exc))


@click.group()
def contracts() -> None:
    """Event contracts (rapport/contracts/schemas/): register them, check changes, diff them."""


@contracts.command()
def register() -> None:
    """Register every contract version in the registry (idempotent; fails on a breaking change)."""
    from registry.client import RegistryError
    from registry.deploy import IncompatibleContractError, register_all

    settings = load_settings()
    try:
        done = register_all(_client(settings), _catalog(settings))
    except (IncompatibleContractError, RegistryError, ContractError) as exc:
        raise _fail(exc) from exc
    for r in done:
        click.echo(f"{r.subject:<40} v{r.version}  id {r.schema_id}")
    click.echo(f"{len(done)} contract version(s) registered in {settings.registry.url}")


@contracts.command()
@click.option(
    "--offline",
    is_flag=True,
    help="Check each local version against the earlier local ones; no registry needed (CI).",
)
@click.option(
    "--level",
    type=click.Choice([lvl.value for lvl in CompatibilityLevel]),
    default="BACKWARD",
    show_default=True,
    help="Compatibility level for --offline.",
)
def check(offline: bool, level: str) -> None:
    """Fail (exit 1) if a contract change is incompatible, naming the field and the rule."""
    from registry.client import RegistryError
    from registry.deploy import check_against_registry, check_local_history

    settings = load_settings()
    catalog = _catalog(settings)
    try:
        findings = (
            check_local_history(catalog, CompatibilityLevel(level))
            if offline
            else check_against_registry(_client(settings), catalog)
        )
    except (RegistryError, ContractError) as exc:
        raise _fail(exc) from exc
    for f in findings:
        click.echo(f"INCOMPATIBLE {f.subject} v{f.version}: {f.problem}", err=True)
    if findings:
        sys.exit(1)
    click.echo(f"all {len(list(catalog))} contract version(s) are compatible")


@contracts.command()
@click.argument("event_type", required=False)
def diff(event_type: str | None) -> None:
    """Show how the local contracts differ from the latest registered versions."""
    from registry.client import RegistryError
    from registry.deploy import diff_contract

    settings = load_settings()
    catalog = _catalog(settings)
    client = _client(settings)
    try:
        types = [event_type] if event_type else catalog.event_types()
        for name in types:
            contract = catalog.latest(name)
            try:
                registered = client.latest(contract.subject)
            except RegistryError as exc:
                if exc.error_code != 40401:
                    raise
                registered = None
            changes, problems = diff_contract(
                contract, registered.schema if registered is not None else None
            )
            if not changes and not problems:
                continue
            where = f"registry v{registered.version}" if registered else "not registered"
            click.echo(f"{contract.subject}: local v{contract.version} vs {where}")
            for line in changes:
                click.echo(f"  {line}")
            for problem in problems:
                click.echo(f"  INCOMPATIBLE {problem}")
    except (RegistryError, ContractError) as exc:
        raise _fail(exc) from exc
