"""The registry's durable state: every schema and config change is a record in a compacted topic.

Kafka is the database. On open the store creates its topic if needed (one partition, so the
order of changes is total; `cleanup.policy=compact`, so the latest record per key is kept
forever), reads it from the beginning to the end offset to rebuild the in-memory state, and a
background thread then keeps applying new records. A restart, or a second instance over the
same topic, therefore sees the same registry.

Records: keys and values are JSON, keys serialised with sorted keys so that compaction folds
every change of one thing onto one key.

- ``{"keytype": "SCHEMA", "subject": s, "version": v}`` ->
  ``{"subject", "version", "id", "schema", "schemaType", "deleted"}``; a hard delete writes a
  tombstone (null value). A soft delete rewrites the record with ``"deleted": true``.
- ``{"keytype": "CONFIG", "subject": s}`` (``null`` for the global level) ->
  ``{"compatibilityLevel": LEVEL}``; deleting the config writes a tombstone.
- ``{"keytype": "LEADER"}`` -> ``{"url": URL}``: the instance elected to write
  (`registry.election`), so that the others know where to forward writes.
- ``{"keytype": "DELETE_SUBJECT", "subject": s}`` -> ``{"subject": s, "version": v}``: every
  version of the subject up to ``v`` is soft-deleted. One record, so a subject's soft delete
  lands whole or not at all (Confluent writes the same key type for it); a hard delete of
  the subject tombstones it.

Consistency: writes go through an idempotent ``acks=all`` producer, and a write returns only
after this instance's consumer has applied it (read-your-writes). Within one instance writes are
serialised under a lock, after first catching up with the topic's end. Several instances on
one topic elect one writer through Kafka's group protocol (`registry.election`, as Confluent
elects a leader); the others refuse writes here and their API forwards them to the writer,
so two instances never hand out the same id or version. Any number of instances serve reads.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import IntEnum
from types import TracebackType
from typing import Any

from rapport.settings import Settings

log = logging.getLogger(__name__)

#: How long one write may take, from send to applied locally, before it counts as a failure.
WRITE_TIMEOUT_S = 30.0
_POLL_MS = 200


class ErrorCode(IntEnum):
    """Confluent Schema Registry's error codes; clients branch on them, so they must match."""

    BAD_REQUEST = 400
    SUBJECT_NOT_FOUND = 40401
    VERSION_NOT_FOUND = 40402
    SCHEMA_NOT_FOUND = 40403
    SUBJECT_SOFT_DELETED = 40404
    SUBJECT_NOT_SOFT_DELETED = 40405
    VERSION_SOFT_DELETED = 40406
    VERSION_NOT_SOFT_DELETED = 40407
    SUBJECT_COMPATIBILITY_NOT_CONFIGURED = 40408
    INCOMPATIBLE_SCHEMA = 409
    INVALID_SCHEMA = 42201
    INVALID_VERSION = 42202
    INVALID_COMPATIBILITY_LEVEL = 42203
    STORE_ERROR = 50001
    FORWARDING_ERROR = 50003
    UNKNOWN_LEADER = 50004


