"""`rapport dagster start|stop|status`: Dagster's UI and daemon as a background service.

Wired into the main CLI with `main.add_command(dagster)`; `rapport up` starts it with the rest.
"""

from __future__ import annotations

import sys

import click

from cli.common import fail_clearly, load_settings


@click.group()
def dagster() -> None:
    """Dagster (`dagster dev`: UI, daemon, code server) on workspace.yaml."""


@dagster.command("start")
@fail_clearly
def dagster_start() -> None:
    """Start Dagster and wait until its UI answers; a no-op if it already runs."""
    from orchestration.service import DagsterService

    service = DagsterService(load_settings())
    started = service.start()
    click.echo(f"Dagster {'started' if started else 'already running'} on {service.url}")


@dagster.command("stop")
@fail_clearly
def dagster_stop() -> None:
    """Stop Dagster and every process it started; a no-op if it is not running."""
    from orchestration.service import DagsterService

    stopped = DagsterService(load_settings()).stop()
    click.echo("Dagster stopped" if stopped else "Dagster was not running")


@dagster.command("status")
def dagster_status() -> None:
    """Say whether Dagster runs (exit code 0) or not (exit code 3), and where."""
    from orchestration.service import DagsterService

    st = DagsterService(load_settings()).status()
    if st.running:
        click.echo(f"Dagster running (pid {st.pid}) on {st.url}; DAGSTER_HOME {st.home}")
    else:
        click.echo(f"Dagster not running; DAGSTER_HOME {st.home}")
        sys.exit(3)
