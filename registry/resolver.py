"""Resolves payload schemas from the registry, cached, and refreshed when a new id appears.

A consumer (the stream, the batch loads) meets schema ids it has never seen whenever a
producer starts using a new compatible version; the first record with that id fetches it,
every later one is served from the cache, and no restart is needed.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from rapport.contracts.catalog import ContractCatalog
from rapport.contracts.classify import ResolvedSchema
from registry.client import RegistryClient, RegistryError


class RegistryResolver:
    """SchemaResolver backed by a Confluent-compatible registry."""

    def __init__(self, client: RegistryClient, catalog: ContractCatalog) -> None:
        self.client = client
        self.catalog = catalog
        self._by_id: dict[int, ResolvedSchema | None] = {}
        self._by_uri: dict[str, ResolvedSchema | None] = {}
        self._lock = threading.Lock()

    def _fetch_id(self, schema_id: int) -> ResolvedSchema | None:
        try:
            schema: Mapping[str, Any] = self.client.by_id(schema_id)
            where = self.client.subject_versions_of(schema_id)
        except RegistryError as exc:
            if exc.error_code == 40403:
                return None  # the registry has no such id: the record is quarantined
            raise
        if not where:
            return None
        subject, version = where[-1]
        return ResolvedSchema(subject, version, schema_id, schema)

    def _fetch_uri(self, dataschema: str) -> ResolvedSchema | None:
        # No schema id on the record: find its contract version, then its registered id.
        contract = self.catalog.by_schema_uri(dataschema)
        if contract is None:
            return None
        try:
            found = self.client.lookup(contract.subject, contract.schema)
        except RegistryError as exc:
            if exc.error_code in (40401, 40403):
                return None
            raise
        return ResolvedSchema(contract.subject, found.version, found.id, found.schema)

    def resolve(
        self, schema_id: int | None, event_type: str, dataschema: str
    ) -> ResolvedSchema | None:
        with self._lock:
            if schema_id is not None:
                if schema_id not in self._by_id:
                    self._by_id[schema_id] = self._fetch_id(schema_id)
                return self._by_id[schema_id]
            if dataschema not in self._by_uri:
                self._by_uri[dataschema] = self._fetch_uri(dataschema)
            return self._by_uri[dataschema]
