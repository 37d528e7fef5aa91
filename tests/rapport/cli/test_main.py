"""The `rapport` command line: help everywhere, and errors that say what to do next."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from rapport.cli.main import main
from rapport.cli.services import _describe_stream
from rapport.settings import Settings
from streaming.runner import BACKGROUND, StatusBoard, explain_failure, status_file
from streaming.stream_service import StreamService

pytestmark = pytest.mark.unit


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += all_commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


COMMANDS = all_commands(main)


def test_the_expected_commands_exist() -> None:
    assert {
        ("kafka", "start"),
        ("kafka", "stop"),
        ("kafka", "status"),
        ("stream", "start"),
        ("stream", "stop"),
        ("stream", "status"),
        ("run",),
        ("up",),
        ("down",),
        ("status",),
        ("dagster", "start"),
        ("dagster", "stop"),
        ("dagster", "status"),
        ("produce",),
        ("sql",),
    } <= set(COMMANDS)


def test_the_service_groups_share_one_shape() -> None:
    for name in ("kafka", "registry", "stream", "dagster", "dashboard"):
        group = main.commands[name]
        assert isinstance(group, click.Group)
        assert {"start", "stop", "status"} <= set(group.commands), name


def listed_commands(argv: list[str]) -> list[str]:
    out = subprocess.run(
        [*argv, "--help"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    listing = out.split("Commands:", 1)[1]
    return [line.split()[0] for line in listing.splitlines() if line.startswith("  ")]


def test_python_dash_m_and_the_console_script_list_the_same_commands() -> None:
    script = Path(sys.executable).with_name("rapport")
    from_script = listed_commands([str(script)])
    assert from_script == sorted(main.commands)
    assert listed_commands([sys.executable, "-m", "rapport.cli.main"]) == from_script
    assert listed_commands([sys.executable, "-m", "rapport.cli"]) == from_script


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "rapport")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output
    # A docstring line, not just the bare usage.
    assert len(result.output.splitlines()) > 3


def test_bad_configuration_is_named(cli_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAPPORT_SPARK__MASTER", "mesos://nope")
    result = CliRunner().invoke(main, ["status"])
    assert result.exit_code == 1
    assert "invalid configuration" in result.output
    assert "spark://host:port" in result.output


def test_status_of_a_stopped_stack(cli_home: Path) -> None:
    result = CliRunner().invoke(main, ["status"])
    assert result.exit_code == 0
    assert "kafka    stopped" in result.output
    assert "registry stopped" in result.output
    assert "stream   stopped" in result.output
    assert "dagster  stopped" in result.output


def test_dagster_status_exit_code_when_stopped(cli_home: Path) -> None:
    result = CliRunner().invoke(main, ["dagster", "status"])
    assert result.exit_code == 3
    assert "not running" in result.output
    assert str(cli_home / "state" / "dagster") in result.output


def test_kafka_status_exit_code_when_stopped(cli_home: Path) -> None:
    result = CliRunner().invoke(main, ["kafka", "status"])
    assert result.exit_code == 3
    assert "not running" in result.output


def test_kafka_start_without_jars_says_run_setup(cli_home: Path) -> None:
    result = CliRunner().invoke(main, ["kafka", "start"])
    assert result.exit_code == 1
    assert "make setup" in result.output
    assert "Traceback" not in result.output


def test_produce_without_a_broker_says_how_to_start_one(
    cli_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rapport.runtime.ports import free_port

    monkeypatch.setenv("RAPPORT_KAFKA__BOOTSTRAP_SERVERS", f"127.0.0.1:{free_port()}")
    result = CliRunner().invoke(main, ["produce", "orders", "{}"])
    assert result.exit_code == 1
    assert "make up" in result.output


def test_the_advice_outlives_the_stream_until_it_starts_again(tmp_path: Path) -> None:
    """`rapport stream status` shows what to do after the failure that stopped the stream."""
    settings = Settings(state_dir=tmp_path)
    board = StatusBoard(status_file(settings, BACKGROUND))
    advice = explain_failure("java.io.IOException: No space left on device")
    board.set_state("failing", failed_query="bronze_events", advice=advice, error="...")
    status = StreamService(settings).status()
    assert (status.running, status.advice) == (False, advice)
    assert f"  what to do: {advice}" in _describe_stream(status)
    StatusBoard(status_file(settings, BACKGROUND)).set_state("starting")  # a new start
    assert StreamService(settings).status().advice is None
