"""Bronze rows to verdicts, in Spark: valid events go on, the rest to bronze.quarantine.

The verdict itself is `rapport.contracts.classify.classify`, the same code the batch loads
use; this module runs it inside Spark's Python workers (mapInArrow), each worker with its own
cached registry resolver, so a new schema id is fetched once and no restart is needed.
"""

from __future__ import annotations

import functools
import gc
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from pyspark.sql import functions as F

from rapport.contracts.classify import TimeBounds
from rapport.contracts.privacy import pseudonymise
from rapport.lakehouse.tables import BRONZE_QUARANTINE
from rapport.settings import RegistrySettings, Settings
from streaming.bronze import LANDING_TOPIC_PREFIX

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame

#: The bronze columns a verdict row may carry along (so nothing downstream joins back to
#: bronze), with their Spark SQL types.
CARRIED_TYPES = {
    "topic": "string", "partition": "int", "offset": "long", "key": "binary",
    "value": "binary", "kafka_timestamp": "timestamp", "event_time": "timestamp",
    "ingest_time": "timestamp", "event_date": "date",
}  # fmt: skip

#: What bronze and silver carry: everything, since quarantine keeps the record's bytes.
PASSTHROUGH = tuple(CARRIED_TYPES)

#: What the hot path carries: no key and no value. The record's bytes go to the Python
#: worker but not back into the JVM and its deduplication shuffle (decision 0016).
HOT_CARRY = (
    "topic", "partition", "offset", "kafka_timestamp", "event_time", "ingest_time", "event_date",
)  # fmt: skip

#: What classify found, in the order a verdict row holds it: (column, Spark SQL type).
FOUND = (
    ("valid", "boolean"), ("reason", "string"), ("event_id", "string"),
    ("event_type", "string"), ("subject", "string"), ("contract_version", "int"),
    ("schema_id", "int"), ("data_json", "string"),
)  # fmt: skip


def verdict_columns(carry: Sequence[str] = PASSTHROUGH) -> str:
    """A verdict row's schema: the carried bronze columns, then what classify found."""
    missing = {"event_time", "event_date"} - set(carry)
    if missing:
        raise ValueError(f"a verdict row always carries {sorted(missing)}")
    return ", ".join(
        [f"{name} {CARRIED_TYPES[name]}" for name in carry]
        + [f"{name} {kind}" for name, kind in FOUND]
    )


#: The variable a Python worker reads the registry's password from. It travels in the Python
#: function's environment (SparkContext.environment), never in the pickled closure.
PASSWORD_ENV = "RAPPORT_REGISTRY__PASSWORD"
#: The variable a Python worker reads the pseudonyms' key from, the same way.
PSEUDONYM_KEY_ENV = "RAPPORT_PRIVACY__PSEUDONYM_KEY"


@dataclass(frozen=True)
class WorkerRegistry:
    """What a Python worker needs to reach the registry: plain values, never a secret.

    The workers get this instead of the settings: the registry's URL and user, and where the
    contract files are. A password, if the registry has one, reaches them as PASSWORD_ENV.
    """

    url: str
    username: str | None
    contracts_dir: str
    #: Where workers keep the schemas they fetched, for a registry outage (registry.resolver).
    cache_dir: str

    @classmethod
    def of(cls, settings: Settings) -> WorkerRegistry:
        return cls(
            settings.registry.url,
            settings.registry.username,
            str(settings.contracts_dir),
            str(settings.registry_cache_dir),
        )


def time_bounds(settings: Settings) -> TimeBounds:
    """The believable event times the stream's settings ask for."""
    return TimeBounds(
        max_ahead=timedelta(seconds=settings.stream.max_event_time_ahead_s),
        earliest=settings.stream.earliest_event_time,
    )


_RESOLVERS: dict[WorkerRegistry, Any] = {}


