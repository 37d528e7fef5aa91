"""Resolves payload schemas from the registry, cached, and refreshed when a new id appears.

A consumer (the stream, the batch loads) meets schema ids it has never seen whenever a
producer starts using a new compatible version; the first record with that id fetches it,
every later one is served from the cache, and no restart is needed. An id the registry does
not know is remembered as unknown for a few seconds only: a producer may register its schema
a moment after the first record names it, and later records must then find it.

With a `cache_dir`, every schema fetched is also kept on disk, and read back only when the
registry cannot be reached: a registry id always names the same schema, so a worker started
during a registry outage (a new Python worker, a restarted stream) still validates every
record whose schema any worker on this machine has seen. A schema seen nowhere cannot be
checked; the registry's error then stops the batch, loudly, and nothing is skipped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from rapport.contracts.catalog import ContractCatalog
from rapport.contracts.classify import ResolvedSchema
from registry.client import RegistryClient, RegistryError

#: How long "the registry does not know this id" is believed before asking again.
UNKNOWN_TTL_S = 5.0

log = logging.getLogger(__name__)


def unreachable(error: RegistryError) -> bool:
    """The registry did not answer (or answered 5xx): not a verdict on the schema."""
    return error.error_code is None and (error.http_status is None or error.http_status >= 500)


class DiskCache:
    """Schemas the registry sent, one JSON file per key, written atomically."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, key: int | str) -> Path:
        name = hashlib.sha256(str(key).encode()).hexdigest()[:32]
        return self.folder / f"{name}.json"

    def put(self, key: int | str, found: ResolvedSchema) -> None:
        body = {"key": str(key), "subject": found.subject, "version": found.version,
                "schema_id": found.schema_id, "schema": found.schema}  # fmt: skip
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = self._path(key).with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_text(json.dumps(body))
            tmp.replace(self._path(key))
        except OSError as exc:  # a full or read-only disk costs the fallback, not the batch
            log.warning("could not keep schema %s in %s: %s", key, self.folder, exc)

    def get(self, key: int | str) -> ResolvedSchema | None:
        try:
            body = json.loads(self._path(key).read_text())
        except (OSError, ValueError):
            return None
        if body.get("key") != str(key):
            return None
        return ResolvedSchema(body["subject"], body["version"], body["schema_id"], body["schema"])


class RegistryResolver:
    """SchemaResolver backed by a Confluent-compatible registry."""

    def __init__(
        self,
        client: RegistryClient,
        catalog: ContractCatalog,
        *,
        unknown_ttl_s: float = UNKNOWN_TTL_S,
        clock: Callable[[], float] = time.monotonic,
        cache_dir: Path | None = None,
    ) -> None:
        self.client = client
        self.disk = DiskCache(cache_dir) if cache_dir is not None else None
        self.catalog = catalog
        self.unknown_ttl_s = unknown_ttl_s
        self._clock = clock
        self._by_id: dict[int, ResolvedSchema] = {}
        self._by_uri: dict[str, ResolvedSchema] = {}
        #: Keys last found unknown, with when to ask again.
        self._unknown: dict[int | str, float] = {}
        self._lock = threading.Lock()

    def _cached(
        self,
        key: int | str,
        found: dict[Any, ResolvedSchema],
        fetch: Callable[[], ResolvedSchema | None],
    ) -> ResolvedSchema | None:
        if key in found:
            return found[key]
        if self._unknown.get(key, 0.0) > self._clock():
            return None
        try:
            resolved = fetch()
        except RegistryError as exc:
            kept = self.disk.get(key) if self.disk is not None and unreachable(exc) else None
            if kept is None:
                raise
            log.warning("schema registry unreachable; schema %s read from %s", key, self.disk)
            found[key] = kept
            return kept
        if resolved is not None and self.disk is not None:
            self.disk.put(key, resolved)
        if resolved is None:
            self._unknown[key] = self._clock() + self.unknown_ttl_s
            return None
        self._unknown.pop(key, None)
        found[key] = resolved
        return resolved

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
                return self._cached(schema_id, self._by_id, lambda: self._fetch_id(schema_id))
            return self._cached(
                f"uri:{dataschema}", self._by_uri, lambda: self._fetch_uri(dataschema)
            )
