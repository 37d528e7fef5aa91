"""Benchmark workload: the simulator's full mix, generated ahead, then sent to Kafka at full speed.

Every baseline (the limit, the peer) and Rapport's own runs read the same kind of records:
`generate` builds them in memory from a seeded shop with light chaos, so that the producer
does not compete with the generator, and `produce` sends them. `bench_stack` starts a broker
and a registry of their own in a temporary folder, so a benchmark never touches a running
stack. `OrderCount` is the independent count a gold table must equal.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rapport.contracts.catalog import default_catalog
from rapport.settings import PROJECT_ROOT, Settings
from rapport.simulator.shop import Shop, ShopConfig, ShopEvent
from rapport.simulator.wire import ChaosConfig, WireRecord, wire_records

if TYPE_CHECKING:
    from registry.producer import EventProducer

#: The chaos of a calm production day: 1 % duplicates, 1 % out of order, 0.1 % malformed.
LIGHT_CHAOS = ChaosConfig(duplicates=0.01, out_of_order=0.01, malformed=0.001)

#: (day, currency) -> (orders, sum of totals): what a daily gold table of orders must hold.
DailyOrders = dict[tuple[str, str], tuple[int, Decimal]]


@dataclass
class Workload:
    """Records generated ahead, in sending order, and what they must add up to."""

    #: (domain, key, value) of each record; the topic follows from the domain.
    records: list[tuple[str, bytes | None, bytes]] = field(default_factory=list)
    #: Seconds after `start` on the event clock when each record was made: its send slot
    #: when the workload is replayed at its rate (a duplicate shares its original's slot,
    #: a record held back out of order keeps the slot it was released in).
    slots: list[float] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)
    orders: DailyOrders = field(default_factory=dict)
    first_event_time: datetime | None = None
    last_event_time: datetime | None = None
    generate_s: float = 0.0

    def __len__(self) -> int:
        return len(self.records)

    def figures(self) -> dict[str, Any]:
        """What the workload is, for a report."""
        span = (
            (self.last_event_time - self.first_event_time).total_seconds()
            if self.first_event_time and self.last_event_time
            else 0.0
        )
        return {
            "records": len(self.records),
            "duplicates": self.kinds["duplicate"],
            "malformed": self.kinds["malformed"],
            "distinct_orders": sum(n for n, _ in self.orders.values()),
            "event_time_span_s": round(span, 1),
            "bytes_mb": round(sum(len(v) for _, _, v in self.records) / 2**20, 1),
            "generate_s": round(self.generate_s, 1),
        }


class _Clock:
    """Event times that advance by 1/rate per event, so a burst spans count/rate seconds."""

    def __init__(self, start: datetime, rate: float) -> None:
        self.start = start
        self.rate = rate
        self.events = 0

    def times(self) -> Iterator[datetime]:
        # Shop.events draws the next time only after its previous action's events were
        # consumed, so the count below is current when each time is drawn.
        while True:
            yield self.start + timedelta(seconds=self.events / self.rate)

    def counted(self, events: Iterable[ShopEvent]) -> Iterator[ShopEvent]:
        for event in events:
            self.events += 1
            yield event


class OrderCount:
    """Orders and their total per UTC day and currency, each event id once, malformed ignored.

    The ledger's definition of a day's orders, kept per currency, counted here so that the
    baselines do not depend on how the ledger lays its figures out.
    """

    def __init__(self) -> None:
        self.totals: DailyOrders = {}
        self._seen: set[str] = set()

    def add(self, record: WireRecord) -> None:
        event = record.event
        if record.kind not in ("event", "duplicate") or event is None:
            return
        if event.contract.event_type != "OrderPlaced" or event.event_id in self._seen:
            return
        self._seen.add(event.event_id)
        key = (event.time.astimezone(UTC).date().isoformat(), str(event.data["currency"]))
        count, amount = self.totals.get(key, (0, Decimal(0)))
        self.totals[key] = (count + 1, amount + Decimal(event.data["total"]))


def generate(
    count: int,
    *,
    seed: int,
    rate: float,
    start: datetime | None = None,
    chaos: ChaosConfig = LIGHT_CHAOS,
    schema_ids: Mapping[tuple[str, int], int] | None = None,
) -> Workload:
    """`count` records of the shop's full mix, event times `rate` per second from `start`.

    A distinct seed gives distinct event and entity ids, so two workloads can share topics.
    """
    began = time.perf_counter()
    clock = _Clock(start or datetime.now(UTC), rate)
    shop = Shop(ShopConfig(seed=seed, run_tag=f"bench{seed}"), default_catalog())
    workload = Workload()
    orders = OrderCount()
    for record in wire_records(clock.counted(shop.events(clock.times())), chaos, seed, schema_ids):
        if len(workload.records) >= count:
            break
        # orjson leaves spare capacity in the bytes it returns (about 4 KiB for a 0.4 KiB
        # record); an exact copy keeps a million records in ~0.6 GiB instead of ~4 GiB.
        workload.records.append((record.domain, record.key, bytes(memoryview(record.value))))
        workload.slots.append(clock.events / rate)
        workload.kinds[record.kind] += 1
        orders.add(record)
        if record.event is not None:
            at = record.event.time
            if workload.first_event_time is None or at < workload.first_event_time:
                workload.first_event_time = at
            if workload.last_event_time is None or at > workload.last_event_time:
                workload.last_event_time = at
    workload.orders = orders.totals
    workload.generate_s = time.perf_counter() - began
    return workload


@dataclass(frozen=True)
class Produced:
    """How many records reached Kafka (all acknowledged) and how long sending took."""

    records: int
    seconds: float

    @property
    def records_per_s(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0


def event_topics(settings: Settings) -> dict[str, str]:
    """Each contract domain's Kafka topic, for sending a workload's (domain, ...) records."""
    return {d: settings.kafka.topics[d].name for d in default_catalog().domains()}


def produce(settings: Settings, workload: Workload) -> Produced:
    """Send every record as fast as the producer goes; returns once Kafka acknowledged all."""
    from registry.producer import EventProducer

    topics = event_topics(settings)
    began = time.perf_counter()
    # The simulator's producer settings (librdkafka, acks=all, idempotent); closing flushes
    # and raises DeliveryError if any record was not acknowledged.
    with EventProducer(settings, transport="librdkafka", linger_ms=20) as producer:
        for domain, key, value in workload.records:
            producer.send_raw(topics[domain], key, value, "bench")
    return Produced(len(workload.records), time.perf_counter() - began)


@dataclass(frozen=True)
class Paced:
    """A paced replay: what was sent, and how far the sender fell behind its schedule."""

    records: int
    seconds: float
    #: Seconds the first send came after the planned start (generation overran its lead).
    late_start_s: float
    #: The most any record was sent after its slot; small means the offered rate is real.
    max_behind_s: float

    @property
    def records_per_s(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0


def send_paced(
    settings: Settings, producer: EventProducer, workload: Workload, start_at: float, seconds: float
) -> Paced:
    """Send each record at `start_at` (epoch seconds) + its slot, until `seconds` have passed.

    The workload's event times began at `start_at`, so each record reaches Kafka about when
    it says it happened, as a live producer's would; the records were made ahead, so
    sending costs the producer call alone and the rate offered is the rate asked for.
    `producer` is opened before the records are made: its connection is up when they go.
    """
    topics = event_topics(settings)
    end_at = start_at + seconds
    sent = 0
    max_behind = 0.0
    delay = start_at - time.time()
    late_start = max(0.0, -delay)
    if delay > 0:
        time.sleep(delay)
    for (domain, key, value), slot in zip(workload.records, workload.slots, strict=True):
        due = start_at + slot
        if due >= end_at:
            break
        ahead = due - time.time()
        if ahead > 0.002:
            time.sleep(ahead)
        else:
            max_behind = max(max_behind, -ahead)
        producer.send_raw(topics[domain], key, value, "bench")
        sent += 1
    producer.flush()
    return Paced(sent, max(time.time() - start_at, 0.0), round(late_start, 2), max_behind)


def schema_ids(settings: Settings) -> dict[tuple[str, int], int]:
    """The registry id of every contract version, for the envelopes' `schemaid`."""
    from registry.client import RegistryClient

    client = RegistryClient(settings.registry)
    return {
        (c.subject, c.version): client.lookup(c.subject, c.schema).id for c in default_catalog()
    }


