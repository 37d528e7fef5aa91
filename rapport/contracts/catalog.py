"""Loads the contract files into typed objects: every event type, every version, its subject."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

SCHEMAS_DIR = Path(__file__).resolve().parent / "schemas"
_FILE = re.compile(r"^(?P<type>[A-Z][A-Za-z]+)\.v(?P<version>[1-9][0-9]*)\.json$")

#: CloudEvents `source` of each domain's service.
SOURCE_PREFIX = "/rapport"


class ContractError(ValueError):
    """A contract file is malformed, or an event type or version does not exist."""


@dataclass(frozen=True)
class EventContract:
    """One version of one event type's payload schema."""

    domain: str
    event_type: str
    version: int
    schema: Mapping[str, Any]
    path: Path

    @property
    def subject(self) -> str:
        """Registry subject, also the CloudEvents `type`: one per event type, all versions."""
        return f"rapport.{self.domain}.{self.event_type}"

    @property
    def key_field(self) -> str:
        """Payload field whose value keys the Kafka record (keeps an entity's events in order)."""
        key: str = self.schema["x-rapport"]["key"]
        return key

    @property
    def schema_uri(self) -> str:
        """CloudEvents `dataschema`: names the exact contract version of the payload."""
        uri: str = self.schema["$id"]
        return uri

    @property
    def source(self) -> str:
        return f"{SOURCE_PREFIX}/{self.domain}-service"

    @property
    def description(self) -> str:
        return str(self.schema.get("description", ""))

    def pii_fields(self) -> list[str]:
        """Top-level payload fields marked as personal data (`"x-pii": true`)."""
        props = self.schema.get("properties", {})
        return sorted(name for name, spec in props.items() if spec.get("x-pii"))


@dataclass(frozen=True)
class ContractCatalog:
    """Every contract, by event type and version."""

    contracts: tuple[EventContract, ...]

    def __iter__(self) -> Iterator[EventContract]:
        return iter(self.contracts)

    def event_types(self) -> list[str]:
        return sorted({c.event_type for c in self.contracts})

    def domains(self) -> list[str]:
        return sorted({c.domain for c in self.contracts})

    def versions(self, event_type: str) -> list[EventContract]:
        found = sorted(
            (c for c in self.contracts if c.event_type == event_type), key=lambda c: c.version
        )
        if not found:
            raise ContractError(
                f"unknown event type {event_type!r}; known: {', '.join(self.event_types())}"
            )
        return found

    def latest(self, event_type: str) -> EventContract:
        return self.versions(event_type)[-1]

    def get(self, event_type: str, version: int) -> EventContract:
        for contract in self.versions(event_type):
            if contract.version == version:
                return contract
        raise ContractError(f"{event_type} has no version {version}")

    def by_subject(self, subject: str) -> list[EventContract]:
        return [c for c in self.contracts if c.subject == subject]

    def by_schema_uri(self, uri: str) -> EventContract | None:
        return next((c for c in self.contracts if c.schema_uri == uri), None)


def _load(path: Path) -> EventContract:
    match = _FILE.match(path.name)
    if not match:
        raise ContractError(f"{path}: file names are <EventType>.v<N>.json")
    try:
        schema = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ContractError(f"{path}: not valid JSON: {exc}") from exc
    meta = schema.get("x-rapport") or {}
    domain, event_type, version = path.parent.name, match["type"], int(match["version"])
    expected: dict[str, object] = {"domain": domain, "type": event_type, "version": version}
    for field, value in expected.items():
        if meta.get(field) != value:
            raise ContractError(f"{path}: x-rapport.{field} must be {value!r}")
    if meta.get("key") not in schema.get("required", []):
        raise ContractError(f"{path}: x-rapport.key must name a required property")
    uri = f"urn:rapport:contracts:{domain}:{event_type}:v{version}"
    if schema.get("$id") != uri:
        raise ContractError(f"{path}: $id must be {uri}")
    return EventContract(
        domain=domain,
        event_type=event_type,
        version=version,
        schema=schema,
        path=path,
    )


def load_catalog(root: Path = SCHEMAS_DIR) -> ContractCatalog:
    """Read and check every contract file under `root`."""
    contracts = tuple(_load(p) for p in sorted(root.glob("*/*.json")))
    if not contracts:
        raise ContractError(f"no contracts found under {root}")
    return ContractCatalog(contracts)


@cache
def default_catalog() -> ContractCatalog:
    """The project's contracts, read once per process on first use."""
    return load_catalog()
