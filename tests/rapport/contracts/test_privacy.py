"""Pseudonyms of personal fields: stable per key, different across keys, only where marked."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import orjson
import pytest

from rapport.contracts.catalog import default_catalog
from rapport.contracts.classify import CatalogResolver, classify
from rapport.contracts.envelope import envelope
from rapport.contracts.privacy import (
    ERASED,
    ERASED_EMAIL,
    PREFIX,
    erased_record,
    personal_fields,
    pseudonym,
    pseudonymise,
    scrub,
)

pytestmark = pytest.mark.unit


def test_personal_fields_are_the_ones_the_contracts_mark() -> None:
    catalog = default_catalog()
    for contract in catalog.contracts:
        assert personal_fields(contract.schema) == frozenset(contract.pii_fields())
    assert personal_fields(catalog.latest("CustomerRegistered").schema) == {"email", "name"}
    assert personal_fields(catalog.latest("OrderPlaced").schema) == frozenset()


def test_a_pseudonym_is_the_keyed_hash_stable_per_key_and_different_across_keys() -> None:
    value = "ada@example.com"
    digest = hmac.new(b"k1", value.encode(), hashlib.sha256).hexdigest()
    assert pseudonym(b"k1", value) == PREFIX + digest
    assert pseudonym(b"k1", value) == pseudonym(b"k1", value)
    assert pseudonym(b"k2", value) != pseudonym(b"k1", value)
    assert value not in pseudonym(b"k1", value)


def test_only_personal_strings_change_and_the_rest_stays_as_sent() -> None:
    data = {"customer_id": "c-1", "email": "ada@example.com", "name": "Ada", "region": "apac"}
    out = pseudonymise(data, frozenset({"email", "name"}), b"k")
    assert out == {
        **data,
        "email": pseudonym(b"k", "ada@example.com"),
        "name": pseudonym(b"k", "Ada"),
    }
    assert pseudonymise({"customer_id": "c-1"}, frozenset({"email"}), b"k") == {
        "customer_id": "c-1"
    }


def test_classify_names_the_personal_fields_of_a_valid_event() -> None:
    data = {
        "customer_id": "c-1",
        "email": "ada@example.com",
        "name": "Ada",
        "region": "apac",
        "channel": "web",
        "marketing_opt_in": False,
    }
    catalog = default_catalog()
    doc = envelope(
        catalog.latest("CustomerRegistered"),
        data,
        event_id="e-1",
        time=datetime(2026, 2, 1, 10, tzinfo=UTC),
    )
    verdict = classify(orjson.dumps(doc), CatalogResolver(catalog))
    assert verdict.valid, verdict.reason
    assert verdict.personal == {"email", "name"}


SPECS = {
    "rapport.customers.CustomerRegistered": {
        "email": {"type": "string", "format": "email"},
        "name": {"type": "string"},
    }
}


def _signup(customer: str, email: str, name: str) -> bytes:
    data = {"customer_id": customer, "email": email, "name": name, "region": "apac"}
    return orjson.dumps({"type": "rapport.customers.CustomerRegistered", "data": data})


def test_an_erased_record_keeps_its_shape_and_only_the_customers_values_go() -> None:
    known = {"c2@example.com", "Customer 2"}
    own = orjson.loads(
        erased_record(_signup("c-2", "c2@example.com", "Customer 2"), SPECS, known, "c-2") or b""
    )
    assert own["data"] == {
        "customer_id": "c-2", "email": ERASED_EMAIL, "name": ERASED, "region": "apac"
    }  # fmt: skip
    # Another customer who shares the name keeps it: only the customer's own events change.
    other = _signup("c-9", "c9@example.com", "Customer 2")
    assert erased_record(other, SPECS, known, "c-2") == other
    # Bytes that are no event lose each known value standing as a whole word, and no more.
    broken = b"\x00{not json c2@example.com Customer 2, Customer 23"
    assert erased_record(broken, SPECS, known, "c-2") == b"\x00{not json erased erased, Customer 23"
    assert scrub("'Customer 2' is not 'Customer 23'", known) == "'erased' is not 'Customer 23'"
