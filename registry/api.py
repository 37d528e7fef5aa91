"""The registry's REST API: Confluent Schema Registry's endpoints and error codes, for JSON Schema.

Any Confluent client (confluent-kafka's SchemaRegistryClient, the Java serializers, kcat) can
use it. Only schemaType JSON is accepted, and schema references are not supported.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from registry.auth import DENIED, BasicAuth, RegistryUser, may_write
from registry.compatibility import (
    CompatibilityLevel,
    InvalidSchemaError,
    check_compatibility,
    validate_schema,
)
from registry.store import ErrorCode, KafkaSchemaStore, RejectedError, SchemaVersion

MEDIA_TYPE = "application/vnd.schemaregistry.v1+json"
SCHEMA_TYPES = ["JSON"]
_MAX_VERSION = 2**31 - 1


#: Stands for '/' inside one path segment while routing: a private-use character, which no
#: subject name carries.
_SLASH = "\ue000"


class _SubjectConvertor(Convertor[str]):
    """A subject as a path segment, with its encoded slashes ('%2F') given back."""

    regex = "[^/]+"

    def convert(self, value: str) -> str:
        return value.replace(_SLASH, "/")

    def to_string(self, value: str) -> str:
        return value.replace("/", _SLASH)


class _EncodedSlashes:
    """Keeps an encoded '/' (%2F) inside its path segment, as Confluent allows in subjects.

    ASGI servers decode the path before routing, so `a%2Fb` would otherwise be two segments;
    this decodes the raw path segment by segment instead.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = scope.get("raw_path") or b""
        if scope["type"] == "http" and b"%2f" in raw.lower():
            path = raw.split(b"?", 1)[0].decode("latin-1")
            segments = (unquote(segment).replace("/", _SLASH) for segment in path.split("/"))
            scope = {**scope, "path": "/".join(segments)}
        await self.app(scope, receive, send)


#: How long a write waits for an election to settle before it is refused (50004).
WRITER_WAIT_S = 15.0

#: Headers a forwarded write carries to the writer (credentials included: it checks them).
_FORWARDED_HEADERS = ("content-type", "accept", "authorization")


def _forward(leader: str | None, request: Request, body: bytes) -> Response:
    """Send a write on to the elected writer and hand back its answer unchanged."""
    import urllib.error
    import urllib.request

    if leader is None:
        raise RejectedError(
            ErrorCode.UNKNOWN_LEADER,
            "No registry instance is the elected writer yet; retry in a few seconds.",
        )
    raw = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string") or b""
    url = leader.rstrip("/") + raw.decode("latin-1") + (f"?{query.decode()}" if query else "")
    headers = {k: v for k, v in request.headers.items() if k.lower() in _FORWARDED_HEADERS}
    sent = urllib.request.Request(url, data=body or None, headers=headers, method=request.method)
    try:
        with urllib.request.urlopen(sent, timeout=30) as answer:
            status, content, kind = answer.status, answer.read(), answer.headers.get_content_type()
    except urllib.error.HTTPError as error:  # the writer's own refusal (409, 422, ...)
        status, content, kind = error.code, error.read(), error.headers.get_content_type()
    except (urllib.error.URLError, OSError) as error:
        raise RejectedError(
            ErrorCode.FORWARDING_ERROR,
            f"Forwarding the write to the elected writer at {leader} failed ({error}); "
            "retry in a few seconds, when a new writer may have been elected.",
        ) from error
    return Response(content, status_code=status, media_type=kind)


class _Json(JSONResponse):
    media_type = MEDIA_TYPE


def _reply(request: Request, content: Any, status_code: int = 200) -> Response:
    """Confluent's media type, unless the client asked for plain application/json only."""
    accept = request.headers.get("accept", "")
    if "application/json" in accept and "schemaregistry" not in accept:
        return JSONResponse(content, status_code=status_code)
    return _Json(content, status_code=status_code)


