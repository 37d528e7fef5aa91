"""Pseudonyms of the personal fields the contracts mark (`"x-pii": true`).

Silver and gold hold a keyed hash (HMAC-SHA256) of a personal value instead of the value,
so a join or a distinct count on it still works while the value itself stays in bronze
(and quarantine), the raw audit trail that `rapport gdpr erase` can still reach. Without the
key nobody can test a guessed e-mail address against a pseudonym; with it, the pseudonym of
a known value is found again, so the key is a secret (docs/security.md).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

import orjson

#: Marks a pseudonym, with the scheme's version: a reader can tell one from a raw value.
PREFIX = "pn1:"
#: The payload field that names the customer whose personal values an event carries.
CUSTOMER_FIELD = "customer_id"

#: Per schema object (held, so that its id is not reused): its personal fields.
_PERSONAL: dict[int, tuple[Mapping[str, Any], frozenset[str]]] = {}


def personal_fields(schema: Mapping[str, Any]) -> frozenset[str]:
    """Top-level payload fields the schema marks as personal data; cached per schema object."""
    cached = _PERSONAL.get(id(schema))
    if cached is not None:
        return cached[1]
    properties = schema.get("properties")
    found = frozenset(
        name
        for name, spec in (properties.items() if isinstance(properties, Mapping) else ())
        if isinstance(spec, Mapping) and spec.get("x-pii") is True
    )
    _PERSONAL[id(schema)] = (schema, found)
    return found


def pseudonym(key: bytes, value: str) -> str:
    """The pseudonym of one personal value: the same value and key give the same one."""
    return PREFIX + hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def pseudonymise(data: Mapping[str, Any], fields: frozenset[str], key: bytes) -> Mapping[str, Any]:
    """The payload with each personal string replaced by its pseudonym (others as they are)."""
    if not fields.intersection(data):
        return data
    return {
        name: pseudonym(key, value) if name in fields and isinstance(value, str) else value
        for name, value in data.items()
    }


#: What an erased personal value becomes in bronze: still valid against its contract, so a
#: replay from bronze gives the same figures. An e-mail field keeps an address's shape
#: (the .invalid domain is reserved, RFC 2606).
ERASED = "erased"
ERASED_EMAIL = "erased@erased.invalid"


def erased_value(spec: Mapping[str, Any]) -> str:
    """The stand-in for an erased value of a field with this JSON Schema."""
    return ERASED_EMAIL if spec.get("format") == "email" else ERASED


#: Per event type (CloudEvents `type`): its personal fields and their JSON Schemas.
PersonalSpecs = Mapping[str, Mapping[str, Mapping[str, Any]]]


def _payload(
    value: bytes | None, specs: PersonalSpecs
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The record's envelope and payload, when it is an event of a type with personal fields."""
    if value is None:
        return None
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), dict):
        return None
    if doc.get("type") not in specs:
        return None
    return doc, doc["data"]


def personal_values(value: bytes | None, specs: PersonalSpecs) -> set[str]:
    """The personal values one raw record carries (none if it is not such an event)."""
    found = _payload(value, specs)
    if found is None:
        return set()
    doc, data = found
    fields = specs[doc["type"]]
    return {v for k, v in data.items() if k in fields and isinstance(v, str) and v}


def erased_record(
    value: bytes | None, specs: PersonalSpecs, known: set[str], customer_id: str
) -> bytes | None:
    """The raw record with the customer's personal values replaced.

    The customer's own event of a type with personal fields gets each of them replaced by
    its stand-in, and stays valid. Another customer's such event is left as it is, even if a
    value is the same (two people may share a name). Any other record (malformed, of an
    unknown type) gets each known value replaced where it stands as a whole word: it was not
    valid before either.
    """
    if value is None:
        return None
    found = _payload(value, specs)
    if found is not None and isinstance(found[1].get(CUSTOMER_FIELD), str):
        doc, data = found
        if data[CUSTOMER_FIELD] != customer_id:
            return value
        fields = specs[doc["type"]]
        for name, spec in fields.items():
            if isinstance(data.get(name), str):
                data[name] = erased_value(spec)
        return orjson.dumps(doc)
    pattern = _whole_words(known)
    return pattern.sub(ERASED.encode(), value) if pattern is not None else value


def _whole_words(known: set[str]) -> re.Pattern[bytes] | None:
    """The known values, longest first, each only where no letter or digit touches it
    ("Customer 2" is not in "Customer 23")."""
    if not known:
        return None
    values = b"|".join(re.escape(v.encode()) for v in sorted(known, key=len, reverse=True))
    return re.compile(rb"(?<![\w])(?:" + values + rb")(?![\w])")


def scrub(text: str, known: set[str]) -> str:
    """`text` with every known personal value, as a whole word, replaced by the marker."""
    pattern = _whole_words(known)
    if pattern is None:
        return text
    return pattern.sub(ERASED.encode(), text.encode()).decode("utf-8", "replace")
