"""Debian's Chromium for the UI tests, and where they keep their screenshots."""

from __future__ import annotations

import shutil

import pytest

from rapport.settings import PROJECT_ROOT

ARTIFACTS = PROJECT_ROOT / "var" / "test-artifacts"


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("Chromium is missing: `make setup` installs it (apt-get install -y chromium)")