def starting_offsets(settings: Settings) -> str:
    """The event topics' current end offsets as Spark's `startingOffsets` JSON.

    Taken before a burst is written, it makes a query read that burst and nothing older.
    """
    import json

    from rapport.runtime.kafka_offsets import end_offsets

    offsets: dict[str, dict[str, int]] = {}
    for partition, offset in end_offsets(settings).items():
        offsets.setdefault(partition.topic, {})[str(partition.partition)] = int(offset)
    return json.dumps(offsets)


@contextmanager
def bench_stack(**overrides: Any) -> Iterator[Settings]:
    """A broker and a registry with the contracts registered, in a temporary folder.

    `overrides` are Settings fields (nested ones as dicts, merged into the defaults below).
    Spark sessions built from these settings use 2 shuffle partitions and no UI.
    """
    from rapport.runtime.kafka_broker import LocalKafkaBroker
    from rapport.runtime.ports import free_port
    from registry.client import RegistryClient
    from registry.deploy import register_all
    from registry.registry_service import RegistryService

    state = Path(tempfile.mkdtemp(prefix="rapport-bench-"))
    (state / "jars").symlink_to(PROJECT_ROOT / "var" / "jars", target_is_directory=True)
    nested: dict[str, Any] = {
        "kafka": {"broker_port": free_port(), "controller_port": free_port()},
        "registry": {"port": free_port()},
        "spark": {"ui_enabled": False, "shuffle_partitions": 2},
    }
    for name, defaults in nested.items():
        defaults.update(overrides.pop(name, {}))
    settings = Settings(state_dir=state, **nested, **overrides)
    broker, registry = LocalKafkaBroker(settings), RegistryService(settings)
    try:
        broker.start()
        registry.start()
        register_all(RegistryClient(settings.registry), default_catalog())
        yield settings
    finally:
        registry.stop()
        broker.stop()
        shutil.rmtree(state, ignore_errors=True)
