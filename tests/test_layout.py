"""The house: the import contracts, docs/architecture.md and the README describe the same code."""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest

from rapport.settings import PROJECT_ROOT

pytestmark = pytest.mark.unit


def importlinter() -> dict[str, Any]:
    config = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    found: dict[str, Any] = config["tool"]["importlinter"]
    return found


def python_packages() -> set[str]:
    """Every top-level folder of the repository that is a Python package, tests aside."""
    return {
        p.parent.name
        for p in PROJECT_ROOT.glob("*/__init__.py")
        if p.parent.name not in {"tests", "var", ".venv"}
    }


def test_architecture_md_draws_the_layers_of_the_import_contract() -> None:
    (layers,) = [c["layers"] for c in importlinter()["contracts"] if c["type"] == "layers"]
    doc = (PROJECT_ROOT / "docs" / "architecture.md").read_text()
    block = re.search(r"<!-- layers: begin.*?-->\n```\n(.*?)```\n<!-- layers: end -->", doc, re.S)
    assert block is not None, "docs/architecture.md lost its layers block"
    assert block.group(1).splitlines() == layers


def test_every_package_is_under_contract_and_named_in_the_readme() -> None:
    packages = python_packages()
    assert packages == set(importlinter()["root_packages"])
    readme = (PROJECT_ROOT / "README.md").read_text()
    for package in packages:
        assert f"`{package}`" in readme or f"`{package}/`" in readme, package


def test_no_test_module_imports_another() -> None:
    """Shared code lives in tests/helpers or conftest.py fixtures, never in a test module."""
    offenders = [
        f"{path.relative_to(PROJECT_ROOT)}: {line.strip()}"
        for path in (PROJECT_ROOT / "tests").rglob("*.py")
        for line in path.read_text().splitlines()
        if re.match(r"\s*(from|import) tests\.(?!helpers\b)", line)
    ]
    assert offenders == []