def _error(request: Request, status_code: int, error_code: int, message: str) -> Response:
    return _reply(request, {"error_code": error_code, "message": message}, status_code)


def _flag(request: Request, *names: str) -> bool:
    """A boolean query parameter; clients send true, True or 1."""
    return any(
        request.query_params.get(name, "").strip().lower() in {"true", "1"} for name in names
    )


def _version_id(text: str) -> int | None:
    """A version path segment: an int in [1, 2^31-1], or "latest" / -1 (returned as None)."""
    value = text.strip()
    if value.lower() == "latest":
        return None
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number == -1:
        return None
    if not 1 <= number <= _MAX_VERSION:
        raise RejectedError(
            ErrorCode.INVALID_VERSION,
            f"The specified version '{text}' is not a valid version id. "
            'Allowed values are between [1, 2^31-1] and the string "latest"',
        )
    return number


def _level(text: object) -> CompatibilityLevel:
    try:
        if not isinstance(text, str):
            raise ValueError(text)  # a missing level must not read as "None" -> NONE
        return CompatibilityLevel(text.strip().upper())
    except ValueError:
        raise RejectedError(
            ErrorCode.INVALID_COMPATIBILITY_LEVEL,
            "Invalid compatibility level. Valid values are none, backward, forward, full, "
            "backward_transitive, forward_transitive, and full_transitive",
        ) from None


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        raise RejectedError(ErrorCode.BAD_REQUEST, f"The request body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise RejectedError(ErrorCode.BAD_REQUEST, "The request body must be a JSON object")
    return body


def parse_schema(body: dict[str, Any]) -> Any:
    """The schema of a register/lookup/check request, parsed and validated (or 42201)."""
    # Confluent's default when schemaType is absent is AVRO, which this registry does not hold.
    schema_type = str(body.get("schemaType") or "AVRO").upper()
    if schema_type not in SCHEMA_TYPES:
        raise RejectedError(
            ErrorCode.INVALID_SCHEMA,
            f"Invalid schema: schemaType {schema_type} is not supported; this registry holds "
            'JSON Schema only (send "schemaType": "JSON")',
        )
    if body.get("references"):
        raise RejectedError(
            ErrorCode.INVALID_SCHEMA, "Invalid schema: schema references are not supported"
        )
    text = body.get("schema")
    if not isinstance(text, str):
        raise RejectedError(ErrorCode.INVALID_SCHEMA, 'Invalid schema: the request has no "schema"')
    try:
        schema = json.loads(text)
    except ValueError as exc:
        raise RejectedError(ErrorCode.INVALID_SCHEMA, f"Invalid schema: not JSON: {exc}") from None
    try:
        validate_schema(schema)
    except InvalidSchemaError as exc:
        raise RejectedError(ErrorCode.INVALID_SCHEMA, f"Invalid schema: {exc}") from None
    return schema


def _version_body(v: SchemaVersion) -> dict[str, Any]:
    return {
        "subject": v.subject,
        "version": v.version,
        "id": v.id,
        "schemaType": v.schema_type,
        "schema": v.schema,
    }


def _page(request: Request, items: list[Any]) -> list[Any]:
    """Confluent's offset/limit paging (limit < 0: no limit)."""
    try:
        offset = max(int(request.query_params.get("offset", "0")), 0)
        limit = int(request.query_params.get("limit", "-1"))
    except ValueError:
        return items
    items = items[offset:]
    return items if limit < 0 else items[:limit]


def create_app(
    store: KafkaSchemaStore,
    default_compatibility: str,
    users: Mapping[str, RegistryUser] | None = None,
) -> Starlette:
    """The ASGI app over an opened store; `default_compatibility` applies when none is set.

    With `users`, every request needs HTTP basic authentication, and a write the admin role.
    """
    register_url_convertor("subject", _SubjectConvertor())
    default_level = CompatibilityLevel(default_compatibility.strip().upper())

    def level_for(subject: str) -> CompatibilityLevel:
        configured = store.compatibility(subject) or store.compatibility(None)
        return CompatibilityLevel(configured) if configured else default_level

    def problems(subject: str, schema: Any, previous: Sequence[SchemaVersion]) -> list[str]:
        level = level_for(subject)
        if level is CompatibilityLevel.NONE or not previous:
            return []
        found = check_compatibility(schema, [json.loads(v.schema) for v in previous], level)
        return [str(incompatibility) for incompatibility in found]

    def subject_missing(subject: str) -> RejectedError:
        return RejectedError(ErrorCode.SUBJECT_NOT_FOUND, f"Subject '{subject}' not found.")

    # --- root and schemas by id ------------------------------------------------------------

    async def root(request: Request) -> Response:
        return _reply(request, {})

    async def schema_types(request: Request) -> Response:
        return _reply(request, SCHEMA_TYPES)

    def text_of(schema_id: int) -> str:
        text = store.schema_text(schema_id)
        if text is None:
            raise RejectedError(ErrorCode.SCHEMA_NOT_FOUND, f"Schema {schema_id} not found")
        return text

    async def schema_by_id(request: Request) -> Response:
        # ?subject= narrows nothing here: ids are global, as in Confluent's default context.
        schema_id = int(request.path_params["id"])
        return _reply(request, {"schemaType": "JSON", "schema": text_of(schema_id)})

    async def schema_by_id_raw(request: Request) -> Response:
        return Response(text_of(int(request.path_params["id"])), media_type=MEDIA_TYPE)

    async def schema_versions(request: Request) -> Response:
        schema_id = int(request.path_params["id"])
        text_of(schema_id)
        wanted = request.query_params.get("subject")
        found = [
            {"subject": v.subject, "version": v.version}
            for v in store.versions_with_id(schema_id, _flag(request, "deleted"))
            if wanted is None or v.subject == wanted
        ]
        return _reply(request, _page(request, found))

    async def schema_subjects(request: Request) -> Response:
        schema_id = int(request.path_params["id"])
        text_of(schema_id)
        wanted = request.query_params.get("subject")
        found = sorted(
            {
                v.subject
                for v in store.versions_with_id(schema_id, _flag(request, "deleted"))
                if wanted is None or v.subject == wanted
            }
        )
        return _reply(request, _page(request, found))

    # --- subjects --------------------------------------------------------------------------

    async def list_subjects(request: Request) -> Response:
        deleted_only = _flag(request, "deletedOnly", "deleted_only")
        include_deleted = deleted_only or _flag(request, "deleted")
        subjects = store.subjects(include_deleted)
        if deleted_only:
            live = set(store.subjects())
            subjects = [s for s in subjects if s not in live]
        prefix = request.query_params.get("subjectPrefix")
        if prefix:
            subjects = [s for s in subjects if s.startswith(prefix)]
        return _reply(request, _page(request, subjects))

    async def list_versions(request: Request) -> Response:
        subject = request.path_params["subject"]
        deleted_only = _flag(request, "deletedOnly", "deleted_only")
        versions = store.versions(
            subject, include_deleted=deleted_only or _flag(request, "deleted")
        )
        if not versions:
            raise subject_missing(subject)
        if deleted_only:
            versions = [v for v in versions if v.deleted]
        return _reply(request, _page(request, [v.version for v in versions]))

    def find_version(request: Request) -> SchemaVersion:
        subject = request.path_params["subject"]
        number = _version_id(request.path_params["version"])
        include_deleted = _flag(request, "deleted")
        found = store.version(subject, number, include_deleted)
        if found is None:
            if not store.versions(subject, include_deleted):
                raise subject_missing(subject)
            raise RejectedError(
                ErrorCode.VERSION_NOT_FOUND,
                f"Version {-1 if number is None else number} not found.",
            )
        return found

    async def get_version(request: Request) -> Response:
        return _reply(request, _version_body(find_version(request)))

    async def get_version_schema(request: Request) -> Response:
        return Response(find_version(request).schema, media_type=MEDIA_TYPE)

    async def register(request: Request) -> Response:
        subject = request.path_params["subject"]
        schema = parse_schema(await _body(request))
        entry = await run_in_threadpool(
            store.register, subject, schema, lambda previous: problems(subject, schema, previous)
        )
        return _reply(request, {"id": entry.id})

    async def lookup(request: Request) -> Response:
        subject = request.path_params["subject"]
        schema = parse_schema(await _body(request))
        include_deleted = _flag(request, "deleted")
        versions = store.versions(subject, include_deleted)
        if not versions:
            raise subject_missing(subject)
        schema_id = store.id_of(schema)
        match = next((v for v in reversed(versions) if v.id == schema_id), None)
        if match is None:
            raise RejectedError(ErrorCode.SCHEMA_NOT_FOUND, "Schema not found")
        return _reply(request, _version_body(match))

    async def delete_subject(request: Request) -> Response:
        subject = request.path_params["subject"]
        permanent = _flag(request, "permanent")
        deleted = await run_in_threadpool(store.delete_subject, subject, permanent)
        return _reply(request, deleted)

    async def delete_version(request: Request) -> Response:
        subject = request.path_params["subject"]
        number = _version_id(request.path_params["version"])
        permanent = _flag(request, "permanent")
        deleted = await run_in_threadpool(store.delete_version, subject, number, permanent)
        return _reply(request, deleted)

    # --- config ----------------------------------------------------------------------------

    async def get_global_config(request: Request) -> Response:
        level = store.compatibility(None) or default_level.value
        return _reply(request, {"compatibilityLevel": level})

    async def put_config(request: Request) -> Response:
        subject = request.path_params.get("subject")
        body = await _body(request)
        level = _level(body.get("compatibility", body.get("compatibilityLevel")))
        await run_in_threadpool(store.set_compatibility, subject, level.value)
        return _reply(request, {"compatibility": level.value})

    async def delete_global_config(request: Request) -> Response:
        previous = await run_in_threadpool(store.delete_compatibility, None)
        return _reply(request, {"compatibilityLevel": previous or default_level.value})

    async def get_subject_config(request: Request) -> Response:
        subject = request.path_params["subject"]
        level = store.compatibility(subject)
        if level is None and _flag(request, "defaultToGlobal"):
            level = store.compatibility(None) or default_level.value
        if level is None:
            raise RejectedError(
                ErrorCode.SUBJECT_COMPATIBILITY_NOT_CONFIGURED,
                f"Subject '{subject}' does not have subject-level compatibility configured",
            )
        return _reply(request, {"compatibilityLevel": level})

    async def delete_subject_config(request: Request) -> Response:
        subject = request.path_params["subject"]
        previous = await run_in_threadpool(store.delete_compatibility, subject)
        if previous is None:
            raise subject_missing(subject)
        return _reply(request, {"compatibilityLevel": previous})

    # --- compatibility checks --------------------------------------------------------------

    def check_reply(
        request: Request, subject: str, body: dict[str, Any], previous: list[SchemaVersion]
    ) -> dict[str, Any]:
        """Confluent's answer to a compatibility check (CPU work: run it off the event loop)."""
        verbose = _flag(request, "verbose")
        try:
            schema = parse_schema(body)
        except RejectedError as exc:
            if not verbose or exc.error_code != ErrorCode.INVALID_SCHEMA:
                raise
            return {"is_compatible": False, "messages": [exc.message]}
        messages = problems(subject, schema, previous)
        reply: dict[str, Any] = {"is_compatible": not messages}
        if verbose:
            reply["messages"] = messages
        return reply

    async def check_against_version(request: Request) -> Response:
        subject = request.path_params["subject"]
        number = _version_id(request.path_params["version"])
        body = await _body(request)
        target = store.version(subject, number)
        if target is None and number is not None:
            raise RejectedError(ErrorCode.VERSION_NOT_FOUND, f"Version {number} not found.")
        # No version yet and "latest": anything is compatible with nothing (as Confluent).
        previous = [target] if target else []
        reply = await run_in_threadpool(check_reply, request, subject, body, previous)
        return _reply(request, reply)

    async def check_against_all(request: Request) -> Response:
        subject = request.path_params["subject"]
        body = await _body(request)
        previous = store.versions(subject)
        return _reply(
            request, await run_in_threadpool(check_reply, request, subject, body, previous)
        )

    # --- errors ----------------------------------------------------------------------------

    async def rejected(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RejectedError)
        return _error(request, exc.http_status, int(exc.error_code), exc.message)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return _error(
            request, exc.status_code, exc.status_code, f"HTTP {exc.status_code} {exc.detail}"
        )

    async def unexpected(request: Request, exc: Exception) -> Response:
        return _error(request, 500, 500, f"Internal Server Error: {type(exc).__name__}: {exc}")

    def writes(handler: Any) -> Any:
        """A write: done here by the elected writer, else forwarded to it."""

        async def write_or_forward(request: Request) -> Response:
            if not may_write(request.scope.get("state", {})):
                return _error(
                    request, 403, DENIED, "User is denied operation: writes need the admin role."
                )
            # During an election (a start, a stop, a rebalance) wait a little for its result.
            await run_in_threadpool(store.wait_for_writer, WRITER_WAIT_S)
            if store.is_writer:
                response: Response = await handler(request)
                return response
            body = await request.body()
            return await run_in_threadpool(_forward, store.leader_url, request, body)

        return write_or_forward

    routes = [
        Route("/", root, methods=["GET"]),
        Route("/schemas/types", schema_types, methods=["GET"]),
        Route("/schemas/ids/{id:int}", schema_by_id, methods=["GET"]),
        Route("/schemas/ids/{id:int}/schema", schema_by_id_raw, methods=["GET"]),
        Route("/schemas/ids/{id:int}/versions", schema_versions, methods=["GET"]),
        Route("/schemas/ids/{id:int}/subjects", schema_subjects, methods=["GET"]),
        Route("/subjects", list_subjects, methods=["GET"]),
        Route("/subjects/{subject:subject}", lookup, methods=["POST"]),
        Route("/subjects/{subject:subject}", writes(delete_subject), methods=["DELETE"]),
        Route("/subjects/{subject:subject}/versions", list_versions, methods=["GET"]),
        Route("/subjects/{subject:subject}/versions", writes(register), methods=["POST"]),
        Route("/subjects/{subject:subject}/versions/{version}", get_version, methods=["GET"]),
        Route(
            "/subjects/{subject:subject}/versions/{version}",
            writes(delete_version),
            methods=["DELETE"],
        ),
        Route(
            "/subjects/{subject:subject}/versions/{version}/schema",
            get_version_schema,
            methods=["GET"],
        ),
        Route("/config", get_global_config, methods=["GET"]),
        Route("/config", writes(put_config), methods=["PUT"]),
        Route("/config", writes(delete_global_config), methods=["DELETE"]),
        Route("/config/{subject:subject}", get_subject_config, methods=["GET"]),
        Route("/config/{subject:subject}", writes(put_config), methods=["PUT"]),
        Route("/config/{subject:subject}", writes(delete_subject_config), methods=["DELETE"]),
        Route(
            "/compatibility/subjects/{subject:subject}/versions",
            check_against_all,
            methods=["POST"],
        ),
        Route(
            "/compatibility/subjects/{subject:subject}/versions/{version}",
            check_against_version,
            methods=["POST"],
        ),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(BasicAuth, users=users), Middleware(_EncodedSlashes)],
        exception_handlers={
            RejectedError: rejected,
            HTTPException: http_error,
            Exception: unexpected,
        },
    )
