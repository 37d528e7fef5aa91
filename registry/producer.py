"""EventProducer: validate against the registered contract, wrap in CloudEvents, send safely.

- The payload is checked against the schema registered for its contract version before it
  leaves the process; an invalid payload raises InvalidEventError and is never sent.
- The envelope names the exact contract version (`dataschema`) and registry id (`schemaid`).
- The record is keyed by the entity (order id, customer id, sku), so one entity's events
  stay in one partition, in order.
- acks=all with idempotence: no loss and no broker-side duplicates on retries.
- Delivery failures reach the caller: `flush()` (and `close()`) raise DeliveryError naming
  every event that could not be delivered.

Two transports send the bytes, with the same guarantees: kafka-python (the default, plenty
for a service) and librdkafka through confluent-kafka, about eight times cheaper per record,
which the simulator uses to sustain thousands of events per second on two cores
(docs/decisions/0006-producer-transports.md).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import orjson

from rapport.contracts.catalog import ContractCatalog, EventContract, load_catalog
from rapport.contracts.envelope import envelope
from rapport.contracts.validation import validate_payload
from rapport.runtime.processes import ServiceError
from rapport.settings import Settings
from registry.client import RegistryClient, RegistryError


class DeliveryError(RuntimeError):
    """Kafka did not acknowledge some events; `failures` maps event id to the error."""

    def __init__(self, failures: dict[str, str]) -> None:
        self.failures = failures
        sample = "; ".join(f"{k}: {v}" for k, v in list(failures.items())[:5])
        super().__init__(f"{len(failures)} event(s) were not delivered: {sample}")


class UnregisteredContractError(RuntimeError):
    """The contract version is not in the registry: deploy contracts before producing."""


Transport = Literal["kafka-python", "librdkafka"]


class _Sender(Protocol):
    def send(self, topic: str, key: bytes | None, value: bytes, label: str) -> None: ...
    def flush(self, timeout_s: float) -> dict[str, str]: ...
    def close(self, timeout_s: float) -> None: ...


class _KafkaPythonSender:
    """kafka-python: pure Python, the project's default Kafka client."""

    def __init__(self, settings: Settings, linger_ms: int, overrides: dict[str, Any]) -> None:
        from kafka import KafkaProducer
        from kafka.errors import KafkaError

        self._failures: dict[str, str] = {}
        self._lock = threading.Lock()
        try:
            self._producer = KafkaProducer(
                **settings.kafka.python_client_config(),
                acks="all",
                enable_idempotence=True,
                linger_ms=linger_ms,
                bootstrap_timeout_ms=int(settings.kafka.connect_timeout_s * 1000),
                **overrides,
            )
        except KafkaError as exc:
            raise _unreachable(settings, exc) from exc

    def send(self, topic: str, key: bytes | None, value: bytes, label: str) -> None:
        self._producer.send(topic, key=key, value=value).add_errback(self._failed, label)

    def _failed(self, label: str, error: BaseException) -> None:
        # kafka-python calls errbacks as f(*args, exception).
        with self._lock:
            self._failures[label] = repr(error)

    def flush(self, timeout_s: float) -> dict[str, str]:
        self._producer.flush(timeout=timeout_s)
        with self._lock:
            failures, self._failures = self._failures, {}
        return failures

    def close(self, timeout_s: float) -> None:
        self._producer.close(timeout=timeout_s)


