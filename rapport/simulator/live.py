"""Live mode: the shop sends its events to Kafka at a steady rate, with chaos, until stopped."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from rapport.contracts.catalog import ContractCatalog, default_catalog
from rapport.contracts.validation import validate_payload
from rapport.settings import Settings
from rapport.simulator.ledger import Ledger
from rapport.simulator.shop import Shop, ShopConfig
from rapport.simulator.wire import ChaosConfig, wire_records
from registry.producer import EventProducer, Transport


@dataclass(frozen=True)
class LiveRun:
    """How much and how fast: stop at `duration_s` or `max_records`, whichever comes first."""

    rate: float = 500.0
    duration_s: float | None = 60.0
    max_records: int | None = None

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise ValueError("rate must be positive (events per second)")
        if self.duration_s is None and self.max_records is None:
            raise ValueError("give a duration or an event count, or the run never ends")


def _now() -> Iterator[datetime]:
    while True:
        yield datetime.now(UTC)


def run_live(
    settings: Settings,
    shop: ShopConfig,
    chaos: ChaosConfig,
    run: LiveRun,
    *,
    ledger: Ledger | None = None,
    catalog: ContractCatalog | None = None,
    stop: threading.Event | None = None,
    on_progress: Callable[[int], None] | None = None,
    transport: Transport = "librdkafka",
) -> Ledger:
    """Send until the run's limit, `stop` is set, or Ctrl-C; then flush and return the ledger.

    Valid events are checked against their contract before they are sent, like every
    producer's; malformed and unknown records are the chaos and bypass that check on purpose.
    """
    catalog = catalog or default_catalog()
    ledger = ledger or Ledger()
    stop = stop or threading.Event()
    with EventProducer(settings, catalog=catalog, transport=transport, linger_ms=20) as producer:
        ids = {(c.subject, c.version): producer.schema_id(c) for c in catalog}
        topics = {d: settings.kafka.topics[d].name for d in catalog.domains()}
        records = wire_records(Shop(shop, catalog).events(_now()), chaos, shop.seed, ids)
        start = time.monotonic()
        sent = 0
        try:
            for record in records:
                if stop.is_set():
                    break
                if run.max_records is not None and sent >= run.max_records:
                    break
                if run.duration_s is not None and time.monotonic() - start >= run.duration_s:
                    break
                if record.event is not None:
                    validate_payload(record.event.contract, record.event.data)
                label = record.event.event_id if record.event else record.reason
                producer.send_raw(topics[record.domain], record.key, record.value, label)
                ledger.record(record)
                sent += 1
                if sent % 50 == 0:
                    # Pace to the rate: a steady stream, not bursts.
                    ahead = start + sent / run.rate - time.monotonic()
                    if ahead > 0:
                        time.sleep(ahead)
                    if on_progress is not None and sent % 500 == 0:
                        on_progress(500)
        except KeyboardInterrupt:
            pass  # Ctrl-C: stop sending, but flush what was sent and keep the ledger true
    return ledger
