"""`rapport quarantine`: argument errors and missing services say what to do; the output formats."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from jobs.quarantine import ReasonOutcome, ReplayReport
from rapport.cli.main import main
from rapport.cli.quarantine_cmd import describe_report, quarantine, render_summary
from rapport.runtime.ports import free_port

pytestmark = pytest.mark.unit

ROWS: list[dict[str, Any]] = [
    {
        "reason": "invalid_payload: 'XYZ' is not one of ['EUR', 'USD', 'GBP']" + " and more" * 10,
        "event_type": "rapport.orders.OrderPlaced",
        "records": 12,
        "retried": 2,
        "first_quarantined_at": datetime(2026, 3, 1, 10, 0, 0),
        "last_quarantined_at": datetime(2026, 3, 1, 11, 30, 0),
        "example_topic": "rapport.orders.events",
        "example_partition": 1,
        "example_offset": 42,
    },
    {
        "reason": "not_json",
        "event_type": None,
        "records": 3,
        "retried": 0,
        "first_quarantined_at": datetime(2026, 3, 2, 9, 0, 0),
        "last_quarantined_at": datetime(2026, 3, 2, 9, 5, 0),
        "example_topic": "rapport.billing.events",
        "example_partition": 0,
        "example_offset": 7,
    },
]


@pytest.fixture(autouse=True)
def isolated(cli_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A registry port nothing listens on."""
    monkeypatch.setenv("RAPPORT_REGISTRY__PORT", str(free_port()))
    return cli_home


@pytest.fixture
def no_spark(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Stands in for the Spark session; records that a command asked for one."""
    started: list[str] = []

    @contextmanager
    def fake(_settings: Any) -> Iterator[str]:
        started.append("spark")
        yield "spark"

    monkeypatch.setattr("rapport.cli.quarantine_cmd._spark", fake)
    return started


@pytest.fixture
def lakehouse(isolated: Path) -> Path:
    """A local lakehouse that has a quarantine table (as far as a check without Spark sees)."""
    log = isolated / "state" / "lakehouse" / "bronze" / "quarantine" / "_delta_log"
    log.mkdir(parents=True)
    return log


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(quarantine, list(args))
    return result.exit_code, result.output


def test_the_group_is_registered_with_both_commands() -> None:
    result = CliRunner().invoke(main, ["quarantine", "--help"])
    assert result.exit_code == 0
    assert "list" in result.output
    assert "replay" in result.output


@pytest.mark.parametrize("command", ["list", "replay"])
def test_bad_days_and_a_reversed_range_are_refused(command: str, no_spark: list[str]) -> None:
    code, output = _invoke(command, "--since", "2026-13-01")
    assert code == 2
    assert "YYYY-MM-DD" in output
    code, output = _invoke(command, "--since", "2026-03-02", "--until", "2026-03-01")
    assert code == 2
    assert "before --since" in output
    assert no_spark == []


def test_an_unknown_format_is_refused(no_spark: list[str]) -> None:
    code, output = _invoke("list", "--format", "xml")
    assert code == 2
    assert "table" in output
    assert "json" in output


@pytest.mark.parametrize("command", ["list", "replay"])
def test_no_lakehouse_says_to_start_the_stack_before_spark_starts(
    command: str, no_spark: list[str]
) -> None:
    code, output = _invoke(command)
    assert code == 1
    assert "no lakehouse" in output
    assert "rapport up" in output
    assert "Traceback" not in output
    assert no_spark == []


def test_replay_with_the_registry_down_says_how_to_start_it(
    lakehouse: Path, no_spark: list[str]
) -> None:
    code, output = _invoke("replay")
    assert code == 1
    assert "Cannot reach the schema registry" in output
    assert "rapport registry start" in output
    assert no_spark == []


def test_list_prints_json_records_with_utc_times(
    lakehouse: Path, no_spark: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: dict[str, Any] = {}

    def fake_list(
        _spark: Any, _settings: Any, since: Any, reason: Any, *, until: Any
    ) -> list[dict[str, Any]]:
        asked.update(since=since, reason=reason, until=until)
        return ROWS

    monkeypatch.setattr("jobs.quarantine.list_quarantine", fake_list)
    code, output = _invoke("list", "--format", "json", "--since", "2026-03-01", "--reason", "x")
    assert code == 0, output
    records = json.loads(output)
    assert [r["records"] for r in records] == [12, 3]
    assert records[0]["reason"] == ROWS[0]["reason"]  # whole, not cut
    assert records[0]["first_quarantined_at"] == "2026-03-01T10:00:00+00:00"
    assert str(asked["since"]) == "2026-03-01"
    assert asked["reason"] == "x"
    assert asked["until"] is None
    assert no_spark == ["spark"]


def test_the_table_format_aligns_columns_and_cuts_long_reasons() -> None:
    lines = render_summary(ROWS, "table").splitlines()
    assert lines[0].split() == [
        "records", "retried", "event_type", "first", "last", "example", "reason",
    ]  # fmt: skip
    assert "rapport.orders.events[1]@42" in lines[1]
    assert lines[1].endswith("...")
    assert len(lines[1]) < len(ROWS[0]["reason"]) + 120
    assert lines[2].split()[2] == "-"  # no event type
    assert lines[-1].startswith("15 record(s) in quarantine")
    assert render_summary([], "table") == "(nothing in quarantine)"
    assert render_summary([], "json") == "[]"


def test_the_replay_report_names_what_passed_and_why_the_rest_still_fails() -> None:
    report = ReplayReport(
        replay_id="r1",
        dry_run=False,
        attempted=5,
        replayed=3,
        still_invalid=2,
        by_reason={"not_json": ReasonOutcome(5, 3, 2)},
        new_reasons={"not_json": 2},
        new_events=3,
    )
    lines = describe_report(report)
    assert lines[0] == "replay r1: 5 attempted, 3 replayed, 2 still invalid"
    assert "3 event(s) new to silver" in lines
    assert any(line.strip().endswith("was not_json") for line in lines)
    assert any("UPDATE bronze.quarantine" in line for line in lines)

    dry = describe_report(ReplayReport(replay_id="r2", dry_run=True, attempted=1, replayed=1))
    assert "dry run: nothing written" in dry[0]
    assert "1 would replay" in dry[0]
    empty = describe_report(ReplayReport(replay_id="r3", dry_run=False))
    assert "nothing to replay" in empty[1]


def test_replay_passes_the_selection_and_prints_the_report(
    lakehouse: Path, no_spark: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: dict[str, Any] = {}

    def fake_replay(_spark: Any, _settings: Any, **selection: Any) -> ReplayReport:
        asked.update(selection)
        return ReplayReport(replay_id="r9", dry_run=True, attempted=2, replayed=1, still_invalid=1)

    monkeypatch.setattr("jobs.quarantine.require_registry", lambda _settings: None)
    monkeypatch.setattr("jobs.quarantine.require_quarantine", lambda *_args: None)
    monkeypatch.setattr("rapport.lakehouse.spark_catalog.register_tables", lambda *_args: None)
    monkeypatch.setattr("jobs.quarantine.replay", fake_replay)
    code, output = _invoke("replay", "--until", "2026-03-05", "--dry-run", "--reason", "json")
    assert code == 0, output
    assert "replay r9 (dry run: nothing written): 2 attempted, 1 would replay" in output
    assert asked["dry_run"] is True
    assert asked["include_replayed"] is False
    assert str(asked["until"]) == "2026-03-05"
    assert asked["since"] is None
    assert asked["reason_contains"] == "json"
