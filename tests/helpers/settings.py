"""The type of the `make_settings` fixture, and the `rapport` console script: where it is,
and a run of it as a user's shell would run it."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from rapport.settings import Settings

SettingsFactory = Callable[..., Settings]


def rapport_bin() -> Path:
    """The `rapport` console script of the environment running the tests."""
    return Path(sys.executable).with_name("rapport")


def run_rapport(
    env: dict[str, str], *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`rapport ARGS` in a process of its own, its output captured; prints how long it took,
    so that a slow test's log shows where its time went."""
    began = time.monotonic()
    done = subprocess.run(
        [str(rapport_bin()), *args], env=env, capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip
    print(f"rapport {args[0]}: {time.monotonic() - began:.1f} s")
    return done
