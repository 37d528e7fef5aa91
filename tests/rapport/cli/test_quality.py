"""`rapport freshness` and `rapport quality`: clear answers, and exit codes a probe can use."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from rapport.cli.quality_cmd import freshness, quality
from rapport.runtime.ports import free_port
from rapport.settings import get_settings

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    """The CLI reads settings once per process; each test sets its own environment."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        "RAPPORT_STATE_DIR": str(tmp_path),
        "RAPPORT_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
    }


def test_freshness_without_kafka_says_to_start_the_stack(tmp_path: Path) -> None:
    result = CliRunner().invoke(freshness, [], env=_env(tmp_path))
    assert result.exit_code == 2
    assert "gold.sales_by_day" in result.output
    assert "lag unknown (Kafka unreachable" in result.output
    assert "make up" in result.output


def test_a_bad_sla_file_is_named(tmp_path: Path) -> None:
    sla = tmp_path / "slas.yaml"
    sla.write_text("stream:\n  - tables: gold.salez\n    max_behind_s: 5\n")
    env = {**_env(tmp_path), "RAPPORT_QUALITY__SLA_FILE": str(sla)}
    result = CliRunner().invoke(freshness, [], env=env)
    assert result.exit_code != 0
    assert "'gold.salez' matches no table" in result.output


def test_check_refuses_unknown_tables_and_tables_without_a_suite(tmp_path: Path) -> None:
    result = CliRunner().invoke(quality, ["check", "silver.nope"], env=_env(tmp_path))
    assert result.exit_code == 2
    assert "no table 'silver.nope' in the catalog" in result.output
    result = CliRunner().invoke(quality, ["check", "bronze.events"], env=_env(tmp_path))
    assert result.exit_code == 2
    assert "has no quality suite; these do: silver.orders" in result.output
    result = CliRunner().invoke(
        quality, ["check", "silver.orders", "--day", "yesterday"], env=_env(tmp_path)
    )
    assert result.exit_code == 2
    assert "YYYY-MM-DD" in result.output


def test_history_of_an_empty_lakehouse(tmp_path: Path) -> None:
    result = CliRunner().invoke(quality, ["history"], env=_env(tmp_path))
    assert result.exit_code == 0
    assert "no validations recorded" in result.output
