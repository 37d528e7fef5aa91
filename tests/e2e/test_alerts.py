"""A stalled stream breaches the freshness SLAs, the alert reaches the webhook, recovery follows.

Everything is real: the session's Kafka broker and registry, the stream as its own process
(`python -m streaming.runner`, as `rapport stream start` runs it), and `dagster dev` whose
daemon evaluates the `rapport_alerts` sensor every few seconds. A local HTTP server stands in
for Slack: the test reads the notices it received. The SLAs are tightened to seconds in a
file of the test's own (RAPPORT_QUALITY__SLA_FILE), so a breach takes seconds, not minutes;
only the "sla" notices are asserted (the shipped daily deadlines alert too, for yesterday).

The stream stalls rather than stops: its processes are frozen (SIGSTOP), so they are alive
and `rapport status` still says running, yet nothing is processed. The SLAs are measured
from the data (the oldest event not yet in a table), so they must break all the same; a
restarted stream's catching up is proven by the kill scenarios (tests/chaos).

The stream first catches up with a slice of the shop's events before Dagster starts: a
refine batch takes longer than these SLAs, so events waiting while Dagster watches would
breach them. Those processed events also make an early alarm visible: an SLA measured from
the oldest record in Kafka, rather than the oldest unprocessed one, would fire at once.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from pydantic import SecretStr

from orchestration.dagster_service import DagsterService
from quality.slas import load_slas
from rapport.runtime.ports import free_port
from rapport.runtime.processes import wait_until
from rapport.settings import Settings
from rapport.simulator.ledger import Ledger
from rapport.simulator.wire import ChaosConfig
from streaming.stream_service import StreamService
from tests.helpers.streams import send, shop_records
from tests.helpers.webhook import WebhookReceiver

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.spark]

SILVER_SLA_S = 12
GOLD_SLA_S = 15
#: The stream's SLAs tightened to seconds; the daily deadlines as shipped (their breaches, for
#: yesterday's partitions nobody computed here, also reach the webhook: kind "deadline").
STREAM_SLAS = {"silver.*": SILVER_SLA_S, "gold.*": GOLD_SLA_S}
ALERT_INTERVAL_S = 5
#: The acceptance criterion: the alert arrives within a minute of the breach.
ALERT_WITHIN_S = 60
#: A resumed stream: a gold and a refine batch, on two loaded cores.
RECOVERY_WITHIN_S = 300

MATERIALIZATION_QUERY = """
query Newest($key: AssetKeyInput!) {
  assetOrError(assetKey: $key) {
    ... on Asset {
      assetMaterializations(limit: 1) {
        runId
        description
        metadataEntries { label ... on IntMetadataEntry { intRepr } }
      }
    }
  }
}
"""

OBSERVATION_QUERY = """
query Observed($key: AssetKeyInput!) {
  assetOrError(assetKey: $key) {
    ... on Asset { assetObservations(limit: 1) { timestamp runId } }
  }
}
"""

RUNS_QUERY = """
query Runs($filter: RunsFilter) {
  runsOrError(filter: $filter) { ... on Runs { results { runId jobName } } }
}
"""

SENSOR_QUERY = """
query Ticks($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor {
      sensorState {
        status
        ticks(limit: 50) { status timestamp cursor runIds error { message stack } }
      }
    }
    ... on Error { message }
  }
}
"""


@dataclass(frozen=True)
class Tick:
    status: str
    timestamp: float
    cursor: dict[str, Any]
    error: str | None
    run_ids: tuple[str, ...] = ()


def graphql(dagster: DagsterService, query: str, **variables: Any) -> dict[str, Any]:
    response = requests.post(
        f"{dagster.url}/graphql", json={"query": query, "variables": variables}, timeout=10
    )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body["errors"]
    return dict(body["data"])


def sensor_ticks(dagster: DagsterService, sensor_name: str = "rapport_alerts") -> list[Tick] | str:
    """A sensor's ticks, newest first, as the daemon recorded them; or why there are none to
    read (the code location is still loading, or failed)."""
    selector = {
        "repositoryLocationName": "rapport",
        "repositoryName": "__repository__",
        "sensorName": sensor_name,
    }
    sensor = graphql(dagster, SENSOR_QUERY, selector=selector)["sensorOrError"]
    if sensor["__typename"] != "Sensor":
        return f"{sensor['__typename']}: {sensor.get('message')}"
    return [
        Tick(
            status=t["status"],
            timestamp=t["timestamp"],
            cursor=json.loads(t["cursor"]) if t["cursor"] else {},
            error=(t["error"] or {}).get("message"),
            run_ids=tuple(t["runIds"] or ()),
        )
        for t in sensor["sensorState"]["ticks"]
    ]


def open_sla_incidents(tick: Tick) -> list[str]:
    alerts = json.loads(tick.cursor.get("alerts") or "{}")
    return [key for key in alerts.get("open", {}) if key.startswith("sla:")]


def newest_materialization(dagster: DagsterService, table: str) -> dict[str, Any] | None:
    found = graphql(dagster, MATERIALIZATION_QUERY, key={"path": table.split(".")})
    events = (found["assetOrError"] or {}).get("assetMaterializations") or []
    return dict(events[0]) if events else None


def delta_version(settings: Settings, table: str) -> int:
    from deltalake import DeltaTable

    from rapport.lakehouse.layout import delta_uri
    from rapport.lakehouse.tables import TABLES

    target = next(t for t in TABLES if t.qualified_name == table)
    return int(DeltaTable(delta_uri(target.location(settings))).version())


class Arrivals:
    """When each notice reached the webhook (wall clock, UTC), watched every 0.1 s."""

    def __init__(self, webhook: WebhookReceiver) -> None:
        self.webhook = webhook
        self.seen: list[datetime] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.1):
            now = datetime.now(UTC)
            with self.webhook.lock:
                count = len(self.webhook.received)
            self.seen.extend([now] * (count - len(self.seen)))

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def wait_for(
        self, keys: set[str], status: str, deadline: datetime
    ) -> dict[str, tuple[dict[str, Any], datetime]]:
        """The first `status` notice of each key with when it arrived, by the deadline."""
        found: dict[str, tuple[dict[str, Any], datetime]] = {}
        while True:
            with self.webhook.lock:
                received = list(self.webhook.received)
            for notice, seen in zip(received, list(self.seen), strict=False):
                key = notice.get("key")
                if key in keys and notice.get("status") == status and key not in found:
                    found[key] = (notice, seen)
            if set(found) == keys or datetime.now(UTC) >= deadline:
                return found
            time.sleep(0.2)


def sla_notices(webhook: WebhookReceiver, **match: str) -> list[dict[str, Any]]:
    return webhook.notices(kind="sla", **match)


@pytest.fixture
def alerting(
    isolated: Callable[..., Settings], webhook: WebhookReceiver, tmp_path: Path
) -> Settings:
    settings = isolated()
    shipped = yaml.safe_load(settings.quality.sla_file.read_text())
    stream = [{"tables": t, "max_behind_s": s} for t, s in STREAM_SLAS.items()]
    sla_file = tmp_path / "slas.yaml"
    sla_file.write_text(yaml.safe_dump({"stream": stream, "daily": shipped["daily"]}))
    return settings.model_copy(
        update={
            "dagster": settings.dagster.model_copy(update={"port": free_port()}),
            "quality": settings.quality.model_copy(
                update={
                    "sla_file": sla_file,
                    "alert_webhook_url": SecretStr(webhook.url),
                    "alert_interval_s": ALERT_INTERVAL_S,
                }
            ),
        }
    )


@pytest.fixture
def stream(alerting: Settings) -> Iterator[StreamService]:
    service = StreamService(alerting)
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture
def dagster(alerting: Settings) -> Iterator[DagsterService]:
    service = DagsterService(alerting)
    try:
        yield service
    finally:
        service.stop()


def last_batch(stream: StreamService) -> dict[str, Any]:
    return stream.status().last_batch


def produce(settings: Settings, seed: int, actions: int) -> tuple[datetime, datetime]:
    """Send a slice of the shop's events now; returns when sending began and ended."""
    records = shop_records(seed=seed, actions=actions, start=datetime.now(UTC), chaos=ChaosConfig())
    began = datetime.now(UTC)
    send(settings, records, Ledger())
    return began, datetime.now(UTC)


