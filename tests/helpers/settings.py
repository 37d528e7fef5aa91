"""The type of the `make_settings` fixture and where the `rapport` console script is."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from rapport.settings import Settings

SettingsFactory = Callable[..., Settings]


def rapport_bin() -> Path:
    """The `rapport` console script of the environment running the tests."""
    return Path(sys.executable).with_name("rapport")
