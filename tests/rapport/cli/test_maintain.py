"""`rapport maintain`: the refusals that need no Spark say what is wrong and what to do."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from rapport.cli.maintain_cmd import maintain

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def isolated(cli_home: Path) -> Path:
    return cli_home


@pytest.mark.parametrize("command", ["compact", "vacuum"])
def test_an_unknown_table_lists_the_known_ones(command: str) -> None:
    result = CliRunner().invoke(maintain, [command, "--table", "gold.nope"])
    assert result.exit_code == 2
    assert "no table 'gold.nope'" in result.output
    assert "bronze.events" in result.output  # the known tables are listed
    assert "Traceback" not in result.output


def test_a_short_vacuum_retention_without_force_is_refused_naming_force() -> None:
    result = CliRunner().invoke(maintain, ["vacuum", "--retention-hours", "1"])
    assert result.exit_code == 1
    assert "--force" in result.output
    assert "maintenance.min_vacuum_retention_hours" in result.output
    assert "Traceback" not in result.output


def test_checkpoints_reports_orphans_without_deleting_them(isolated: Path) -> None:
    orphan = isolated / "state" / "checkpoints" / "silver" / "orders" / "gone_query"
    (orphan / "offsets").mkdir(parents=True)
    result = CliRunner().invoke(maintain, ["checkpoints"])
    assert result.exit_code == 0, result.output
    assert "gone_query" in result.output
    assert "orphaned" in result.output
    assert "--apply" in result.output
    assert orphan.is_dir()