def freeze(stream: StreamService, sig: signal.Signals) -> None:
    """SIGSTOP or SIGCONT the stream's process group: both processes and their JVMs."""
    pid = stream.process.pid()
    assert pid is not None, "the stream is not running"
    os.killpg(pid, sig)


def wake(stream: StreamService) -> None:
    if stream.process.pid() is not None:
        freeze(stream, signal.SIGCONT)


def test_a_stalled_stream_alerts_past_its_sla_and_recovers_when_it_resumes(
    alerting: Settings,
    schema_registry: Any,
    webhook: WebhookReceiver,
    stream: StreamService,
    dagster: DagsterService,
    request: pytest.FixtureRequest,
) -> None:
    t_start = time.monotonic()

    def log(what: str) -> None:
        print(f"[{time.monotonic() - t_start:6.1f}s] {what}", flush=True)

    slas = load_slas(alerting.quality.sla_file)
    sla_of = {f"sla:{s.table}": s.max_behind_s for s in slas.stream}
    gold = {key for key in sla_of if key.startswith("sla:gold.")}
    assert gold, sla_of
    assert set(sla_of) - gold, sla_of
    arrivals = Arrivals(webhook)
    request.addfinalizer(arrivals.close)

    # 1. A healthy stream: it has processed everything in Kafka.
    produce(alerting, seed=11, actions=60)
    stream.start(timeout_s=300)
    log("stream running")
    assert wait_until(lambda: stream.status().caught_up, timeout_s=300), (
        f"the stream never caught up: {last_batch(stream)}"
    )
    log(f"stream caught up: batch {last_batch(stream).get('batch_id')}")

    # 2. Dagster watches it: the sensor evaluates, measures, and finds nothing breached.
    started = time.time()
    dagster.start(timeout_s=180)
    log("dagster answers")
    healthy: list[Tick] = []
    last: list[Tick] | str = "no answer yet"

    def evaluated_healthy() -> bool:
        nonlocal last
        assert not dagster.load_errors(), dagster.load_errors()
        last = sensor_ticks(dagster)
        if isinstance(last, str):
            return False  # the code location is loading
        ticks = [t for t in last if t.timestamp >= started]
        failed = [t for t in ticks if t.error]
        assert not failed, f"the sensor's tick failed: {failed[0].error}"
        healthy[:] = [t for t in ticks if t.cursor.get("versions") and not open_sla_incidents(t)]
        return bool(healthy)

    assert wait_until(evaluated_healthy, timeout_s=120, interval_s=1), (
        f"no healthy tick of rapport_alerts: {last if isinstance(last, str) else last[:3]}"
    )
    log(f"healthy tick at {healthy[0].timestamp:.0f}: {healthy[0].status}")
    assert sla_notices(webhook) == [], "an SLA alert while the stream kept up"

    # 3. The stream stalls; events wait in Kafka; the SLAs break one after the other.
    freeze(stream, signal.SIGSTOP)
    request.addfinalizer(lambda: wake(stream))  # stop() needs it awake, even after a failure
    assert stream.status().running, "a frozen stream should still look alive"
    log("stream frozen")
    began, ended = produce(alerting, seed=12, actions=30)
    log("produced while frozen")
    breached_by = ended + timedelta(seconds=GOLD_SLA_S)
    breaches = arrivals.wait_for(
        gold, "breach", deadline=breached_by + timedelta(seconds=ALERT_WITHIN_S)
    )
    log(f"gold breaches: {sorted(breaches)}")
    assert set(breaches) == gold, (
        f"no alert within {ALERT_WITHIN_S} s of the gold SLA's breach for "
        f"{sorted(gold - set(breaches))}; got {webhook.received}"
    )
    latest = max(seen for _, seen in breaches.values())
    assert latest <= breached_by + timedelta(seconds=ALERT_WITHIN_S), (latest, breached_by)
    breaches |= arrivals.wait_for(set(sla_of) - gold, "breach", deadline=datetime.now(UTC))
    assert set(breaches) == set(sla_of), f"silver breaches missing: {webhook.received}"
    for key, (notice, seen) in breaches.items():
        # Nothing had waited longer than the SLA before `began + SLA`: not an early alarm.
        earliest = began + timedelta(seconds=sla_of[key])
        assert seen >= earliest, f"{key} alerted at {seen}, before its SLA broke at {earliest}"
        at = datetime.fromisoformat(notice["at"])
        assert at >= earliest.replace(microsecond=0), notice
        assert notice["kind"] == "sla", notice
        assert notice["since"] == notice["at"], notice
        assert "BREACHED" in notice["message"], notice
        assert notice["subject"] == key.removeprefix("sla:"), notice

    # 4. The stream resumes, catches up, and each incident closes with one recovery notice.
    resumed = datetime.now(UTC)
    freeze(stream, signal.SIGCONT)
    log("stream resumed")
    recoveries = arrivals.wait_for(
        set(sla_of), "recovered", deadline=resumed + timedelta(seconds=RECOVERY_WITHIN_S)
    )
    log(f"recovered: {sorted(recoveries)}")
    assert set(recoveries) == set(sla_of), (
        f"no recovery notice for {sorted(set(sla_of) - set(recoveries))} within "
        f"{RECOVERY_WITHIN_S} s of the resume; got {webhook.received}"
    )
    for key, (notice, seen) in recoveries.items():
        assert seen > resumed, f"{key} recovered at {seen}, before the stream resumed"
        assert notice["since"] == breaches[key][0]["since"], (notice, breaches[key][0])
    for key in sla_of:
        sent = sla_notices(webhook, key=key, status="breach")
        assert len(sent) == 1, f"{key} alerted {len(sent)} times for one incident: {sent}"

    # 5. Dagster knows the tables' new versions: the sensor reported them as materializations.
    reported: dict[str, Any] = {}

    def versions_reported() -> bool:
        for table in (key.removeprefix("sla:") for key in sla_of):
            newest = newest_materialization(dagster, table)
            entries = {
                e["label"]: e.get("intRepr") for e in (newest or {}).get("metadataEntries", [])
            }
            reported[table] = (entries.get("delta_version"), str(delta_version(alerting, table)))
            if newest is None or "rapport_alerts" not in (newest["description"] or ""):
                return False
        return all(seen == current for seen, current in reported.values())

    assert wait_until(versions_reported, timeout_s=30, interval_s=1), (
        f"Dagster's newest materializations (reported, current Delta version): {reported}"
    )
    log(f"{len(webhook.received)} notices, Dagster has the new versions")

    # 6. The stream's observations come from the observe_stream sensor, not from runs: it
    # ticked while Dagster was up, each stream table has an observation from then, and no
    # run was started for it (the Runs page of a stack left up shows real work only).
    observed = sensor_ticks(dagster, "observe_stream")
    assert not isinstance(observed, str), observed
    ticks = [t for t in observed if t.timestamp >= started]
    assert ticks, f"observe_stream never ticked: {observed[:3]}"
    assert not [t for t in ticks if t.error], [t.error for t in ticks if t.error]
    assert not [t for t in ticks if t.run_ids], [t.run_ids for t in ticks]
    tagged = {"tags": [{"key": "dagster/sensor_name", "value": "observe_stream"}]}
    runs = graphql(dagster, RUNS_QUERY, filter=tagged)["runsOrError"]["results"]
    assert runs == [], f"observation runs on the Runs page: {runs}"
    for table in (key.removeprefix("sla:") for key in sla_of):
        found = graphql(dagster, OBSERVATION_QUERY, key={"path": table.split(".")})
        newest = ((found["assetOrError"] or {}).get("assetObservations") or [None])[0]
        assert newest is not None, f"no observation of {table}"
        assert float(newest["timestamp"]) / 1000 >= started, (table, newest, started)
    log(f"observe_stream: {len(ticks)} ticks, no runs")