class RejectedError(Exception):
    """The registry refuses a request; `error_code` is Confluent's code for the reason."""

    def __init__(self, error_code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message

    @property
    def http_status(self) -> int:
        """404xx -> 404, 422xx -> 422, 500xx -> 500; three-digit codes are the status itself."""
        code = int(self.error_code)
        return code if code < 1000 else code // 100


class StoreError(RejectedError):
    """Kafka did not take or return a record in time (Confluent's 50001)."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.STORE_ERROR, message)


@dataclass(frozen=True)
class SchemaVersion:
    """One version of a subject: the schema text as stored and its global id."""

    subject: str
    version: int
    id: int
    schema: str
    schema_type: str = "JSON"
    deleted: bool = False

    def record(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "version": self.version,
            "id": self.id,
            "schema": self.schema,
            "schemaType": self.schema_type,
            "deleted": self.deleted,
        }

    @classmethod
    def from_record(cls, value: dict[str, Any]) -> SchemaVersion:
        return cls(
            subject=str(value["subject"]),
            version=int(value["version"]),
            id=int(value["id"]),
            schema=str(value["schema"]),
            schema_type=str(value.get("schemaType") or "JSON"),
            deleted=bool(value.get("deleted", False)),
        )


def compact_json(schema: Any) -> str:
    """The stored text of a schema: compact, key order kept (as Confluent stores JSON Schema)."""
    return json.dumps(schema, separators=(",", ":"), ensure_ascii=False)


def canonical_json(schema: Any) -> str:
    """The identity of a schema: whitespace and key order do not make a new schema."""
    return json.dumps(schema, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def _canonical_text(text: str) -> str:
    try:
        return canonical_json(json.loads(text))
    except ValueError:
        return text  # not JSON (never written by this registry): compare it verbatim


def _encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def schema_key(subject: str, version: int) -> dict[str, Any]:
    return {"keytype": "SCHEMA", "subject": subject, "version": version}


def delete_subject_key(subject: str) -> dict[str, Any]:
    return {"keytype": "DELETE_SUBJECT", "subject": subject}


def config_key(subject: str | None) -> dict[str, Any]:
    return {"keytype": "CONFIG", "subject": subject}


#: The highest id ever handed out. Compaction may drop a hard-deleted schema's record, but this
#: one (a single key, always overwritten upwards) survives, so an id is never given twice.
ID_HIGH_WATER_KEY: dict[str, Any] = {"keytype": "ID_HIGH_WATER"}


#: Given the live versions of a subject (oldest first), why the new schema may not follow them.
CompatibilityCheck = Callable[[Sequence[SchemaVersion]], Sequence[str]]


class KafkaSchemaStore:
    """Schemas, versions, ids and compatibility configs, kept in memory and in a Kafka topic."""

    def __init__(self, settings: Settings, client_id: str = "rapport-registry") -> None:
        self.settings = settings
        self.topic = settings.registry.topic
        self.client_id = client_id
        # Guards the in-memory state and the applied position; writers wait on it.
        self._state = threading.Condition()
        # Serialises this instance's writes (decide + write + apply is one step).
        self._write_lock = threading.Lock()
        self._versions: dict[str, dict[int, SchemaVersion]] = {}
        self._configs: dict[str | None, str] = {}
        self._texts_by_id: dict[int, tuple[str, str]] = {}  # id -> (stored text, canonical)
        self._id_by_canonical: dict[str, int] = {}
        # Highest id ever applied, even if since hard-deleted, so an id is not handed out twice.
        self._max_id = 0
        self._position = 0  # the next offset the consumer will apply
        self._consumer_error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._consumer: Any = None
        self._offsets: Any = None
        self._producer: Any = None
        self._tp: Any = None
        self._election: Any = None
        self._leader_url: str | None = None
        self._advertised: str | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def open(
        self, timeout_s: float | None = None, advertise: str | None = None
    ) -> KafkaSchemaStore:
        """Create the topic if needed, replay it to its end, then follow it in the background.

        With `advertise` (this instance's URL) it joins the writers' election and, while
        elected, announces that URL; without, it is the only writer (tests, tools).
        """
        from kafka import KafkaConsumer, KafkaProducer, TopicPartition
        from kafka.errors import KafkaError

        timeout_s = timeout_s or self.settings.registry.start_timeout_s
        config = self.settings.kafka.python_client_config()
        try:
            self._ensure_topic(config, timeout_s)
            self._tp = TopicPartition(self.topic, 0)
            self._consumer = KafkaConsumer(
                **config,
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                client_id=f"{self.client_id}-reader",
            )
            self._consumer.assign([self._tp])
            self._consumer.seek_to_beginning(self._tp)
            # A second consumer only answers "where does the topic end?"; the reader's
            # consumer belongs to its thread (kafka-python clients are not thread-safe).
            self._offsets = KafkaConsumer(
                **config,
                group_id=None,
                enable_auto_commit=False,
                client_id=f"{self.client_id}-offsets",
            )
            self._producer = KafkaProducer(
                **config,
                acks="all",
                enable_idempotence=True,
                linger_ms=0,
                client_id=f"{self.client_id}-writer",
            )
        except KafkaError as exc:
            self.close()
            raise StoreError(
                f"cannot open the registry topic {self.topic!r} on Kafka at "
                f"{self.settings.kafka.bootstrap_servers} ({exc}). "
                "Is Kafka running? Start it with `make up` or `uv run rapport kafka start`."
            ) from exc
        self._thread = threading.Thread(
            target=self._follow, name=f"registry-reader-{self.topic}", daemon=True
        )
        self._thread.start()
        try:
            self._wait_applied(self._end_offset(timeout_s), timeout_s)
        except StoreError:
            self.close()
            raise
        if advertise is not None:
            from registry.election import WriterElection

            self._advertised = advertise

            def announce() -> None:  # off the election's thread: a write waits for its echo
                threading.Thread(target=self._announce, args=(advertise,), daemon=True).start()

            self._election = WriterElection(self.settings, announce)
            self._election.start()
            # Serve once a writer is known: this instance, or the one that announced itself.
            if not self.wait_for_writer(timeout_s):
                log.warning("registry: no writer elected within %.0fs", timeout_s)
        log.info(
            "registry store ready: %d subject(s), %d schema id(s) from topic %s",
            len(self._versions),
            len(self._texts_by_id),
            self.topic,
        )
        return self

    def _ensure_topic(self, config: dict[str, object], timeout_s: float) -> None:
        from kafka import KafkaAdminClient
        from kafka.errors import TopicAlreadyExistsError

        # The first contact fails fast: Kafka is either up already or not started at all.
        admin = KafkaAdminClient(
            **config,
            client_id=f"{self.client_id}-admin",
            bootstrap_timeout_ms=int(min(10.0, timeout_s / 3) * 1000),
        )
        try:
            if self.topic not in set(admin.list_topics()):
                try:
                    admin.create_topics(
                        {
                            self.topic: {
                                # One partition: the registry's history has a single order.
                                "num_partitions": 1,
                                "replication_factor": self.settings.kafka.replication_factor,
                                "configs": {"cleanup.policy": "compact"},
                            }
                        }
                    )
                    log.info("created the compacted registry topic %s", self.topic)
                except TopicAlreadyExistsError:
                    pass  # another instance won the race: same topic, same settings
            admin.wait_for_topics([self.topic], timeout_ms=int(timeout_s * 1000))
        finally:
            admin.close()

    def close(self) -> None:
        """Stop following the topic and close the Kafka clients; safe to call twice."""
        if self._election is not None:
            self._election.stop()  # leave the group first: another instance takes over
            self._election = None
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        for name in ("_producer", "_offsets", "_consumer"):
            client = getattr(self, name)
            setattr(self, name, None)
            if client is not None:
                try:
                    client.close()
                except Exception:  # closing is best effort; the process may be exiting
                    log.debug("closing %s failed", name, exc_info=True)

    def __enter__(self) -> KafkaSchemaStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- following the topic ---------------------------------------------------------------

    def _follow(self) -> None:
        """The reader thread: apply every record in offset order until close()."""
        while not self._stop.is_set():
            try:
                batches = self._consumer.poll(timeout_ms=_POLL_MS)
                records = sorted(
                    (r for batch in batches.values() for r in batch), key=lambda r: r.offset
                )
                # Applied before asking for the position: records polled are never dropped.
                with self._state:
                    for record in records:
                        self._apply(record.key, record.value)
                position = self._consumer.position(self._tp)
            except Exception as exc:  # a broker outage: keep trying, tell waiting writers
                if self._stop.is_set():
                    return
                log.warning("reading registry topic %s failed: %s", self.topic, exc)
                with self._state:
                    self._consumer_error = exc
                    self._state.notify_all()
                time.sleep(1.0)
                continue
            with self._state:
                self._consumer_error = None
                if position is not None:
                    self._position = max(self._position, int(position))
                self._state.notify_all()

    def _apply(self, key_bytes: bytes | None, value_bytes: bytes | None) -> None:
        """Fold one record into the state (caller holds the state lock)."""
        try:
            key = json.loads(key_bytes) if key_bytes else None
            value = json.loads(value_bytes) if value_bytes is not None else None
        except ValueError:
            log.warning("skipping a record that is not JSON in %s", self.topic)
            return
        if not isinstance(key, dict):
            return
        keytype = key.get("keytype")
        if keytype == "SCHEMA":
            try:
                subject, version = str(key["subject"]), int(key["version"])
            except (KeyError, TypeError, ValueError):
                log.warning("skipping a malformed schema key in %s: %r", self.topic, key)
                return
            previous = self._versions.get(subject, {}).get(version)
            if value is None:
                self._versions.get(subject, {}).pop(version, None)
                if not self._versions.get(subject):
                    self._versions.pop(subject, None)
            else:
                try:
                    entry = SchemaVersion.from_record(value)
                except (KeyError, TypeError, ValueError):
                    log.warning("skipping a malformed schema record in %s: %r", self.topic, value)
                    return
                self._versions.setdefault(subject, {})[version] = entry
                self._max_id = max(self._max_id, entry.id)
                if entry.id not in self._texts_by_id:
                    canonical = _canonical_text(entry.schema)
                    self._texts_by_id[entry.id] = (entry.schema, canonical)
                    self._id_by_canonical.setdefault(canonical, entry.id)
            if previous is not None:
                self._forget_id_if_unused(previous.id)
        elif keytype == "DELETE_SUBJECT":
            if not isinstance(value, dict) or not isinstance(value.get("version"), int):
                return  # a tombstone (the subject was hard-deleted) or nothing to apply
            versions = self._versions.get(str(key.get("subject")), {})
            for number, entry in versions.items():
                if number <= value["version"] and not entry.deleted:
                    versions[number] = replace(entry, deleted=True)
        elif keytype == "LEADER":
            self._leader_url = value.get("url") if isinstance(value, dict) else None
        elif keytype == "ID_HIGH_WATER":
            if isinstance(value, dict) and isinstance(value.get("id"), int):
                self._max_id = max(self._max_id, value["id"])
        elif keytype == "CONFIG":
            subject_or_global = key.get("subject")
            if value is None:
                self._configs.pop(subject_or_global, None)
            elif isinstance(value, dict) and value.get("compatibilityLevel"):
                self._configs[subject_or_global] = str(value["compatibilityLevel"])
        # Other key types (e.g. a Confluent NOOP) carry no state for this registry.

    def _forget_id_if_unused(self, schema_id: int) -> None:
        if any(v.id == schema_id for vs in self._versions.values() for v in vs.values()):
            return
        texts = self._texts_by_id.pop(schema_id, None)
        if texts is not None and self._id_by_canonical.get(texts[1]) == schema_id:
            del self._id_by_canonical[texts[1]]

    def _end_offset(self, timeout_s: float = WRITE_TIMEOUT_S) -> int:
        from kafka.errors import KafkaError

        try:
            offsets = self._offsets.end_offsets([self._tp], timeout_ms=int(timeout_s * 1000))
        except KafkaError as exc:
            raise StoreError(f"cannot read the end offset of {self.topic!r}: {exc}") from exc
        return int(offsets[self._tp])

    def _wait_applied(self, position: int, timeout_s: float = WRITE_TIMEOUT_S) -> None:
        """Block until the reader has applied every record before `position`."""
        deadline = time.monotonic() + timeout_s
        with self._state:
            while self._position < position:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stop.is_set():
                    reason = f" ({self._consumer_error})" if self._consumer_error else ""
                    raise StoreError(
                        f"the registry did not read {self.topic!r} up to offset {position} "
                        f"within {timeout_s:.0f}s (at {self._position}){reason}"
                    )
                self._state.wait(min(remaining, 0.5))

    def _write(self, records: Sequence[tuple[dict[str, Any], dict[str, Any] | None]]) -> None:
        """Send records in order, then wait until this instance has applied the last one."""
        from kafka.errors import KafkaError

        if self._producer is None:
            raise StoreError("the registry store is not open")
        try:
            futures = [
                self._producer.send(
                    self.topic,
                    key=_encode(key),
                    value=_encode(value) if value is not None else None,
                    partition=0,
                )
                for key, value in records
            ]
            self._producer.flush(timeout=WRITE_TIMEOUT_S)
            last = futures[-1].get(timeout=WRITE_TIMEOUT_S)
        except KafkaError as exc:
            raise StoreError(f"writing to the registry topic {self.topic!r} failed: {exc}") from exc
        self._wait_applied(int(last.offset) + 1)

    # --- the writer ------------------------------------------------------------------------

    @property
    def is_writer(self) -> bool:
        """Whether this instance may write now (always, outside an election)."""
        return self._election is None or bool(self._election.is_writer)

    @property
    def leader_url(self) -> str | None:
        """The URL the elected writer announced, if any (never this instance's own while it
        is not the writer: an announcement it made before it lost the election)."""
        with self._state:
            if self._leader_url == self._advertised and not self.is_writer:
                return None
            return self._leader_url

    def wait_for_writer(self, timeout_s: float) -> bool:
        """Block until this instance writes or knows which one does (an election settles in
        seconds: after a start, a stop or a rebalance); False on timeout."""
        deadline = time.monotonic() + timeout_s
        while not (self.is_writer or self.leader_url is not None):
            if time.monotonic() >= deadline or self._stop.is_set():
                return False
            time.sleep(0.1)
        return True

    def _announce(self, url: str) -> None:
        try:
            with self._write_lock:
                if self.is_writer:
                    self._write([({"keytype": "LEADER"}, {"url": url})])
        except StoreError as exc:
            log.warning("registry: could not announce this writer: %s", exc)

    def _require_writer(self) -> None:
        if not self.is_writer:
            raise RejectedError(
                ErrorCode.UNKNOWN_LEADER,
                "This registry instance is not the elected writer; send writes to "
                f"{self.leader_url or 'the writer, once one is elected (retry in a few seconds)'}.",
            )

    def _catch_up(self) -> None:
        """Before deciding a write, apply what other instances may have written."""
        self._wait_applied(self._end_offset())

    # --- reads -----------------------------------------------------------------------------

    def subjects(self, include_deleted: bool = False) -> list[str]:
        """Subject names, sorted; a subject whose versions are all soft-deleted only on request."""
        with self._state:
            return sorted(
                subject
                for subject, versions in self._versions.items()
                if include_deleted or any(not v.deleted for v in versions.values())
            )

    def versions(self, subject: str, include_deleted: bool = False) -> list[SchemaVersion]:
        """The subject's versions, oldest first."""
        with self._state:
            versions = self._versions.get(subject, {})
            return [
                versions[n] for n in sorted(versions) if include_deleted or not versions[n].deleted
            ]

    def version(
        self, subject: str, version: int | None, include_deleted: bool = False
    ) -> SchemaVersion | None:
        """One version, or the latest (`version=None`); None when there is no such version."""
        candidates = self.versions(subject, include_deleted)
        if version is None:
            return candidates[-1] if candidates else None
        return next((v for v in candidates if v.version == version), None)

    def schema_text(self, schema_id: int) -> str | None:
        """The schema behind a global id (soft-deleted versions keep their id readable)."""
        with self._state:
            texts = self._texts_by_id.get(schema_id)
            return texts[0] if texts else None

    def versions_with_id(
        self, schema_id: int, include_deleted: bool = False
    ) -> list[SchemaVersion]:
        """Every (subject, version) that holds the schema with this id."""
        with self._state:
            return sorted(
                (
                    v
                    for versions in self._versions.values()
                    for v in versions.values()
                    if v.id == schema_id and (include_deleted or not v.deleted)
                ),
                key=lambda v: (v.subject, v.version),
            )

    def id_of(self, schema: Any) -> int | None:
        """The id of an identical schema (whitespace and key order aside), if one exists."""
        with self._state:
            return self._id_by_canonical.get(canonical_json(schema))

    def compatibility(self, subject: str | None) -> str | None:
        """The level configured for this subject (None: the global one), if any."""
        with self._state:
            return self._configs.get(subject)

    # --- writes ----------------------------------------------------------------------------

    def register(self, subject: str, schema: Any, check: CompatibilityCheck) -> SchemaVersion:
        """Add `schema` as the subject's next version, or return the live identical version.

        An identical schema keeps its global id whatever subject it was registered under;
        `check` gets the subject's live versions and returns the incompatibilities, if any.
        """
        self._require_writer()
        with self._write_lock:
            self._catch_up()
            known_id = self.id_of(schema)
            every = self.versions(subject, include_deleted=True)
            live = [v for v in every if not v.deleted]
            for existing in reversed(live):
                if existing.id == known_id:
                    return existing
            problems = list(check(live))
            if problems:
                raise RejectedError(
                    ErrorCode.INCOMPATIBLE_SCHEMA,
                    f'Schema being registered is incompatible with an earlier schema for subject "'
                    f'{subject}", details: [{"; ".join(problems)}]',
                )
            with self._state:
                schema_id = known_id if known_id is not None else self._max_id + 1
            entry = SchemaVersion(
                subject=subject,
                version=max((v.version for v in every), default=0) + 1,
                id=schema_id,
                schema=compact_json(schema),
            )
            # As Confluent does: re-registering a soft-deleted schema drops the older copy.
            records: list[tuple[dict[str, Any], dict[str, Any] | None]] = [
                (schema_key(subject, v.version), None)
                for v in every
                if v.deleted and v.id == schema_id
            ]
            records.append((schema_key(subject, entry.version), entry.record()))
            if known_id is None:
                records.append((ID_HIGH_WATER_KEY, {"id": schema_id}))
            self._write(records)
            log.info("registered %s version %d (id %d)", subject, entry.version, schema_id)
            return entry

    def delete_version(self, subject: str, version: int | None, permanent: bool) -> int:
        """Soft-delete a version, or hard-delete one that was soft-deleted first."""
        self._require_writer()
        with self._write_lock:
            self._catch_up()
            every = self.versions(subject, include_deleted=True)
            if version is None:
                pool = every if permanent else [v for v in every if not v.deleted]
                target = pool[-1] if pool else None
            else:
                target = next((v for v in every if v.version == version), None)
            if target is None:
                if not every:
                    raise RejectedError(
                        ErrorCode.SUBJECT_NOT_FOUND, f"Subject '{subject}' not found."
                    )
                shown = "latest" if version is None else version
                raise RejectedError(ErrorCode.VERSION_NOT_FOUND, f"Version {shown} not found.")
            if not permanent and target.deleted:
                raise RejectedError(
                    ErrorCode.VERSION_SOFT_DELETED,
                    f"Subject '{subject}' Version {target.version} was soft deleted. "
                    "Set permanent=true to delete permanently",
                )
            if permanent and not target.deleted:
                raise RejectedError(
                    ErrorCode.VERSION_NOT_SOFT_DELETED,
                    f"Subject '{subject}' Version {target.version} was not deleted first "
                    "before being permanently deleted",
                )
            key = schema_key(subject, target.version)
            if permanent:
                records: list[tuple[dict[str, Any], dict[str, Any] | None]] = [(key, None)]
                if len(every) == 1:  # the subject is gone
                    records.append((delete_subject_key(subject), None))
                    if self.compatibility(subject) is not None:
                        records.append((config_key(subject), None))
            else:
                records = [(key, replace(target, deleted=True).record())]
            self._write(records)
            return target.version

    def delete_subject(self, subject: str, permanent: bool) -> list[int]:
        """Soft-delete every live version, or hard-delete a soft-deleted subject and its config."""
        self._require_writer()
        with self._write_lock:
            self._catch_up()
            every = self.versions(subject, include_deleted=True)
            live = [v for v in every if not v.deleted]
            if not every:
                raise RejectedError(ErrorCode.SUBJECT_NOT_FOUND, f"Subject '{subject}' not found.")
            if permanent and live:
                raise RejectedError(
                    ErrorCode.SUBJECT_NOT_SOFT_DELETED,
                    f"Subject '{subject}' was not deleted first before being permanently deleted",
                )
            if not permanent and not live:
                raise RejectedError(
                    ErrorCode.SUBJECT_SOFT_DELETED,
                    f"Subject '{subject}' was soft deleted. Set permanent=true to delete "
                    "permanently",
                )
            records: list[tuple[dict[str, Any], dict[str, Any] | None]]
            if permanent:
                records = [(schema_key(subject, v.version), None) for v in reversed(every)]
                records.append((delete_subject_key(subject), None))
                if self.compatibility(subject) is not None:
                    records.append((config_key(subject), None))
                deleted = every
            else:
                # One record for the whole subject: atomic, whatever fails midway.
                newest = max(v.version for v in live)
                records = [(delete_subject_key(subject), {"subject": subject, "version": newest})]
                deleted = live
            self._write(records)
            return [v.version for v in deleted]

    def set_compatibility(self, subject: str | None, level: str) -> None:
        """Configure the level of a subject, or the global level (`subject=None`)."""
        self._require_writer()
        with self._write_lock:
            self._write([(config_key(subject), {"compatibilityLevel": level})])

    def delete_compatibility(self, subject: str | None) -> str | None:
        """Remove a configured level; returns the level removed, or None if none was set."""
        self._require_writer()
        with self._write_lock:
            self._catch_up()
            previous = self.compatibility(subject)
            if previous is not None:
                self._write([(config_key(subject), None)])
            return previous
