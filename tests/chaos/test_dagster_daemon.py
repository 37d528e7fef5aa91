"""Dagster's daemon and code server killed during a 30-partition backfill.

The stack's own Dagster (`dagster dev`, as `rapport up` starts it, with its instance in
DAGSTER_HOME) runs a backfill of 30 days of exported history, launched over GraphQL as
`rapport backfill` launches it. While it runs, the daemon and the code server are killed
with SIGKILL, twice: once while the backfill daemon is submitting the run, once while the
run is loading. `dagster dev` stops when its daemon dies; the test starts it again, as an
operator (or `rapport up`) would.

The backfill must complete, every partition of every asset must be materialised exactly
once (no second run redoes a day, no day is skipped), and the tables must equal the ledger.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import psutil
import pytest

from orchestration.backfill import asset_paths, launch, status, wait
from orchestration.dagster_service import DagsterService
from rapport.contracts.catalog import default_catalog
from rapport.runtime.ports import free_port
from rapport.runtime.processes import wait_until
from rapport.settings import Settings
from rapport.simulator.history import write_history
from rapport.simulator.ledger import Ledger
from rapport.simulator.shop import ShopConfig
from rapport.simulator.wire import ChaosConfig
from tests.helpers.chaos import Report, scale
from tests.helpers.ledger_checks import assert_tables_match, tally

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.spark, pytest.mark.chaos,
              pytest.mark.full_chaos]  # fmt: skip

DAYS = 30
ACTIONS_PER_DAY = scale(20, 40)
#: `dagster dev`'s children that this scenario kills, by their module and command (the
#: webserver's and the run workers' command lines name neither).
DAEMON = ("dagster._daemon",)
CODE_SERVER = (("dagster", "code-server"), ("dagster", "api", "grpc"))


def _runs(argv: list[str], command: tuple[str, ...]) -> bool:
    """Whether `argv` is `python -m <command...>`."""
    if "-m" not in argv:
        return False
    at = argv.index("-m") + 1
    return tuple(argv[at : at + len(command)]) == command


def dagster_children(service: DagsterService) -> dict[str, list[int]]:
    """The daemon and code-server processes of the running `dagster dev`, by role."""
    pid = service.process.pid()
    assert pid is not None, "Dagster is not running"
    found: dict[str, list[int]] = {"daemon": [], "code server": []}
    for child in psutil.Process(pid).children(recursive=True):
        try:
            argv = child.cmdline()
        except psutil.NoSuchProcess:
            continue
        if _runs(argv, DAEMON):
            found["daemon"].append(child.pid)
        elif any(_runs(argv, command) for command in CODE_SERVER):
            found["code server"].append(child.pid)
    return found


def kill_daemon_and_code_server(service: DagsterService) -> dict[str, list[int]]:
    """SIGKILL both; `dagster dev` notices its daemon died and stops. Returns who died."""
    victims = dagster_children(service)
    assert victims["daemon"], victims
    assert victims["code server"], victims
    for pid in (*victims["daemon"], *victims["code server"]):
        os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: service.process.pid() is None, timeout_s=120), (
        "dagster dev outlived its daemon"
    )
    return victims


def backfill_runs(instance: dg.DagsterInstance, backfill_id: str) -> list[dg.DagsterRun]:
    return list(instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": backfill_id})))


def materialised_partitions(instance: dg.DagsterInstance) -> Counter[tuple[str, str]]:
    """How often each (asset, partition) was materialised in this instance."""
    done: Counter[tuple[str, str]] = Counter()
    for path in asset_paths(include_history=True):
        key = dg.AssetKey(path)
        records = instance.fetch_materializations(key, limit=10_000).records
        for record in records:
            done[(key.to_user_string(), str(record.partition_key))] += 1
    return done


def test_a_backfill_survives_its_daemon_and_code_server_killed(
    spark: Any, isolated: Any, schema_registry: Any, tmp_path: Path, chaos_report: Report
) -> None:
    base: Settings = isolated()
    settings = base.model_copy(
        update={
            "landing_root": str(tmp_path / "landing"),
            "dagster": base.dagster.model_copy(update={"port": free_port()}),
        }
    )
    today = datetime.now(UTC).date()
    first, last = today - timedelta(days=DAYS + 1), today - timedelta(days=2)
    ledger = Ledger()  # keeps every line: gold.active_customers is checked against it
    write_history(Path(settings.landing), default_catalog(),
                  ShopConfig(seed=71, customers=120, run_tag="daemon"),
                  ChaosConfig(duplicates=0.03, out_of_order=0.03, malformed=0.01),
                  first, DAYS, actions_per_day=ACTIONS_PER_DAY, ledger=ledger)  # fmt: skip
    seed = int(os.environ.get("RAPPORT_KILL_SEED", time.time_ns() % 10_000))
    rng = random.Random(seed)
    print(f"kill points drawn with RAPPORT_KILL_SEED={seed}")

    service = DagsterService(settings)
    kills: list[str] = []
    try:
        service.start(timeout_s=300)
        assert wait_until(lambda: service.code_locations().get("rapport") == "LOADED", 180), (
            service.code_locations()
        )
        backfill = launch(service.url, first, last, include_history=True)
        assert backfill.partitions == DAYS
        instance = dg.DagsterInstance.from_config(str(settings.dagster_home))

        # 1. While the backfill daemon submits the run.
        time.sleep(rng.uniform(0.0, 5.0))
        kill_daemon_and_code_server(service)
        kills.append(f"submitting ({len(backfill_runs(instance, backfill.backfill_id))} runs)")
        service.start(timeout_s=300)

        # 2. While the run loads the history: its first asset has begun, not ended.
        def loading() -> bool:
            runs = backfill_runs(instance, backfill.backfill_id)
            return any(r.status == dg.DagsterRunStatus.STARTED for r in runs)

        assert wait_until(loading, timeout_s=600, interval_s=0.5), (
            status(service.url, backfill.backfill_id),
            backfill_runs(instance, backfill.backfill_id),
        )
        time.sleep(rng.uniform(2.0, 15.0))
        kill_daemon_and_code_server(service)
        kills.append("loading")
        service.start(timeout_s=300)

        final = wait(service.url, backfill.backfill_id, timeout_s=1800)
        runs = backfill_runs(instance, backfill.backfill_id)
        done = materialised_partitions(instance)
    finally:
        service.stop()

    counts = tally(spark, settings, ledger)
    twice = {key: n for key, n in done.items() if n != 1}
    days = {d.isoformat() for d in (first + timedelta(days=i) for i in range(DAYS))}
    expected = {(dg.AssetKey(p).to_user_string(), d) for p in asset_paths(True) for d in days}
    chaos_report("Dagster daemon + code server SIGKILL x2", counts, kill_seed=seed,
                 kills=kills, backfill=final, partitions=DAYS,
                 runs={r.run_id[:8]: r.status.value for r in runs},
                 partitions_materialised_twice=len(twice))  # fmt: skip
    assert final == "COMPLETED_SUCCESS", (final, [(r.run_id, r.status) for r in runs])
    assert set(done) == expected, sorted(expected ^ set(done))[:5]
    assert not twice, sorted(twice.items())[:5]
    assert (counts.lost, counts.duplicated) == (0, 0), counts
    assert counts.quarantined == counts.to_quarantine, counts
    assert_tables_match(spark, settings, ledger)
