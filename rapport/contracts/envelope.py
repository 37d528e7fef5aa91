"""CloudEvents 1.0 envelopes (JSON structured mode) around contract payloads."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from rapport.contracts.catalog import EventContract

SPEC_VERSION = "1.0"
#: Envelope attributes every Rapport event carries.
REQUIRED_ATTRIBUTES = ("specversion", "id", "source", "type", "time", "subject", "dataschema")


def utc_iso(moment: datetime) -> str:
    """UTC ISO-8601 with milliseconds and a Z, the only time format in Rapport events."""
    if moment.tzinfo is None:
        raise ValueError("event times must be timezone-aware (UTC)")
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="milliseconds")[:-6] + "Z"


def envelope(
    contract: EventContract,
    data: Mapping[str, Any],
    *,
    event_id: str,
    time: datetime,
    schema_id: int | None = None,
) -> dict[str, Any]:
    """Wrap `data` in a CloudEvent naming its exact contract version (and registry id)."""
    event: dict[str, Any] = {
        "specversion": SPEC_VERSION,
        "id": event_id,
        "source": contract.source,
        "type": contract.subject,
        "time": utc_iso(time),
        "subject": str(data[contract.key_field]),
        "dataschema": contract.schema_uri,
        "datacontenttype": "application/json",
        "data": dict(data),
    }
    if schema_id is not None:
        # CloudEvents extension attribute: the registry's global id of the payload schema.
        event["schemaid"] = schema_id
    return event
