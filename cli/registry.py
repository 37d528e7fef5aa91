"""`rapport registry start|stop|status`: the bundled schema registry as a background service.

Wired into the main CLI with `main.add_command(registry)`. It does not import `cli.main`, so
`cli.main` can import it without a cycle.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import click

from infra.processes import ServiceError
from lakehouse.settings import Settings, get_settings

P = ParamSpec("P")
R = TypeVar("R")


def _settings() -> Settings:
    try:
        return get_settings()
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise click.ClickException(
            f"invalid configuration (RAPPORT_* variables or .env):\n{exc}"
        ) from exc


def _fail_clearly(func: Callable[P, R]) -> Callable[P, R]:
    """A service error becomes one clear message instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except ServiceError as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper


@click.group()
def registry() -> None:
    """The bundled schema registry (Confluent's REST API, JSON Schema, stored in Kafka)."""


@registry.command("start")
@click.option("--foreground", is_flag=True, help="Run in this terminal until Ctrl-C.")
@_fail_clearly
def registry_start(foreground: bool) -> None:
    """Start the registry (Kafka must run); a no-op if it already runs."""
    settings = _settings()
    if foreground:
        import logging

        from registry.__main__ import serve

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
        logging.getLogger("kafka").setLevel(logging.ERROR)
        sys.exit(serve(settings))
    from registry.service import RegistryService

    service = RegistryService(settings)
    started = service.start()
    click.echo(f"schema registry {'started' if started else 'already running'} on {service.url}")


@registry.command("stop")
@_fail_clearly
def registry_stop() -> None:
    """Stop the registry; a no-op if it is not running."""
    from registry.service import RegistryService

    stopped = RegistryService(_settings()).stop()
    click.echo("schema registry stopped" if stopped else "schema registry was not running")


@registry.command("status")
def registry_status() -> None:
    """Say whether the registry runs (exit code 0) or not (exit code 3)."""
    from registry.service import RegistryService

    st = RegistryService(_settings()).status()
    if st.running:
        click.echo(f"schema registry running (pid {st.pid}) on {st.url}; topic {st.topic}")
    else:
        click.echo(f"schema registry not running; topic {st.topic}")
        sys.exit(3)
