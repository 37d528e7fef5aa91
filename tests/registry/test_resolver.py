"""RegistryResolver: schemas by id from the real registry, new ids picked up without restart."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from rapport.contracts.catalog import default_catalog
from rapport.runtime.ports import free_port
from rapport.settings import RegistrySettings
from registry.client import RegistryClient, RegistryError
from registry.resolver import RegistryResolver

pytestmark = pytest.mark.kafka


def test_resolves_by_id_and_by_dataschema(schema_registry: Any) -> None:
    catalog = default_catalog()
    v1 = catalog.get("OrderPlaced", 1)
    resolver = RegistryResolver(schema_registry, catalog)
    registered = schema_registry.lookup(v1.subject, v1.schema)
    by_id = resolver.resolve(registered.id, v1.subject, v1.schema_uri)
    assert by_id is not None
    assert (by_id.subject, by_id.version, by_id.schema_id) == (
        v1.subject, registered.version, registered.id,
    )  # fmt: skip
    assert by_id.schema == v1.schema
    by_uri = resolver.resolve(None, v1.subject, v1.schema_uri)
    assert by_uri is not None
    assert by_uri.schema_id == registered.id
    assert resolver.resolve(None, "x", "urn:rapport:contracts:orders:Nope:v1") is None
    assert resolver.resolve(987_654, v1.subject, v1.schema_uri) is None


def test_a_version_registered_later_is_found_without_a_restart(schema_registry: Any) -> None:
    resolver = RegistryResolver(schema_registry, default_catalog())
    subject = f"rapport.test.Late{uuid.uuid4().hex[:6]}"
    schema = {"type": "object", "properties": {"a": {"type": "string"}},
              "additionalProperties": False}  # fmt: skip
    new_id = schema_registry.register(subject, schema)
    found = resolver.resolve(new_id, subject, "urn:unused")
    assert found is not None
    assert (found.subject, found.version) == (subject, 1)


def test_an_unknown_id_is_asked_again_after_a_few_seconds(schema_registry: Any) -> None:
    """A record may name its schema id a moment before the producer's registration lands."""
    now = [0.0]
    resolver = RegistryResolver(schema_registry, default_catalog(), clock=lambda: now[0])
    subject = f"rapport.test.Early{uuid.uuid4().hex[:6]}"

    def schema(marker: str) -> dict[str, Any]:
        return {"type": "object", "properties": {marker: {"type": "string"}},
                "additionalProperties": False}  # fmt: skip

    next_id = schema_registry.register(subject, schema("a")) + 1  # ids are handed out in order
    assert resolver.resolve(next_id, subject, "urn:unused") is None
    schema_registry.set_compatibility("NONE", subject)
    assert schema_registry.register(subject, schema("b")) == next_id
    assert resolver.resolve(next_id, subject, "urn:unused") is None  # still believed unknown
    now[0] += resolver.unknown_ttl_s + 0.1
    found = resolver.resolve(next_id, subject, "urn:unused")
    assert found is not None
    assert (found.subject, found.version, found.schema_id) == (subject, 2, next_id)


def test_a_worker_started_during_a_registry_outage_reads_the_schemas_kept_on_disk(
    schema_registry: Any, settings: Any, tmp_path: Path
) -> None:
    """Schemas any worker fetched are kept on disk; a new worker reads them while the
    registry is down, and one it never saw is the registry's error, never a quarantine."""
    catalog = default_catalog()
    v1, other = catalog.get("OrderPlaced", 1), catalog.get("CustomerLoggedIn", 1)
    registered = schema_registry.lookup(v1.subject, v1.schema)
    first = RegistryResolver(schema_registry, catalog, cache_dir=tmp_path)
    assert first.resolve(registered.id, v1.subject, v1.schema_uri) is not None
    assert first.resolve(None, v1.subject, v1.schema_uri) is not None

    down = RegistrySettings(url=f"http://127.0.0.1:{free_port()}")  # nothing listens there
    later = RegistryResolver(RegistryClient(down), catalog, cache_dir=tmp_path)
    by_id = later.resolve(registered.id, v1.subject, v1.schema_uri)
    by_uri = later.resolve(None, v1.subject, v1.schema_uri)
    assert by_id is not None
    assert by_uri is not None
    assert (by_id.subject, by_id.version, by_id.schema) == (
        v1.subject,
        registered.version,
        v1.schema,
    )
    assert (by_uri.schema_id, by_uri.schema) == (registered.id, v1.schema)
    with pytest.raises(RegistryError, match="Cannot reach the schema registry"):
        later.resolve(None, other.subject, other.schema_uri)  # never fetched: not on disk

    # The registry answering "no such id" is a verdict: the disk is not asked.
    assert (
        RegistryResolver(schema_registry, catalog, cache_dir=tmp_path).resolve(
            987_654, v1.subject, v1.schema_uri
        )
        is None
    )
