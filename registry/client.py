"""A small client for the calls Rapport makes to a schema registry (Confluent's REST API).

It works against the bundled registry and any Confluent-compatible one (Confluent Schema
Registry, Karapace, Apicurio's /apis/ccompat/v7): the URL and credentials come from
`RegistrySettings`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import quote

import requests

from rapport.settings import RegistrySettings

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class RegistryError(RuntimeError):
    """The registry refused a call, or could not be reached; `error_code` is Confluent's."""

    def __init__(
        self, message: str, error_code: int | None = None, http_status: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error_code = error_code
        self.http_status = http_status


class RegisteredSchema(NamedTuple):
    """A schema as registered under a subject; unpacks as (id, version, schema)."""

    id: int
    version: int
    schema: dict[str, Any]

    @classmethod
    def from_reply(cls, reply: Mapping[str, Any]) -> RegisteredSchema:
        return cls(int(reply["id"]), int(reply["version"]), json.loads(reply["schema"]))


def _subject(subject: str) -> str:
    return quote(subject, safe="")


class RegistryClient:
    """Register, fetch and check JSON Schemas; every failure is one RegistryError."""

    def __init__(
        self,
        registry: RegistrySettings,
        timeout_s: float = 10.0,
        session: requests.Session | None = None,
    ) -> None:
        self.url = registry.url
        self.timeout_s = timeout_s
        self.session = session or requests.Session()
        self.session.auth = registry.basic_auth()
        self.session.headers.update({"Accept": f"{CONTENT_TYPE}, application/json"})

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        url = f"{self.url}{path}"
        try:
            response = self.session.request(
                method,
                url,
                data=json.dumps(body) if body is not None else None,
                headers={"Content-Type": CONTENT_TYPE} if body is not None else None,
                timeout=self.timeout_s,
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise RegistryError(
                f"Cannot reach the schema registry at {self.url} ({type(exc).__name__}). "
                "Start it with `make up` or `uv run rapport registry start`, or set "
                "RAPPORT_REGISTRY__URL to a running one."
            ) from exc
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.ok:
            return payload
        if isinstance(payload, dict) and "message" in payload:
            code = payload.get("error_code")
            raise RegistryError(
                f"{method} {path}: {payload['message']}",
                error_code=code if isinstance(code, int) else None,
                http_status=response.status_code,
            )
        raise RegistryError(
            f"{method} {path}: HTTP {response.status_code} {response.text[:200]}",
            http_status=response.status_code,
        )

    @staticmethod
    def _schema_body(schema: Mapping[str, Any]) -> dict[str, Any]:
        return {"schema": json.dumps(schema), "schemaType": "JSON"}

    def register(self, subject: str, schema: Mapping[str, Any]) -> int:
        """Register `schema` under `subject` (idempotent); returns its global id."""
        reply = self._call(
            "POST", f"/subjects/{_subject(subject)}/versions", self._schema_body(schema)
        )
        return int(reply["id"])

    def latest(self, subject: str) -> RegisteredSchema:
        """The subject's latest live version: (id, version, schema)."""
        reply = self._call("GET", f"/subjects/{_subject(subject)}/versions/latest")
        return RegisteredSchema.from_reply(reply)

    def lookup(self, subject: str, schema: Mapping[str, Any]) -> RegisteredSchema:
        """The version of `subject` that holds exactly `schema` (40401/40403 if none)."""
        reply = self._call("POST", f"/subjects/{_subject(subject)}", self._schema_body(schema))
        return RegisteredSchema.from_reply(reply)

    def by_id(self, schema_id: int) -> dict[str, Any]:
        """The schema with this global id (what a consumer needs to read a record)."""
        reply = self._call("GET", f"/schemas/ids/{int(schema_id)}")
        schema: dict[str, Any] = json.loads(reply["schema"])
        return schema

    def subject_versions_of(self, schema_id: int) -> list[tuple[str, int]]:
        """Every (subject, version) registered with this global id."""
        reply = self._call("GET", f"/schemas/ids/{int(schema_id)}/versions")
        return [(str(item["subject"]), int(item["version"])) for item in reply]

    def versions(self, subject: str) -> list[int]:
        """The subject's live version numbers, oldest first."""
        return [int(v) for v in self._call("GET", f"/subjects/{_subject(subject)}/versions")]

    def check(
        self, subject: str, schema: Mapping[str, Any], version: int | str = "latest"
    ) -> tuple[bool, list[str]]:
        """Would `schema` be accepted after `version`? (is_compatible, the reasons if not)."""
        reply = self._call(
            "POST",
            f"/compatibility/subjects/{_subject(subject)}/versions/{version}?verbose=true",
            self._schema_body(schema),
        )
        return bool(reply["is_compatible"]), [str(m) for m in reply.get("messages") or []]

    def set_compatibility(self, level: str, subject: str | None = None) -> str:
        """Set the compatibility level of a subject, or the global one; returns the level set."""
        path = "/config" if subject is None else f"/config/{_subject(subject)}"
        reply = self._call("PUT", path, {"compatibility": level.upper()})
        return str(reply["compatibility"])
