"""RegistryResolver: schemas by id from the real registry, new ids picked up without restart."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from rapport.contracts.catalog import default_catalog
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
