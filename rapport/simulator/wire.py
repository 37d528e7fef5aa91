"""From shop events to Kafka records, with the chaos a real system delivers.

Duplicates (the same bytes again, sometimes thousands of records later), out-of-order and
late arrivals, malformed payloads and unknown event types. Pure and seeded: the same inputs
give the same records in the same order.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Literal

import orjson

from rapport.contracts.envelope import envelope, utc_iso
from rapport.simulator.shop import ShopEvent

RecordKind = Literal["event", "duplicate", "malformed", "unknown_type"]


@dataclass(frozen=True)
class ChaosConfig:
    """Shares (0..1) of records that misbehave, and by how much."""

    duplicates: float = 0.0
    #: A duplicate is re-sent between 1 and this many records later ("much later").
    duplicate_max_delay: int = 5000
    out_of_order: float = 0.0
    #: An out-of-order event is held back for up to this many records.
    out_of_order_max_delay: int = 50
    late: float = 0.0
    #: A late event's time is this far in the past when it is sent.
    late_by: timedelta = timedelta(hours=2)
    malformed: float = 0.0
    unknown_types: float = 0.0

    def __post_init__(self) -> None:
        for name in ("duplicates", "out_of_order", "late", "malformed", "unknown_types"):
            share = getattr(self, name)
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"chaos share {name}={share} must be between 0 and 1")


@dataclass(frozen=True)
class WireRecord:
    """One Kafka record the simulator sends, and what it is for the ledger."""

    domain: str
    key: bytes | None
    value: bytes
    kind: RecordKind
    event: ShopEvent | None = None
    late: bool = False
    reason: str = ""


def encode(event: ShopEvent, schema_ids: Mapping[tuple[str, int], int]) -> bytes:
    """The CloudEvent JSON bytes of a shop event (the registry id added when known)."""
    contract = event.contract
    doc = envelope(
        contract,
        event.data,
        event_id=event.event_id,
        time=event.time,
        schema_id=schema_ids.get((contract.subject, contract.version)),
    )
    return orjson.dumps(doc)


_MALFORMATIONS = (
    "not_json",
    "missing_required_field",
    "wrong_type",
    "invalid_enum",
    "negative_money",
    "no_envelope",
)


def _malformed(
    event: ShopEvent, rng: random.Random, schema_ids: Mapping[tuple[str, int], int]
) -> WireRecord:
    """A broken copy of `event` under a fresh id: it must land in quarantine, never in a report."""
    how = rng.choice(_MALFORMATIONS)
    key = event.key.encode()
    domain = event.contract.domain
    if how == "not_json":
        return WireRecord(
            domain, key, b"\x00{not json" + event.event_id.encode(), "malformed", reason=how
        )
    doc = orjson.loads(encode(event, schema_ids))
    doc["id"] = f"bad-{event.event_id}"
    data = doc["data"]
    if how == "missing_required_field":
        data.pop(event.contract.key_field)
    elif how == "wrong_type":
        data[event.contract.key_field] = 12345
    elif how == "invalid_enum":
        enum_fields = [n for n, s in event.contract.schema["properties"].items() if "enum" in s]
        if enum_fields:
            data[enum_fields[0]] = "not-a-valid-value"
        else:
            data.pop(event.contract.key_field)
    elif how == "negative_money":
        money = [
            n for n, s in event.contract.schema["properties"].items() if s.get("x-rapport-type")
        ]
        if money:
            data[money[0]] = "-1.00x"
        else:
            data["unexpected_field"] = True  # closed content model: rejected
    elif how == "no_envelope":
        doc = data
    return WireRecord(domain, key, orjson.dumps(doc), "malformed", reason=how)


def _unknown(event: ShopEvent, schema_ids: Mapping[tuple[str, int], int]) -> WireRecord:
    doc = orjson.loads(encode(event, schema_ids))
    doc["id"] = f"unknown-{event.event_id}"
    doc["type"] = f"rapport.{event.contract.domain}.Teleported"
    doc["dataschema"] = f"urn:rapport:contracts:{event.contract.domain}:Teleported:v1"
    doc.pop("schemaid", None)
    return WireRecord(
        event.contract.domain,
        event.key.encode(),
        orjson.dumps(doc),
        "unknown_type",
        reason="unknown_event_type",
    )


def wire_records(
    events: Iterable[ShopEvent],
    chaos: ChaosConfig,
    seed: int,
    schema_ids: Mapping[tuple[str, int], int] | None = None,
) -> Iterator[WireRecord]:
    """Every record to send, in sending order, chaos included; held records flush at the end."""
    ids = dict(schema_ids or {})
    rng = random.Random(seed ^ 0x5EED)
    held: list[tuple[int, int, WireRecord]] = []  # (release at record n, tiebreak, record)
    n = 0
    tiebreak = 0

    def hold(record: WireRecord, delay: int) -> None:
        nonlocal tiebreak
        tiebreak += 1
        heapq.heappush(held, (n + delay, tiebreak, record))

    for event in events:
        # A zero share draws nothing, so calm runs pay nothing for the chaos machinery.
        late = bool(chaos.late) and rng.random() < chaos.late
        if late:
            event = replace(event, time=event.time - chaos.late_by)
        record = WireRecord(
            event.contract.domain, event.key.encode(), encode(event, ids), "event", event, late
        )
        if chaos.out_of_order and rng.random() < chaos.out_of_order:
            hold(record, rng.randint(1, chaos.out_of_order_max_delay))
        else:
            n += 1
            yield record
        if chaos.duplicates and rng.random() < chaos.duplicates:
            hold(replace(record, kind="duplicate"), rng.randint(1, chaos.duplicate_max_delay))
        if chaos.malformed and rng.random() < chaos.malformed:
            n += 1
            yield _malformed(event, rng, ids)
        if chaos.unknown_types and rng.random() < chaos.unknown_types:
            n += 1
            yield _unknown(event, ids)
        while held and held[0][0] <= n:
            n += 1
            yield heapq.heappop(held)[2]
    while held:
        yield heapq.heappop(held)[2]


def describe(record: WireRecord) -> dict[str, object]:
    """The ledger line of a record: enough to find it in Kafka and in every table."""
    line: dict[str, object] = {"kind": record.kind, "domain": record.domain}
    if record.event is not None:
        e = record.event
        line.update(
            id=e.event_id,
            type=e.contract.event_type,
            version=e.contract.version,
            time=utc_iso(e.time),
            key=e.key,
            late=record.late,
        )
    else:
        line.update(reason=record.reason, value_prefix=record.value[:80].decode(errors="replace"))
    return line
