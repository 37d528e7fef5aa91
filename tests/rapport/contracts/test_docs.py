"""docs/events.md is generated from the contracts and must not go stale."""

from __future__ import annotations

import pytest

from rapport.contracts.catalog import default_catalog
from rapport.contracts.docs import EVENTS_MD, main, render

pytestmark = pytest.mark.unit


def test_events_md_is_current() -> None:
    assert EVENTS_MD.read_text() == render(default_catalog()), (
        "docs/events.md is stale: run `uv run python -m rapport.contracts.docs`"
    )
    assert main(["--check"]) == 0


def test_catalogue_lists_every_event_and_marks_pii() -> None:
    text = render(default_catalog())
    for event_type in default_catalog().event_types():
        assert f"### {event_type}" in text
    assert "| `email` | string (email) | yes | yes |" in text
