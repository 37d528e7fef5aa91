"""Query results print as an aligned table, CSV or JSON, NULLs and times included."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal

import pyarrow as pa
import pytest

from rapport.cli.output import print_rows
from serving.sql import Result

pytestmark = pytest.mark.unit

ARROW = pa.table(
    {
        "day": [date(2026, 11, 26), None],
        "value": [Decimal("12.50"), Decimal("-1.00")],
        "at": [datetime(2026, 11, 26, 10, 0), datetime(2026, 11, 26, 11, 30)],
    }
)
TABLE = Result(list(ARROW.column_names), ARROW)


def test_table_csv_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    print_rows(TABLE, "table")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["day", "value", "at"]
    assert lines[1].split() == ["2026-11-26", "12.50", "2026-11-26", "10:00:00"]
    assert lines[2].split()[0] == "NULL"
    print_rows(TABLE, "csv")
    assert capsys.readouterr().out.splitlines() == [
        "day,value,at",
        "2026-11-26,12.50,2026-11-26T10:00:00",
        ",-1.00,2026-11-26T11:30:00",
    ]
    print_rows(TABLE, "json")
    assert json.loads(capsys.readouterr().out) == [
        {"day": "2026-11-26", "value": "12.50", "at": "2026-11-26T10:00:00"},
        {"day": None, "value": "-1.00", "at": "2026-11-26T11:30:00"},
    ]
    print_rows(Result(TABLE.columns, ARROW.slice(0, 0)), "table")
    assert capsys.readouterr().out == "(no rows)\n"
