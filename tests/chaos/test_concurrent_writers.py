"""The stream, a Dagster backfill and table maintenance writing the same tables at once.

- The stream runs out of process (`rapport stream start`: hot gold, bronze, refine) while a
  shop sends live events.
- A Dagster backfill (`history_backfill`: the historical load, the daily aggregates and
  reconciliation) loads another shop's exports of those same days and the days before,
  in this process, into the same bronze, silver and gold partitions.
- Table maintenance compacts bronze and silver again and again meanwhile (OPTIMIZE removes
  every file it rewrites), which conflicts with silver's writes.

Delta's conflicts are retried, each event lands once, every gold figure equals the ledger,
and reconciliation, which ran while the stream was writing, corrected nothing it should not
have: afterwards, with the stream level, it finds every figure equal.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from jobs.maintenance import compact
from orchestration.definitions import build_definitions
from orchestration.resources import RapportResource
from rapport.contracts.catalog import default_catalog
from rapport.lakehouse.tables import BRONZE_EVENTS, OPS_RECONCILIATION, SILVER_TABLES
from rapport.runtime.processes import wait_until
from rapport.settings import Settings, revealed
from rapport.simulator.history import write_history
from rapport.simulator.ledger import Ledger
from rapport.simulator.shop import ShopConfig
from rapport.simulator.wire import ChaosConfig
from streaming.stream_service import StreamService
from tests.helpers.chaos import Report, scale
from tests.helpers.ledger_checks import assert_tables_match, rows, tally
from tests.helpers.streams import START, produce_paced, shop_records

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.spark, pytest.mark.chaos,
              pytest.mark.full_chaos]  # fmt: skip

#: Live records per second: sent for about as long as the backfill runs.
LIVE_ACTIONS, LIVE_RATE = scale(1200, 6000), scale(6, 15)
HISTORY_DAYS, HISTORY_ACTIONS = 4, scale(100, 500)  # the last two are the live days


def backfill(settings: Settings, job: str, first: Any, last: Any) -> dg.ExecuteInProcessResult:
    """One Dagster run over a partition range, as a single-run backfill launches it."""
    resource = RapportResource(settings_json=json.dumps(revealed(settings)), register_names=False)
    return (
        build_definitions(resource)
        .get_job_def(job)
        .execute_in_process(
            instance=dg.DagsterInstance.ephemeral(),
            tags={
                "dagster/asset_partition_range_start": first.isoformat(),
                "dagster/asset_partition_range_end": last.isoformat(),
            },
            raise_on_error=False,
        )
    )


#: How `rapport.lakehouse.delta_insert` logs a write it runs again after a conflict.
RETRY = re.compile(r"; attempt \d+ of \d+")


class RetryLog(logging.Handler):
    """Counts this process's writes run again after a Delta conflict."""

    def __init__(self) -> None:
        super().__init__()
        self.retries = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.retries += bool(RETRY.search(record.getMessage()))


def stream_retries(settings: Settings) -> int:
    """The stream's writes run again after a Delta conflict (its logs)."""
    return sum(
        len(RETRY.findall(path.read_text(errors="replace")))
        for path in Path(settings.run_dir).glob("*.out")
    )


def test_stream_backfill_and_compaction_at_once_keep_every_event_once(
    spark: Any, isolated: Any, schema_registry: Any, tmp_path: Path, chaos_report: Report
) -> None:
    settings = isolated(watermark_delay_s=600.0).model_copy(
        update={"landing_root": str(tmp_path / "landing")}
    )
    ledger = Ledger()
    chaos = ChaosConfig(duplicates=0.03, out_of_order=0.05, malformed=0.02)
    live = shop_records(seed=61, actions=LIVE_ACTIONS, start=START, chaos=chaos)
    live_days = sorted({r.event.time.date() for r in live if r.event is not None})
    first = live_days[0] - timedelta(days=HISTORY_DAYS - len(live_days))
    last = first + timedelta(days=HISTORY_DAYS - 1)
    assert last == live_days[-1], (first, last, live_days)
    write_history(Path(settings.landing), default_catalog(),
                  ShopConfig(seed=62, customers=150, run_tag="hist", first_sku=20000),
                  ChaosConfig(duplicates=0.03, out_of_order=0.03, malformed=0.01),
                  first, HISTORY_DAYS, actions_per_day=HISTORY_ACTIONS, ledger=ledger)  # fmt: skip

    retry_log = RetryLog()
    lakehouse_log = logging.getLogger("rapport.lakehouse")
    lakehouse_log.addHandler(retry_log)
    lakehouse_log.setLevel(logging.INFO)
    service = StreamService(settings)
    producing = threading.Event()
    compactions: list[int] = []
    failures: list[BaseException] = []

    def compact_meanwhile() -> None:
        try:
            while producing.is_set():
                done = compact(spark, settings, (BRONZE_EVENTS, *SILVER_TABLES))
                compactions.append(sum(r.files_removed for r in done))
        except BaseException as failure:  # reported by the test thread
            failures.append(failure)

    try:
        service.start(timeout_s=300)
        producing.set()
        sent: dict[str, Any] = {}

        def produce() -> None:
            sent["acked"], sent["failed"] = produce_paced(settings, live, LIVE_RATE)

        producer = threading.Thread(target=produce, name="live-shop")
        maintenance = threading.Thread(target=compact_meanwhile, name="compaction")
        producer.start()
        assert wait_until(lambda: "batch_id" in service.status().last_gold_batch, timeout_s=300)
        maintenance.start()
        run = backfill(settings, "history_backfill", first, last)
        producer.join()
        producing.clear()
        maintenance.join()
        assert not failures, failures[0]
        assert run.success, [e.message for e in run.all_events if e.is_failure]
        assert not sent["failed"], sent["failed"][:3]
        for record in sent["acked"]:
            ledger.record(record)
        assert wait_until(lambda: service.status().caught_up, timeout_s=900), (
            f"the stream never caught up: {service.status()}"
        )
    finally:
        service.stop()
        lakehouse_log.removeHandler(retry_log)

    # Reconciliation ran while the stream wrote the live days; level now, it finds no
    # difference (it corrected nothing it should not have).
    during = rows(spark, settings, OPS_RECONCILIATION)
    deferred = sum(1 for r in during if not r.matches and not r.corrected)
    again = backfill(settings, "daily_aggregates", first, last)
    after = [r for r in rows(spark, settings, OPS_RECONCILIATION) if r not in during]

    counts = tally(spark, settings, ledger)
    chaos_report("stream + backfill + compaction", counts,
                 backfill_days=HISTORY_DAYS, compactions=len(compactions),
                 files_compacted=sum(compactions),
                 conflicts_retried=retry_log.retries + stream_retries(settings),
                 reconciliation_deferred=deferred)  # fmt: skip
    assert compactions, "maintenance never ran beside the stream and the backfill"
    assert (counts.lost, counts.duplicated) == (0, 0), counts
    assert counts.quarantined == counts.to_quarantine, counts
    assert_tables_match(spark, settings, ledger)
    assert again.success, [e.message for e in again.all_events if e.is_failure]
    assert after, "the second reconciliation recorded nothing"
    assert all(r.matches for r in after), [r for r in after if not r.matches][:3]