def _resolver(registry: WorkerRegistry) -> Any:
    """One resolver per Python worker and registry: its cache lives as long as the worker."""
    found = _RESOLVERS.get(registry)
    if found is None:
        from rapport.contracts.catalog import load_catalog
        from registry.client import RegistryClient
        from registry.resolver import RegistryResolver

        reach = RegistrySettings(
            url=registry.url, username=registry.username, password=os.environ.get(PASSWORD_ENV)
        )
        found = RegistryResolver(
            RegistryClient(reach),
            load_catalog(Path(registry.contracts_dir)),
            cache_dir=Path(registry.cache_dir),
        )
        _RESOLVERS[registry] = found
        # What the worker holds from now on (modules, contracts, compiled validators) lives
        # as long as it does: out of the collector's sight, whose full passes over it took a
        # quarter of a verdict's time (19 against 14 us a record; decision 0018).
        gc.freeze()
    return found


def payload_json(
    subject: str | None, data: Any, payload: Mapping[str, Sequence[str]] | None
) -> str | None:
    """A valid event's payload as JSON: whole, or only the fields its reader takes.

    With `payload` (short type name -> fields), an event of a type not named carries none,
    and one of a named type only those of its fields that are present.
    """
    if payload is None:
        return orjson.dumps(data).decode()
    fields = payload.get((subject or "").rsplit(".", 1)[-1])
    if fields is None:
        return None
    return orjson.dumps({k: data[k] for k in fields if k in data}).decode()


def _verdicts(
    registry: WorkerRegistry,
    bounds: TimeBounds,
    carry: Sequence[str],
    stamp_ingest: bool,
    payload: Mapping[str, Sequence[str]] | None,
    batches: Iterable[pa.RecordBatch],
) -> Iterator[pa.RecordBatch]:
    """Arrow in, Arrow out: the bronze columns pass through untouched, the verdict is added.

    Arrow rather than pandas: the record bytes are not copied into a DataFrame and back,
    and the passthrough columns are handed on as they came. `payload` trims what a valid
    event carries on (`payload_json`).
    """
    import pyarrow as pa

    from rapport.contracts.classify import classify

    resolver = _resolver(registry)
    key = os.environ.get(PSEUDONYM_KEY_ENV)
    if not key:
        # Never a raw personal value in silver for want of a key: classify_bronze sends it.
        raise RuntimeError(f"{PSEUDONYM_KEY_ENV} did not reach this Python worker")
    key_bytes = key.encode()
    arrow_types = {"boolean": pa.bool_(), "string": pa.string(), "int": pa.int32()}
    kinds = [arrow_types[kind] for _, kind in FOUND]
    names = [*carry, *(name for name, _ in FOUND)]
    for batch in batches:
        found: list[list[Any]] = [[] for _ in FOUND]
        valid, reason, event_id, event_type, subject, version, schema_id, data = found
        times: list[datetime | None] = []
        received = _broker_times(batch, carry)
        for value, received_at in zip(batch.column("value").to_pylist(), received, strict=True):
            verdict = classify(value, resolver, bounds, received_at)
            valid.append(verdict.valid)
            reason.append(verdict.reason)
            event_id.append(verdict.event_id)
            event_type.append(verdict.event_type)
            subject.append(verdict.subject)
            version.append(verdict.version)
            schema_id.append(verdict.schema_id)
            data.append(
                payload_json(
                    verdict.subject,
                    pseudonymise(verdict.data or {}, verdict.personal, key_bytes),
                    payload,
                )
                if verdict.valid
                else None
            )
            times.append(verdict.event_time)
        arrays = [batch.column(name) for name in carry]
        arrays += [pa.array(values, type=kind) for values, kind in zip(found, kinds, strict=True)]
        event_time, event_date = _event_times(batch, valid, times)
        arrays[carry.index("event_time")] = event_time
        arrays[carry.index("event_date")] = event_date
        if stamp_ingest:
            arrays[carry.index("ingest_time")] = _now(batch.column("ingest_time").type, len(batch))
        yield pa.RecordBatch.from_arrays(arrays, names=names)


