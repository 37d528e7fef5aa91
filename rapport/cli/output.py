"""Printing query results as an aligned table, CSV or JSON, without pandas or pyarrow."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from typing import Any

import click

from serving.sql import Result

#: Cells longer than this are cut in the table format (CSV and JSON keep them whole).
CELL_WIDTH = 60


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, datetime):
        text = value.isoformat(sep=" ")
    elif isinstance(value, date):
        text = value.isoformat()
    else:
        text = str(value)
    return text if len(text) <= CELL_WIDTH else text[: CELL_WIDTH - 3] + "..."


def print_rows(result: Result, fmt: str) -> None:
    """Print a query result in `fmt` (table, csv or json) on stdout."""
    columns = result.columns
    rows = result.to_pylist()
    if fmt == "json":
        click.echo(json.dumps(rows, default=_json_default))
        return
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if row[c] is None else _json_default(row[c]) for c in columns])
        click.echo(buffer.getvalue(), nl=False)
        return
    if not rows:
        click.echo("(no rows)")
        return
    cells = [[_cell(row[c]) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for r in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, int | float | str | bool):
        return value
    return str(value)
