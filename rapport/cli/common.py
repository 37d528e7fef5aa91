"""What every `rapport` command shares: settings with a readable error, and clear failures."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import click

from rapport.lakehouse.spark import MissingJarsError, get_spark
from rapport.runtime.processes import ServiceError
from rapport.settings import Settings, get_settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

P = ParamSpec("P")
R = TypeVar("R")


def load_settings() -> Settings:
    """The settings, or one message naming the bad RAPPORT_* value instead of a traceback."""
    try:
        return get_settings()
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise click.ClickException(
            f"invalid configuration (RAPPORT_* variables or .env):\n{exc}"
        ) from exc


@contextmanager
def command_spark(
    settings: Settings, app_name: str, *, register_tables: bool = True
) -> Iterator[SparkSession]:
    """A SparkSession for one command: no web UI, stopped when the command is done."""

    session = get_spark(
        settings.with_spark(ui_enabled=False),
        app_name=app_name,
        register_tables=register_tables,
    )
    try:
        yield session
    finally:
        session.stop()


def parse_day(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date | None:
    """A click callback: a YYYY-MM-DD option as a date (None stays None), or a clear error."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a day; write it as YYYY-MM-DD") from exc


def fail_clearly(func: Callable[P, R]) -> Callable[P, R]:
    """Turn the errors a user can act on into one clear message instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (ServiceError, MissingJarsError) as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper
