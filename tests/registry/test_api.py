"""The registry's REST API, driven by Confluent's own Python client against a real Kafka store.

The app runs in-process (uvicorn in a thread) over its own topic on the session's broker, so
what Confluent's client accepts here is what it accepts from the `rapport registry` process.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from confluent_kafka.schema_registry import Schema, SchemaReference, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from rapport.runtime.ports import free_port
from rapport.runtime.processes import wait_until
from rapport.settings import Settings
from registry.api import MEDIA_TYPE, create_app
from registry.auth import RegistryUser, load_users
from registry.store import KafkaSchemaStore
from tests.helpers.settings import SettingsFactory

pytestmark = pytest.mark.kafka


def order_v1() -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"order_id": {"type": "string"}, "amount": {"type": "number"}},
        "required": ["order_id"],
    }


def json_schema(document: dict[str, Any], **dumps: Any) -> Schema:
    return Schema(json.dumps(document, **dumps), "JSON")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def with_marker(marker: str) -> dict[str, Any]:
    """A schema no other test registers, so its id is this test's alone."""
    doc = order_v1()
    doc["title"] = marker
    return doc


@contextmanager
def serving(reg: Settings, users: dict[str, RegistryUser] | None = None) -> Iterator[str]:
    """The API in this process (uvicorn in a thread) over the registry topic of `reg`."""
    import uvicorn

    store = KafkaSchemaStore(reg).open()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(store, "BACKWARD", users),
            host="127.0.0.1",
            port=reg.registry.port,
            log_level="warning",
            lifespan="off",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        assert wait_until(lambda: server.started, 30), "uvicorn did not start"
        yield reg.registry.url
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        store.close()


def registry_settings(make_settings: SettingsFactory, settings: Settings, name: str) -> Settings:
    """Settings of a registry over a fresh topic on the session broker."""
    return make_settings(
        name,
        kafka={
            "broker_port": settings.kafka.broker_port,
            "controller_port": settings.kafka.controller_port,
        },
        registry={"port": free_port(), "topic": unique(f"_schemas_{name}")},
    )


@pytest.fixture(scope="module")
def registry_url(
    make_settings: SettingsFactory, settings: Settings, kafka_broker: Any
) -> Iterator[str]:
    """The API over a fresh topic on the session broker; default level BACKWARD."""
    with serving(registry_settings(make_settings, settings, "registry-api")) as url:
        yield url


@pytest.fixture
def sr(registry_url: str) -> SchemaRegistryClient:
    """A fresh Confluent client per test: its caches must not hide what the server says."""
    return SchemaRegistryClient({"url": registry_url})


@pytest.fixture
def loose_subject(sr: SchemaRegistryClient) -> str:
    """A subject at level NONE: tests about versions, not about compatibility rules."""
    subject = unique("loose")
    sr.set_compatibility(subject_name=subject, level="NONE")
    return subject


def error_of(call: Any, *args: Any, **kwargs: Any) -> SchemaRegistryError:
    with pytest.raises(SchemaRegistryError) as caught:
        call(*args, **kwargs)
    return caught.value


# --- basics --------------------------------------------------------------------------------


def test_root_types_and_content_type(registry_url: str, sr: SchemaRegistryClient) -> None:
    root = requests.get(f"{registry_url}/", timeout=10)
    assert root.status_code == 200
    assert root.json() == {}
    assert root.headers["content-type"].startswith(MEDIA_TYPE)
    plain = requests.get(f"{registry_url}/", headers={"Accept": "application/json"}, timeout=10)
    assert plain.headers["content-type"].startswith("application/json")
    assert sr.get_schema_types() == ["JSON"]


def test_unknown_path_is_a_json_error(registry_url: str) -> None:
    reply = requests.get(f"{registry_url}/no/such/thing", timeout=10)
    assert reply.status_code == 404
    assert reply.json()["error_code"] == 404


def test_plain_json_request_bodies_are_accepted(registry_url: str) -> None:
    subject = unique("plain")
    reply = requests.post(
        f"{registry_url}/subjects/{subject}/versions",
        data=json.dumps({"schema": json.dumps(with_marker(subject)), "schemaType": "JSON"}),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    assert isinstance(reply.json()["id"], int)


# --- register, ids, versions ---------------------------------------------------------------


def test_same_schema_gets_the_same_id_across_subjects(sr: SchemaRegistryClient) -> None:
    first, second = unique("orders"), unique("refunds")
    doc = with_marker(first)
    schema_id = sr.register_schema(first, json_schema(doc))
    # Whitespace and key order do not make another schema.
    reordered = json.dumps(dict(reversed(list(doc.items()))), indent=4)
    assert sr.register_schema(first, Schema(reordered, "JSON")) == schema_id
    assert sr.get_versions(first) == [1]
    assert sr.register_schema(second, json_schema(doc)) == schema_id
    assert sr.get_versions(second) == [1]
    other = sr.register_schema(unique("other"), json_schema(with_marker(second)))
    assert other != schema_id


def test_schema_by_id_with_its_subjects_and_versions(sr: SchemaRegistryClient) -> None:
    first, second = unique("a"), unique("b")
    doc = with_marker(first)
    schema_id = sr.register_schema(first, json_schema(doc))
    sr.register_schema(second, json_schema(doc))

    fetched = sr.get_schema(schema_id)
    assert fetched.schema_type == "JSON"
    assert json.loads(fetched.schema_str or "") == doc
    assert {(v.subject, v.version) for v in sr.get_schema_versions(schema_id)} == {
        (first, 1),
        (second, 1),
    }
    assert sorted(sr.get_subjects_by_schema_id(schema_id)) == sorted([first, second])
    assert {first, second} <= set(sr.get_subjects())

    missing = error_of(sr.get_schema, 999_999)
    assert (missing.http_status_code, missing.error_code) == (404, 40403)


def test_latest_version_versions_and_lookup(
    sr: SchemaRegistryClient, loose_subject: str, registry_url: str
) -> None:
    v1, v2 = with_marker("v1"), with_marker("v2")
    v2["properties"]["currency"] = {"type": "string"}
    id1 = sr.register_schema(loose_subject, json_schema(v1))
    id2 = sr.register_schema(loose_subject, json_schema(v2))
    assert id2 != id1

    latest = sr.get_latest_version(loose_subject)
    assert (latest.schema_id, latest.version, latest.subject) == (id2, 2, loose_subject)
    assert json.loads(latest.schema.schema_str or "") == v2
    assert sr.get_versions(loose_subject) == [1, 2]
    assert sr.get_version(loose_subject, 1).schema_id == id1

    found = sr.lookup_schema(loose_subject, json_schema(v1, indent=2))
    assert (found.schema_id, found.version) == (id1, 1)

    raw = requests.get(f"{registry_url}/subjects/{loose_subject}/versions/1/schema", timeout=10)
    assert raw.json() == v1


def test_not_found_and_invalid_version_codes(sr: SchemaRegistryClient, loose_subject: str) -> None:
    sr.register_schema(loose_subject, json_schema(with_marker(loose_subject)))
    nobody = unique("nobody")

    assert error_of(sr.get_versions, nobody).error_code == 40401
    assert error_of(sr.get_latest_version, nobody).error_code == 40401
    missing_version = error_of(sr.get_version, loose_subject, 42)
    assert (missing_version.http_status_code, missing_version.error_code) == (404, 40402)
    invalid = error_of(sr.get_version, loose_subject, 0)
    assert (invalid.http_status_code, invalid.error_code) == (422, 42202)

    lookup_nobody = error_of(sr.lookup_schema, nobody, json_schema(order_v1()))
    assert (lookup_nobody.http_status_code, lookup_nobody.error_code) == (404, 40401)
    lookup_other = error_of(sr.lookup_schema, loose_subject, json_schema(with_marker("never")))
    assert (lookup_other.http_status_code, lookup_other.error_code) == (404, 40403)


@pytest.mark.parametrize(
    "schema",
    [
        Schema("{not json", "JSON"),
        Schema(json.dumps({"type": 12}), "JSON"),  # valid JSON, not a valid JSON Schema
        Schema(json.dumps({"type": "record", "name": "R", "fields": []}), "AVRO"),
        Schema(json.dumps(order_v1()), "JSON", [SchemaReference("m.json", "money", 1)]),
    ],
    ids=["not-json", "not-a-json-schema", "avro", "with-references"],
)
def test_invalid_schemas_are_422_42201(sr: SchemaRegistryClient, schema: Schema) -> None:
    subject = unique("invalid")
    error = error_of(sr.register_schema, subject, schema)
    assert (error.http_status_code, error.error_code) == (422, 42201)
    assert error_of(sr.get_versions, subject).error_code == 40401  # nothing was stored


# --- compatibility config ------------------------------------------------------------------


def level(config: Any) -> str:
    """The compatibility level of a config answer, as its name."""
    return str(config.compatibility_level.value)


def test_global_config(sr: SchemaRegistryClient) -> None:
    assert level(sr.get_config()) == "BACKWARD"
    try:
        changed: Any = sr.set_compatibility(level="full_transitive")
        assert changed == {"compatibility": "FULL_TRANSITIVE"}
        assert sr.get_compatibility() == "FULL_TRANSITIVE"
    finally:
        sr.set_compatibility(level="BACKWARD")
    assert sr.get_compatibility() == "BACKWARD"


def test_subject_config(sr: SchemaRegistryClient, registry_url: str) -> None:
    subject = unique("configured")
    not_set = error_of(sr.get_config, subject)
    assert (not_set.http_status_code, not_set.error_code) == (404, 40408)
    fallback = requests.get(f"{registry_url}/config/{subject}?defaultToGlobal=true", timeout=10)
    assert fallback.json() == {"compatibilityLevel": "BACKWARD"}

    sr.set_compatibility(subject_name=subject, level="FORWARD")
    assert level(sr.get_config(subject)) == "FORWARD"
    assert sr.get_compatibility() == "BACKWARD"  # the global level is untouched

    assert level(sr.delete_config(subject)) == "FORWARD"
    assert error_of(sr.get_config, subject).error_code == 40408
    assert error_of(sr.delete_config, subject).error_code == 40401


def test_invalid_compatibility_level_is_42203(sr: SchemaRegistryClient, registry_url: str) -> None:
    error = error_of(sr.set_compatibility, level="SIDEWAYS")
    assert (error.http_status_code, error.error_code) == (422, 42203)
    error = error_of(sr.set_compatibility, subject_name=unique("s"), level="SIDEWAYS")
    assert error.error_code == 42203
    no_level = requests.put(f"{registry_url}/config", json={}, timeout=10)
    assert (no_level.status_code, no_level.json()["error_code"]) == (422, 42203)
    assert sr.get_compatibility() == "BACKWARD"


# --- compatibility checks (need registry.compatibility's rules) ----------------------------


def test_incompatible_schema_is_409(sr: SchemaRegistryClient, registry_url: str) -> None:
    subject = unique("strict")
    v1 = with_marker(subject)
    sr.register_schema(subject, json_schema(v1))
    breaking = with_marker(subject)
    breaking["properties"]["customer_id"] = {"type": "string"}
    breaking["required"] = ["order_id", "customer_id"]  # old documents lack it

    assert sr.test_compatibility(subject, json_schema(breaking)) is False
    verbose = requests.post(
        f"{registry_url}/compatibility/subjects/{subject}/versions/latest?verbose=true",
        json={"schema": json.dumps(breaking), "schemaType": "JSON"},
        timeout=10,
    ).json()
    assert verbose["is_compatible"] is False
    assert verbose["messages"], "verbose must say why"

    error = error_of(sr.register_schema, subject, json_schema(breaking))
    assert (error.http_status_code, error.error_code) == (409, 409)
    assert "incompatible" in error.error_message
    assert "customer_id" in error.error_message  # the reasons, not just the verdict
    assert sr.get_versions(subject) == [1]

    # The same change passes once the subject's level allows it.
    sr.set_compatibility(subject_name=subject, level="NONE")
    assert sr.test_compatibility(subject, json_schema(breaking)) is True
    sr.register_schema(subject, json_schema(breaking))
    assert sr.get_versions(subject) == [1, 2]


def test_compatible_change_registers(sr: SchemaRegistryClient) -> None:
    subject = unique("evolving")
    v1 = with_marker(subject) | {"additionalProperties": False}
    sr.register_schema(subject, json_schema(v1))
    # A new optional field in a closed content model: every v1 document is a valid v2 one.
    v2 = with_marker(subject) | {"additionalProperties": False}
    v2["properties"]["note"] = {"type": "string"}
    assert sr.test_compatibility(subject, json_schema(v2), version=1) is True
    sr.register_schema(subject, json_schema(v2))
    assert sr.get_versions(subject) == [1, 2]


def test_compatibility_check_edges(sr: SchemaRegistryClient, loose_subject: str) -> None:
    # Nothing registered yet: anything is compatible with "latest" (as in Confluent).
    assert sr.test_compatibility(unique("empty"), json_schema(order_v1())) is True
    sr.register_schema(loose_subject, json_schema(with_marker(loose_subject)))
    missing = error_of(sr.test_compatibility, loose_subject, json_schema(order_v1()), version=7)
    assert (missing.http_status_code, missing.error_code) == (404, 40402)


# --- deletes -------------------------------------------------------------------------------


def test_delete_version_soft_then_permanent(sr: SchemaRegistryClient, loose_subject: str) -> None:
    subject = loose_subject
    sr.register_schema(subject, json_schema(with_marker("d1")))
    sr.register_schema(subject, json_schema(with_marker("d2")))

    assert sr.delete_version(subject, 2) == 2
    assert sr.get_versions(subject) == [1]
    assert sr.get_versions(subject, deleted=True) == [1, 2]
    assert error_of(sr.get_version, subject, 2).error_code == 40402
    assert sr.get_version(subject, 2, deleted=True).version == 2  # (cached by the client now)
    assert sr.get_latest_version(subject).version == 1

    assert error_of(sr.delete_version, subject, 2).error_code == 40406
    assert error_of(sr.delete_version, subject, 1, permanent=True).error_code == 40407
    assert sr.delete_version(subject, 2, permanent=True) == 2
    assert sr.get_versions(subject, deleted=True) == [1]
    assert error_of(sr.delete_version, subject, 9).error_code == 40402
    assert error_of(sr.delete_version, unique("nobody"), 1).error_code == 40401


def test_delete_subject_soft_then_permanent(
    sr: SchemaRegistryClient, loose_subject: str, registry_url: str
) -> None:
    subject = loose_subject
    only_here = with_marker(f"only-{subject}")
    schema_id = sr.register_schema(subject, json_schema(only_here))
    sr.register_schema(subject, json_schema(with_marker(f"second-{subject}")))

    not_soft = error_of(sr.delete_subject, subject, permanent=True)
    assert (not_soft.http_status_code, not_soft.error_code) == (404, 40405)

    assert sr.delete_subject(subject) == [1, 2]
    assert subject not in sr.get_subjects()
    assert subject in sr.get_subjects(deleted=True)
    assert error_of(sr.get_versions, subject).error_code == 40401
    # A soft-deleted schema is still readable by id: old records still point at it.
    assert json.loads(sr.get_schema(schema_id).schema_str or "") == only_here
    assert error_of(sr.delete_subject, subject).error_code == 40404

    assert sr.delete_subject(subject, permanent=True) == [1, 2]
    assert subject not in sr.get_subjects(deleted=True)
    uncached = SchemaRegistryClient({"url": registry_url})
    gone = error_of(uncached.get_schema, schema_id)
    assert gone.error_code == 40403
    assert error_of(sr.delete_subject, subject).error_code == 40401


def test_reregistering_a_soft_deleted_schema_keeps_its_id(
    sr: SchemaRegistryClient, loose_subject: str, registry_url: str
) -> None:
    doc = with_marker(f"again-{loose_subject}")
    schema_id = sr.register_schema(loose_subject, json_schema(doc))
    sr.delete_subject(loose_subject)
    fresh = SchemaRegistryClient({"url": registry_url})  # its cache would answer by itself
    assert fresh.register_schema(loose_subject, json_schema(doc)) == schema_id
    # A new version; the older soft-deleted copy of the same schema is dropped (as Confluent).
    assert fresh.get_versions(loose_subject, deleted=True) == [2]


def test_subjects_may_contain_slashes(sr: SchemaRegistryClient, registry_url: str) -> None:
    """Confluent allows '/' in a subject, sent URL-encoded (%2F); it stays one subject."""
    subject = f"team/{unique('orders')}/value"
    schema_id = sr.register_schema(subject, json_schema(with_marker(subject)))
    assert subject in sr.get_subjects()
    latest = sr.get_latest_version(subject)
    assert (latest.subject, latest.version, latest.schema_id) == (subject, 1, schema_id)
    sr.set_compatibility(subject_name=subject, level="FULL")
    assert sr.get_compatibility(subject) == "FULL"
    assert sr.test_compatibility(subject, json_schema(with_marker(subject)))
    assert sr.delete_subject(subject) == [1]
    encoded = registry_url + "/subjects/" + subject.replace("/", "%2F") + "/versions"
    assert requests.get(encoded, timeout=10).json()["error_code"] == 40401
    # Undecoded, the slashes are path separators: no such route, not another subject.
    assert (
        requests.get(registry_url + f"/subjects/{subject}/versions", timeout=10).status_code == 404
    )


# --- HTTP basic authentication, as Confluent's ------------------------------------------


def test_basic_auth_lets_admins_write_readers_read_and_nobody_else_in(
    make_settings: SettingsFactory, settings: Settings, kafka_broker: Any, tmp_path: Path
) -> None:
    from rapport.settings import RegistrySettings
    from registry.client import RegistryClient

    users_file = tmp_path / "users.properties"
    users_file.write_text(
        "# name: password, roles (Confluent's PropertyFileLoginModule)\n"
        "ops: admin-pw, admin\n"
        "stream: MD5:" + hashlib.md5(b"reader-pw", usedforsecurity=False).hexdigest() + ", user\n"
    )
    reg = registry_settings(make_settings, settings, "registry-auth")
    with serving(reg, load_users(users_file)) as url:
        subject = unique("auth")
        body = {"schema": json.dumps(order_v1()), "schemaType": "JSON"}
        write = f"{url}/subjects/{subject}/versions"

        nobody = requests.get(f"{url}/subjects", timeout=5)
        assert nobody.status_code == 401
        assert nobody.json()["error_code"] == 401
        assert nobody.headers["www-authenticate"].startswith("Basic")
        assert requests.get(f"{url}/subjects", auth=("ops", "wrong"), timeout=5).status_code == 401
        assert requests.post(write, json=body, timeout=5).status_code == 401

        denied = requests.post(write, json=body, auth=("stream", "reader-pw"), timeout=5)
        assert denied.status_code == 403
        assert denied.json()["error_code"] == 40301

        # Confluent's own client, as an admin: registers.
        admin = SchemaRegistryClient({"url": url, "basic.auth.user.info": "ops:admin-pw"})
        schema_id = admin.register_schema(subject, json_schema(order_v1()))
        # Rapport's client, as the read-only user: reads, and a lookup (a POST) is a read.
        reader = RegistryClient(RegistrySettings(url=url, username="stream", password="reader-pw"))
        assert reader.versions(subject) == [1]
        assert reader.latest(subject).id == schema_id
        found = requests.post(
            f"{url}/subjects/{subject}", json=body, auth=("stream", "reader-pw"), timeout=5
        )
        assert found.status_code == 200
        assert found.json()["id"] == schema_id
