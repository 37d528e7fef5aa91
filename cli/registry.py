"""`rapport registry start|stop|status`: the bundled schema registry as a background service.

Wired into the main CLI with `main.add_command(registry)`. It does not import `cli.main`, so
`cli.main` can import it without a cycle.
"""

from __future__ import annotations

import sys

import click

from cli.common import fail_clearly, load_settings


@click.group()
def registry() -> None:
    """The bundled schema registry (Confluent's REST API, JSON Schema, stored in Kafka)."""


@registry.command("start")
@click.option("--foreground", is_flag=True, help="Run in this terminal until Ctrl-C.")
@fail_clearly
def registry_start(foreground: bool) -> None:
    """Start the registry (Kafka must run); a no-op if it already runs."""
    settings = load_settings()
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
@fail_clearly
def registry_stop() -> None:
    """Stop the registry; a no-op if it is not running."""
    from registry.service import RegistryService

    stopped = RegistryService(load_settings()).stop()
    click.echo("schema registry stopped" if stopped else "schema registry was not running")


@registry.command("status")
def registry_status() -> None:
    """Say whether the registry runs (exit code 0) or not (exit code 3)."""
    from registry.service import RegistryService

    st = RegistryService(load_settings()).status()
    if st.running:
        click.echo(f"schema registry running (pid {st.pid}) on {st.url}; topic {st.topic}")
    else:
        click.echo(f"schema registry not running; topic {st.topic}")
        sys.exit(3)