class _LibrdkafkaSender:
    """librdkafka via confluent-kafka: the same guarantees, a fraction of the CPU."""

    def __init__(self, settings: Settings, linger_ms: int, overrides: dict[str, Any]) -> None:
        from confluent_kafka import KafkaException, Producer

        self._failures: dict[str, str] = {}
        config: dict[str, Any] = {
            **settings.kafka.librdkafka_config(),
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": linger_ms,
            # The Java client's partitioner: a key lands where kafka-python would put it.
            "partitioner": "murmur2_random",
            # librdkafka would buffer up to 1 GiB by default; 64 MiB is seconds of traffic here.
            "queue.buffering.max.kbytes": 65536,
            **overrides,
        }
        self._producer = Producer(config)
        try:  # fail fast, like kafka-python's bootstrap, when nothing answers
            self._producer.list_topics(timeout=settings.kafka.connect_timeout_s)
        except KafkaException as exc:
            raise _unreachable(settings, exc) from exc

    def send(self, topic: str, key: bytes | None, value: bytes, label: str) -> None:
        def delivered(error: Any, _message: Any) -> None:
            if error is not None:
                self._failures[label] = str(error)

        while True:
            try:
                self._producer.produce(topic, key=key, value=value, on_delivery=delivered)
                break
            except BufferError:  # the local queue is full: let deliveries drain, then retry
                self._producer.poll(0.05)
        self._producer.poll(0)

    def flush(self, timeout_s: float) -> dict[str, str]:
        remaining = self._producer.flush(timeout_s)
        failures, self._failures = self._failures, {}
        if remaining:
            failures["(undelivered)"] = f"{remaining} record(s) still queued after {timeout_s}s"
        return failures

    def close(self, timeout_s: float) -> None:
        self._producer.flush(timeout_s)


def _unreachable(settings: Settings, exc: Exception) -> ServiceError:
    return ServiceError(
        f"cannot reach Kafka at {settings.kafka.bootstrap_servers} ({exc}). "
        "Start it with `make up` or `uv run rapport kafka start`."
    )


class EventProducer:
    """A Kafka producer for domain events; one per process."""

    def __init__(
        self,
        settings: Settings,
        *,
        catalog: ContractCatalog | None = None,
        registry: RegistryClient | None = None,
        transport: Transport = "kafka-python",
        linger_ms: int = 10,
        **client_overrides: Any,
    ) -> None:
        self.settings = settings
        self.catalog = catalog or load_catalog(settings.contracts_dir)
        self.registry = registry or RegistryClient(settings.registry)
        self._schema_ids: dict[tuple[str, int], int] = {}
        sender = _LibrdkafkaSender if transport == "librdkafka" else _KafkaPythonSender
        self._sender: _Sender = sender(settings, linger_ms, client_overrides)

    def schema_id(self, contract: EventContract) -> int:
        """The registry's id for this exact contract version (looked up once, then cached)."""
        key = (contract.subject, contract.version)
        found = self._schema_ids.get(key)
        if found is None:
            try:
                found = self.registry.lookup(contract.subject, contract.schema).id
            except RegistryError as exc:
                if exc.error_code in (40401, 40403):
                    raise UnregisteredContractError(
                        f"{contract.subject} v{contract.version} is not registered in "
                        f"{self.settings.registry.url}: run `uv run rapport contracts register`"
                    ) from exc
                raise
            self._schema_ids[key] = found
        return found

    def topic(self, contract: EventContract) -> str:
        return self.settings.kafka.topics[contract.domain].name

    def publish(
        self,
        event_type: str,
        data: Mapping[str, Any],
        *,
        version: int | None = None,
        event_id: str | None = None,
        time: datetime | None = None,
    ) -> str:
        """Validate and queue one event; returns its id. `flush()` confirms delivery."""
        contract = (
            self.catalog.get(event_type, version) if version else self.catalog.latest(event_type)
        )
        validate_payload(contract, data)  # raises InvalidEventError: never sent
        event_id = event_id or str(uuid.uuid4())
        doc = envelope(
            contract,
            data,
            event_id=event_id,
            time=time or datetime.now(UTC),
            schema_id=self.schema_id(contract),
        )
        self.send_raw(self.topic(contract), doc["subject"].encode(), orjson.dumps(doc), event_id)
        return event_id

    def send_raw(self, topic: str, key: bytes | None, value: bytes, label: str) -> None:
        """Send pre-encoded bytes (the simulator's chaos); failures are tracked by `label`."""
        self._sender.send(topic, key, value, label)

    def flush(self, timeout_s: float = 60.0) -> None:
        """Wait for every acknowledgement; raise DeliveryError if any event failed."""
        failures = self._sender.flush(timeout_s)
        if failures:
            raise DeliveryError(failures)

    def close(self, timeout_s: float = 30.0) -> None:
        try:
            self.flush(timeout_s)
        finally:
            self._sender.close(timeout_s)

    def __enter__(self) -> EventProducer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
