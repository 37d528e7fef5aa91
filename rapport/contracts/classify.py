"""Is a raw Kafka record a valid event? One verdict for the stream and the batch loads alike.

`classify(value, resolver)` reads the CloudEvents envelope, finds the payload's registered
schema through a `SchemaResolver`, and validates the payload. It never raises on bad input:
every record gets a verdict, and a rejected one carries the reason it goes to quarantine.

With `TimeBounds` and the time the broker received the record, an event time that runs ahead
of the broker's clock (a producer whose clock is wrong) or lies before any plausible time is
rejected too: such an event would otherwise move the watermark and make everyone else late.
The broker's timestamp is part of the record, so a replay gets the same verdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import orjson

from rapport.contracts.catalog import ContractCatalog
from rapport.contracts.envelope import REQUIRED_ATTRIBUTES, SPEC_VERSION
from rapport.contracts.privacy import personal_fields
from rapport.contracts.validation import is_valid, violations


@dataclass(frozen=True)
class ResolvedSchema:
    """The schema a payload must satisfy, as registered."""

    subject: str
    version: int
    schema_id: int | None
    schema: Mapping[str, Any]


class SchemaResolver(Protocol):
    """Finds the schema of a payload by its registry id, else by its CloudEvents attributes."""

    def resolve(
        self, schema_id: int | None, event_type: str, dataschema: str
    ) -> ResolvedSchema | None: ...


@dataclass(frozen=True)
class TimeBounds:
    """Which event times are believable: not too far ahead of the broker, not before `earliest`."""

    #: How far an event's time may run ahead of the time the broker received it.
    max_ahead: timedelta = timedelta(minutes=5)
    #: No event of this business happened before this (a zero or garbage clock).
    earliest: datetime = datetime(2000, 1, 1, tzinfo=UTC)


DEFAULT_BOUNDS = TimeBounds()


@dataclass(frozen=True)
class Classification:
    """The verdict on one record: valid (with its typed parts) or not (with the reason)."""

    valid: bool
    reason: str | None = None
    event_id: str | None = None
    event_type: str | None = None
    event_time: datetime | None = None
    subject: str | None = None
    version: int | None = None
    schema_id: int | None = None
    data: Mapping[str, Any] | None = None
    #: The payload fields its schema marks as personal (`rapport.contracts.privacy`).
    personal: frozenset[str] = frozenset()


def _rejected(reason: str, doc: Mapping[str, Any] | None = None) -> Classification:
    doc = doc or {}
    event_id = doc.get("id") if isinstance(doc.get("id"), str) else None
    event_type = doc.get("type") if isinstance(doc.get("type"), str) else None
    return Classification(False, reason, event_id=event_id, event_type=event_type)


def _time_problem(
    event_time: datetime, bounds: TimeBounds, received_at: datetime | None
) -> str | None:
    """Why an event's time is not believable, or None."""
    if event_time < bounds.earliest:
        return f"event_time_too_old: {event_time.isoformat()} is before {bounds.earliest.date()}"
    if received_at is None:
        return None
    if received_at.tzinfo is None:  # Spark hands timestamps over as naive UTC
        received_at = received_at.replace(tzinfo=UTC)
    ahead = event_time - received_at
    if ahead > bounds.max_ahead:
        return (
            f"event_time_ahead: {event_time.isoformat()} is {int(ahead.total_seconds())} s "
            f"ahead of the broker's clock ({received_at.isoformat()}); at most "
            f"{int(bounds.max_ahead.total_seconds())} s is accepted: is the producer's clock right?"
        )
    return None


def classify(
    value: bytes | None,
    resolver: SchemaResolver,
    bounds: TimeBounds = DEFAULT_BOUNDS,
    received_at: datetime | None = None,
) -> Classification:
    """The verdict on one record's value; never raises on malformed input.

    An event time before `bounds.earliest` is rejected; with `received_at`, when the broker
    took the record (Kafka's timestamp), so is one more than `bounds.max_ahead` ahead of it.
    """
    if value is None:
        return _rejected("empty_value")
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError:
        return _rejected("not_json")
    if not isinstance(doc, dict):
        return _rejected("not_a_json_object")
    missing = [a for a in REQUIRED_ATTRIBUTES if not isinstance(doc.get(a), str) or not doc[a]]
    if missing:
        return _rejected(f"missing_envelope_attribute: {', '.join(missing)}", doc)
    if doc["specversion"] != SPEC_VERSION:
        return _rejected(f"unsupported_specversion: {doc['specversion']}", doc)
    try:
        event_time = datetime.fromisoformat(doc["time"])
        if event_time.tzinfo is None:
            return _rejected("invalid_time: no time zone", doc)
        event_time.astimezone(UTC)  # year 1 at +14:00 has no UTC time: every reader would fail
    except (ValueError, OverflowError):
        return _rejected(f"invalid_time: {doc['time'][:40]}", doc)
    problem = _time_problem(event_time, bounds, received_at)
    if problem is not None:
        return _rejected(problem, doc)
    raw_id = doc.get("schemaid")
    schema_id = raw_id if isinstance(raw_id, int) and not isinstance(raw_id, bool) else None
    resolved = resolver.resolve(schema_id, doc["type"], doc["dataschema"])
    if resolved is None:
        return _rejected(
            f"unknown_schema: id {schema_id}" if schema_id is not None else "unknown_event_type",
            doc,
        )
    if resolved.subject != doc["type"]:
        return _rejected(
            f"schema_mismatch: schema id {schema_id} is {resolved.subject}, not {doc['type']}", doc
        )
    data = doc.get("data")
    try:
        if not is_valid(resolved.schema, data):
            problems = "; ".join(violations(resolved.schema, data)[:5])
            return _rejected(f"invalid_payload: {problems}", doc)
    except RecursionError:
        # orjson reads 1,024 levels; describing a wrong value that deep (its repr) can take
        # more stack than a Spark worker's Python has left: still a verdict, never a crash.
        return _rejected("invalid_payload: nested too deeply to check", doc)
    return Classification(
        True,
        event_id=doc["id"],
        event_type=doc["type"],
        event_time=event_time,
        subject=resolved.subject,
        version=resolved.version,
        schema_id=resolved.schema_id,
        data=data,
        personal=personal_fields(resolved.schema),
    )


class CatalogResolver:
    """Resolves by `dataschema` against the local contracts: for offline loads and tests."""

    def __init__(self, catalog: ContractCatalog) -> None:
        self.catalog = catalog

    def resolve(
        self, schema_id: int | None, event_type: str, dataschema: str
    ) -> ResolvedSchema | None:
        contract = self.catalog.by_schema_uri(dataschema)
        if contract is None:
            return None
        return ResolvedSchema(contract.subject, contract.version, schema_id, contract.schema)
