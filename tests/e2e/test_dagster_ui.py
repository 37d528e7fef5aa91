"""Dagster as the stack runs it: the UI answers, loads the code location and draws its assets.

Headless Chromium (Debian's, which `make setup` installs) is driven through playwright.
Screenshots are kept in var/test-artifacts/.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from orchestration.dagster_service import DagsterService
from rapport.runtime.ports import free_port
from rapport.runtime.processes import wait_until
from rapport.settings import PROJECT_ROOT, Settings, settings_env
from tests.helpers.browser import ARTIFACTS, chromium

pytestmark = pytest.mark.e2e

#: How long the browser may take to draw what is asserted (ms); it polls, it does not sleep.
DRAWN_WITHIN_MS = 30_000

#: Prints every asset of the code location as JSON: the graph grows, the test follows.
LIST_ASSETS = """
import json
from orchestration.definitions import defs
definitions = defs() if callable(defs) else defs
print(json.dumps([
    {"key": spec.key.path, "group": spec.group_name}
    for spec in definitions.resolve_all_asset_specs()
]))
"""


def assets_in_definitions(settings: Settings) -> list[dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-c", LIST_ASSETS],
        env={**os.environ, **settings_env(settings)},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assets: list[dict[str, Any]] = json.loads(done.stdout.splitlines()[-1])
    return assets


def keys_to_look_for(assets: list[dict[str, Any]]) -> list[list[str]]:
    """bronze/events, another asset of its (stream) group, and one asset of every other group.

    Short names first: a zoomed-out graph shortens long names.
    """
    bronze = ["bronze", "events"]
    by_group: dict[str, list[list[str]]] = {}
    for asset in sorted(assets, key=lambda a: (len(a["key"][-1]), a["key"])):
        by_group.setdefault(asset["group"], []).append(asset["key"])
    stream_group = next(a["group"] for a in assets if a["key"] == bronze)
    keys = [bronze]
    keys += [key for key in by_group.pop(stream_group) if key != bronze][:1]
    keys += [group_keys[0] for group_keys in by_group.values()]
    return keys[:5]


@pytest.fixture
def dagster(tmp_path: Path) -> Iterator[DagsterService]:
    """Dagster started as `rapport up` starts it, with its own DAGSTER_HOME and port."""
    settings = Settings(state_dir=tmp_path / "state", dagster={"port": free_port()})
    service = DagsterService(settings)
    service.start(timeout_s=90)
    try:
        yield service
    finally:
        service.stop()


def test_the_asset_graph_shows_the_assets_of_the_definitions(dagster: DagsterService) -> None:
    from playwright.sync_api import expect, sync_playwright

    locations: dict[str, str] = {}

    def loaded() -> bool:
        locations.update(dagster.code_locations())
        return bool(locations) and all(state != "LOADING" for state in locations.values())

    assert wait_until(loaded, 60), f"code locations still loading: {locations}"
    assert locations == {"rapport": "LOADED"}, locations

    assets = assets_in_definitions(dagster.settings)
    keys = keys_to_look_for(assets)
    groups = sorted({a["group"] for a in assets})
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), headless=True)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(DRAWN_WITHIN_MS)
            # The global asset graph: one node per asset group.
            page.goto(f"{dagster.url}/asset-groups")
            for group in groups:
                group_node = page.locator(f'svg [data-tooltip="{group}"]').first
                expect(group_node).to_be_visible(timeout=DRAWN_WITHIN_MS)
            page.screenshot(path=ARTIFACTS / "dagster-asset-groups.png")
            # Each asset's own graph (it and its neighbours), at its key's address: the graph
            # draws its node, named by the key's last part. (The page's breadcrumb and title
            # are not asserted: the UI collapses or sets them late, depending on the layout.)
            for key in keys:
                page.goto(f"{dagster.url}/assets/{'/'.join(key)}?view=lineage")
                node = page.locator("svg").get_by_text(key[-1], exact=True).first
                expect(node).to_be_visible(timeout=DRAWN_WITHIN_MS)
                if key == ["bronze", "events"]:
                    page.screenshot(path=ARTIFACTS / "dagster-bronze-events.png")
        finally:
            browser.close()

    # `rapport down` leaves nothing of Dagster behind: webserver, daemon, code servers.
    family = dagster.process.group_pids()
    assert len(family) >= 3, family
    assert dagster.stop() is True
    assert not [pid for pid in family if psutil.pid_exists(pid)]
    # Runs, event logs and schedules are in DAGSTER_HOME, so they outlive the process.
    assert (dagster.home / "dagster.yaml").is_file()
    assert (dagster.home / "storage" / "history" / "runs.db").is_file()
