"""`rapport backfill`: bad ranges and a stopped Dagster give a clear next step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from rapport.cli.backfill_cmd import backfill
from rapport.runtime.ports import free_port

pytestmark = pytest.mark.unit


def _invoke(*args: str, port: int | None = None) -> tuple[int, str]:
    env = {"RAPPORT_DAGSTER__PORT": str(port or free_port())}
    result = CliRunner().invoke(backfill, list(args), env=env)
    return result.exit_code, result.output


def test_a_day_that_is_not_over_is_refused() -> None:
    today = datetime.now(UTC).date().isoformat()
    code, output = _invoke("--from", today, "--to", today)
    assert code != 0
    assert "not over yet" in output


def test_a_reversed_range_and_a_bad_date_are_refused() -> None:
    code, output = _invoke("--from", "2026-03-02", "--to", "2026-03-01")
    assert code != 0
    assert "before --from" in output
    code, output = _invoke("--from", "2026-13-01", "--to", "2026-03-01")
    assert code != 0
    assert "YYYY-MM-DD" in output


def test_a_stopped_dagster_says_to_start_the_stack() -> None:
    day = (datetime.now(UTC).date() - timedelta(days=2)).isoformat()
    code, output = _invoke("--from", day, "--to", day)
    assert code != 0
    assert "make up" in output