def _broker_times(batch: pa.RecordBatch, carry: Sequence[str]) -> list[datetime | None]:
    """When the broker took each record, for the check on times that run ahead; None for
    a line of a landing-zone file, whose stand-in timestamp is its day's start."""
    if "kafka_timestamp" not in carry:
        return [None] * batch.num_rows
    stamps: list[datetime | None] = batch.column("kafka_timestamp").to_pylist()
    if "topic" not in carry:
        return stamps
    return [
        None if topic is not None and topic.startswith(LANDING_TOPIC_PREFIX) else stamp
        for topic, stamp in zip(batch.column("topic").to_pylist(), stamps, strict=True)
    ]


def _event_times(
    batch: pa.RecordBatch, valid: list[bool], times: list[datetime | None]
) -> tuple[pa.Array, pa.Array]:
    """A valid event's time and UTC date as the contract read them; the rest keep bronze's.

    Bronze reads the envelope's time best-effort (`streaming.bronze.to_bronze`) so that every
    record has a date; a valid event's time is the one classify checked. The hot path hands in
    records with no envelope read at all (`streaming.bronze.unread`): only its valid events
    go on, so no JSON is parsed twice.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    old_time, old_date = batch.column("event_time"), batch.column("event_date")
    naive = old_time.type.tz is None  # Spark hands timestamps over in UTC, zoned or not
    utc = [
        None if t is None else t.astimezone(UTC).replace(tzinfo=None) if naive else t for t in times
    ]
    new_time = pa.array(utc, type=old_time.type)
    new_date = pa.array(
        [t.astimezone(UTC).date() if t is not None else None for t in times], type=old_date.type
    )
    mask = pa.array(valid, type=pa.bool_())
    return pc.if_else(mask, new_time, old_time), pc.if_else(mask, new_date, old_date)


def _now(kind: pa.DataType, rows: int) -> pa.Array:
    """The worker's clock, once per Arrow batch, as Spark hands timestamps over (UTC)."""
    import pyarrow as pa

    now = datetime.now(UTC)
    return pa.repeat(pa.scalar(now.replace(tzinfo=None) if kind.tz is None else now, kind), rows)


def classify_bronze(
    bronze: DataFrame,
    settings: Settings,
    carry: Sequence[str] = PASSTHROUGH,
    *,
    stamp_ingest: bool = False,
    payload: Mapping[str, Sequence[str]] | None = None,
) -> DataFrame:
    """One verdict row per bronze row, keyed by its Kafka coordinates, carrying `carry`.

    With `payload` (short type name -> fields), a valid event's data_json holds only those
    fields, and none for a type not named: the hot query hands on what gold reads.

    With `stamp_ingest`, the ingest time is the worker's clock when it read the record
    (`streaming.bronze.unread` says why). The hot path's dedup horizon runs on it; a batch
    replayed after a crash gets later times, which no earlier watermark makes late.
    """
    environment = bronze.sparkSession.sparkContext.environment
    password = settings.registry.password
    if password is not None:
        environment[PASSWORD_ENV] = password.get_secret_value()
    environment[PSEUDONYM_KEY_ENV] = settings.pseudonym_key().get_secret_value()
    schema = verdict_columns(carry)
    source = bronze.select(*dict.fromkeys([*carry, "value"]))
    return source.mapInArrow(
        functools.partial(
            _verdicts,
            WorkerRegistry.of(settings),
            time_bounds(settings),
            tuple(carry),
            stamp_ingest,
            payload,
        ),
        schema=schema,
    )


def quarantine_rows(verdicts: DataFrame) -> DataFrame:
    """bronze.quarantine rows for the records whose verdict is not valid."""

    return (
        verdicts.where(~F.col("valid"))
        .withColumn("quarantined_at", F.current_timestamp())
        .withColumn("kafka_date", F.to_date("kafka_timestamp"))
        .select(*BRONZE_QUARANTINE.schema.fieldNames())
    )
