"""One case per change kind of Confluent's JSON Schema compatibility rules, with its verdict.

Written from Confluent's published list of JSON Schema change kinds and the set it counts as
backward compatible (docs.confluent.io, "Schema Evolution and Compatibility", JSON Schema).
Each case is (kind, original, update, compatible): BACKWARD, the update must read every
document of the original. Where Rapport deliberately answers otherwise, the case says so and
docs/contracts-compatibility.md explains why; nowhere does Rapport call compatible what
Confluent calls incompatible.
"""

from __future__ import annotations

from typing import Any

import pytest

from registry.compatibility import CompatibilityLevel, check_compatibility

pytestmark = pytest.mark.unit

BACKWARD = CompatibilityLevel.BACKWARD

D7 = "http://json-schema.org/draft-07/schema#"
D2020 = "https://json-schema.org/draft/2020-12/schema"
STR: Any = {"type": "string"}
INT: Any = {"type": "integer"}
NUM: Any = {"type": "number"}


def o(extra: Any = None, **properties: Any) -> Any:
    """An object with `properties`; `extra` is its additionalProperties (absent: open)."""
    schema: Any = {"type": "object", "properties": properties}
    if extra is not None:
        schema["additionalProperties"] = extra
    return schema


def req(schema: Any, *names: str) -> Any:
    return {**schema, "required": list(names)}


def a(*keywords: Any, **more: Any) -> Any:
    """An array (2020-12) with the given keywords."""
    return {"$schema": D2020, "type": "array", **more}


def t(items: list[Any], extra: Any = None) -> Any:
    """A draft-07 tuple: array-form items, and additionalItems if given."""
    schema: Any = {"$schema": D7, "type": "array", "items": items}
    if extra is not None:
        schema["additionalItems"] = extra
    return schema


def ev(extra: Any = None, **properties: Any) -> Any:
    """A 2020-12 object closed (or partly open) by unevaluatedProperties."""
    schema: Any = {"$schema": D2020, "type": "object", "properties": properties}
    if extra is not None:
        schema["unevaluatedProperties"] = extra
    return schema


def eva(prefix: list[Any], extra: Any) -> Any:
    return {"$schema": D2020, "type": "array", "prefixItems": prefix, "unevaluatedItems": extra}


def s(**kw: Any) -> Any:
    return {"type": "string", **kw}


def n(**kw: Any) -> Any:
    return {"type": "number", **kw}


def dep(value: Any) -> Any:
    return {"$schema": D7, "type": "object", "dependencies": value}


CASES: list[tuple[str, Any, Any, bool]] = [
    ("ID_CHANGED", {"$id": "urn:a", **STR}, {"$id": "urn:b", **STR}, True),
    ("DESCRIPTION_CHANGED", s(description="a"), s(description="b"), True),
    ("TITLE_CHANGED", s(title="a"), s(title="b"), True),
    ("DEFAULT_CHANGED", s(default="a"), s(default="b"), True),
    ("SCHEMA_ADDED", {"type": "array"}, {"type": "array", "items": STR}, False),
    ("SCHEMA_REMOVED", {"type": "array", "items": STR}, {"type": "array"}, True),
    ("TYPE_EXTENDED", STR, {"type": ["string", "null"]}, True),
    ("TYPE_NARROWED", {"type": ["string", "null"]}, STR, False),
    ("TYPE_CHANGED", STR, INT, False),
    ("MAX_LENGTH_ADDED", STR, s(maxLength=5), False),
    ("MAX_LENGTH_REMOVED", s(maxLength=5), STR, True),
    ("MAX_LENGTH_INCREASED", s(maxLength=5), s(maxLength=8), True),
    ("MAX_LENGTH_DECREASED", s(maxLength=8), s(maxLength=5), False),
    ("MIN_LENGTH_ADDED", STR, s(minLength=2), False),
    ("MIN_LENGTH_REMOVED", s(minLength=2), STR, True),
    ("MIN_LENGTH_INCREASED", s(minLength=2), s(minLength=3), False),
    ("MIN_LENGTH_DECREASED", s(minLength=3), s(minLength=2), True),
    ("PATTERN_ADDED", STR, s(pattern="^a"), False),
    ("PATTERN_REMOVED", s(pattern="^a"), STR, True),
    ("PATTERN_CHANGED", s(pattern="^a"), s(pattern="^b"), False),
    ("MAXIMUM_ADDED", NUM, n(maximum=10), False),
    ("MAXIMUM_REMOVED", n(maximum=10), NUM, True),
    ("MAXIMUM_INCREASED", n(maximum=10), n(maximum=20), True),
    ("MAXIMUM_DECREASED", n(maximum=20), n(maximum=10), False),
    ("MINIMUM_ADDED", NUM, n(minimum=0), False),
    ("MINIMUM_REMOVED", n(minimum=0), NUM, True),
    ("MINIMUM_INCREASED", n(minimum=0), n(minimum=1), False),
    ("MINIMUM_DECREASED", n(minimum=1), n(minimum=0), True),
    ("EXCLUSIVE_MAXIMUM_ADDED", NUM, n(exclusiveMaximum=10), False),
    ("EXCLUSIVE_MAXIMUM_REMOVED", n(exclusiveMaximum=10), NUM, True),
    ("EXCLUSIVE_MAXIMUM_INCREASED", n(exclusiveMaximum=10), n(exclusiveMaximum=20), True),
    ("EXCLUSIVE_MAXIMUM_DECREASED", n(exclusiveMaximum=20), n(exclusiveMaximum=10), False),
    ("EXCLUSIVE_MINIMUM_ADDED", NUM, n(exclusiveMinimum=0), False),
    ("EXCLUSIVE_MINIMUM_REMOVED", n(exclusiveMinimum=0), NUM, True),
    ("EXCLUSIVE_MINIMUM_INCREASED", n(exclusiveMinimum=0), n(exclusiveMinimum=1), False),
    ("EXCLUSIVE_MINIMUM_DECREASED", n(exclusiveMinimum=1), n(exclusiveMinimum=0), True),
    ("MULTIPLE_OF_ADDED", NUM, n(multipleOf=2), False),
    ("MULTIPLE_OF_REMOVED", n(multipleOf=2), NUM, True),
    ("MULTIPLE_OF_EXPANDED", n(multipleOf=2), n(multipleOf=4), False),
    ("MULTIPLE_OF_REDUCED", n(multipleOf=4), n(multipleOf=2), True),
    ("MULTIPLE_OF_CHANGED", n(multipleOf=2), n(multipleOf=3), False),
    ("REQUIRED_ATTRIBUTE_ADDED", req(o(a=STR, b=STR), "a"), req(o(a=STR, b=STR), "a", "b"), False),
    # Confluent: compatible (a default fills the field in). Rapport: incompatible, since
    # validation does not apply defaults and every earlier document without `b` fails.
    (
        "REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED",
        req(o(a=STR, b=s(default="x")), "a"),
        req(o(a=STR, b=s(default="x")), "a", "b"),
        False,
    ),
    ("REQUIRED_ATTRIBUTE_REMOVED", req(o(a=STR, b=STR), "a", "b"), req(o(a=STR, b=STR), "a"), True),
    ("MAX_PROPERTIES_ADDED", o(), {**o(), "maxProperties": 2}, False),
    ("MAX_PROPERTIES_REMOVED", {**o(), "maxProperties": 2}, o(), True),
    ("MAX_PROPERTIES_INCREASED", {**o(), "maxProperties": 1}, {**o(), "maxProperties": 2}, True),
    ("MAX_PROPERTIES_DECREASED", {**o(), "maxProperties": 2}, {**o(), "maxProperties": 1}, False),
    ("MIN_PROPERTIES_ADDED", o(), {**o(), "minProperties": 1}, False),
    ("MIN_PROPERTIES_REMOVED", {**o(), "minProperties": 1}, o(), True),
    ("MIN_PROPERTIES_INCREASED", {**o(), "minProperties": 1}, {**o(), "minProperties": 2}, False),
    ("MIN_PROPERTIES_DECREASED", {**o(), "minProperties": 2}, {**o(), "minProperties": 1}, True),
    ("ADDITIONAL_PROPERTIES_ADDED", o(False, a=STR), o(True, a=STR), True),
    ("ADDITIONAL_PROPERTIES_REMOVED", o(True, a=STR), o(False, a=STR), False),
    ("ADDITIONAL_PROPERTIES_EXTENDED", o(STR, a=STR), o({"type": ["string", "null"]}, a=STR), True),
    (
        "ADDITIONAL_PROPERTIES_NARROWED",
        o({"type": ["string", "null"]}, a=STR),
        o(STR, a=STR),
        False,
    ),
    ("DEPENDENCY_ARRAY_ADDED", dep({}), dep({"a": ["b"]}), False),
    ("DEPENDENCY_ARRAY_REMOVED", dep({"a": ["b"]}), dep({}), True),
    ("DEPENDENCY_ARRAY_EXTENDED", dep({"a": ["b"]}), dep({"a": ["b", "c"]}), False),
    ("DEPENDENCY_ARRAY_NARROWED", dep({"a": ["b", "c"]}), dep({"a": ["b"]}), True),
    ("DEPENDENCY_ARRAY_CHANGED", dep({"a": ["b"]}), dep({"a": ["c"]}), False),
    ("DEPENDENCY_SCHEMA_ADDED", dep({}), dep({"a": req(o(), "b")}), False),
    ("DEPENDENCY_SCHEMA_REMOVED", dep({"a": req(o(), "b")}), dep({}), True),
    ("PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", o(a=STR), o(a=STR, b=STR), False),
    ("REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", o(a=STR), req(o(a=STR, b=STR), "b"), False),
    (
        "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL",
        o(a=STR),
        req(o(a=STR, b=s(default="x")), "b"),
        False,
    ),
    ("OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", o(a=STR), o(a=STR, b=STR), False),
    ("PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL", o(a=STR), o(a=STR, b={}), True),
    (
        "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL",
        o(False, a=STR),
        req(o(False, a=STR, b=STR), "b"),
        False,
    ),
    # Confluent: compatible (the default). Rapport: incompatible, as above: no earlier
    # document has `b`, and the update requires it.
    (
        "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL",
        o(False, a=STR),
        req(o(False, a=STR, b=s(default="x")), "b"),
        False,
    ),
    (
        "OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL",
        o(False, a=STR),
        o(False, a=STR, b=STR),
        True,
    ),
    ("PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL", o(a=STR, b=STR), o(a=STR), True),
    (
        "PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL",
        o(False, a=STR, b=False),
        o(False, a=STR),
        True,
    ),
    ("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", o(False, a=STR, b=STR), o(False, a=STR), False),
    (
        "PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
        o(STR, a=STR, b=STR),
        o(STR, a=STR),
        True,
    ),
    (
        "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
        o(STR, a=STR, b=INT),
        o(STR, a=STR),
        False,
    ),
    (
        "PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
        o(STR, a=STR),
        o(STR, a=STR, b=STR),
        True,
    ),
    (
        "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
        o(STR, a=STR),
        o(STR, a=STR, b=INT),
        False,
    ),
    ("UNEVALUATED_PROPERTIES_ADDED", ev(False, a=STR), ev(True, a=STR), True),
    ("UNEVALUATED_PROPERTIES_REMOVED", ev(True, a=STR), ev(False, a=STR), False),
    (
        "UNEVALUATED_PROPERTIES_EXTENDED",
        ev(STR, a=STR),
        ev({"type": ["string", "null"]}, a=STR),
        True,
    ),
    (
        "UNEVALUATED_PROPERTIES_NARROWED",
        ev({"type": ["string", "null"]}, a=STR),
        ev(STR, a=STR),
        False,
    ),
    ("MAX_ITEMS_ADDED", a(), a(maxItems=2), False),
    ("MAX_ITEMS_REMOVED", a(maxItems=2), a(), True),
    ("MAX_ITEMS_INCREASED", a(maxItems=2), a(maxItems=3), True),
    ("MAX_ITEMS_DECREASED", a(maxItems=3), a(maxItems=2), False),
    ("MIN_ITEMS_ADDED", a(), a(minItems=1), False),
    ("MIN_ITEMS_REMOVED", a(minItems=1), a(), True),
    ("MIN_ITEMS_INCREASED", a(minItems=1), a(minItems=2), False),
    ("MIN_ITEMS_DECREASED", a(minItems=2), a(minItems=1), True),
    ("MAX_CONTAINS_ADDED", a(contains=NUM), a(contains=NUM, maxContains=2), False),
    ("MAX_CONTAINS_REMOVED", a(contains=NUM, maxContains=2), a(contains=NUM), True),
    (
        "MAX_CONTAINS_INCREASED",
        a(contains=NUM, maxContains=2),
        a(contains=NUM, maxContains=3),
        True,
    ),
    (
        "MAX_CONTAINS_DECREASED",
        a(contains=NUM, maxContains=3),
        a(contains=NUM, maxContains=2),
        False,
    ),
    ("MIN_CONTAINS_ADDED", a(contains=NUM), a(contains=NUM, minContains=2), False),
    ("MIN_CONTAINS_REMOVED", a(contains=NUM, minContains=2), a(contains=NUM), True),
    (
        "MIN_CONTAINS_INCREASED",
        a(contains=NUM, minContains=1),
        a(contains=NUM, minContains=2),
        False,
    ),
    (
        "MIN_CONTAINS_DECREASED",
        a(contains=NUM, minContains=2),
        a(contains=NUM, minContains=1),
        True,
    ),
    ("UNIQUE_ITEMS_ADDED", a(), a(uniqueItems=True), False),
    ("UNIQUE_ITEMS_REMOVED", a(uniqueItems=True), a(), True),
    ("ADDITIONAL_ITEMS_ADDED", t([STR], False), t([STR], True), True),
    ("ADDITIONAL_ITEMS_REMOVED", t([STR], True), t([STR], False), False),
    ("ADDITIONAL_ITEMS_EXTENDED", t([STR], STR), t([STR], {"type": ["string", "null"]}), True),
    ("ADDITIONAL_ITEMS_NARROWED", t([STR], {"type": ["string", "null"]}), t([STR], STR), False),
    ("UNEVALUATED_ITEMS_ADDED", eva([STR], False), eva([STR], True), True),
    ("UNEVALUATED_ITEMS_REMOVED", eva([STR], True), eva([STR], False), False),
    ("UNEVALUATED_ITEMS_EXTENDED", eva([STR], STR), eva([STR], {"type": ["string", "null"]}), True),
    (
        "UNEVALUATED_ITEMS_NARROWED",
        eva([STR], {"type": ["string", "null"]}),
        eva([STR], STR),
        False,
    ),
    ("ITEM_ADDED_TO_OPEN_CONTENT_MODEL", t([STR]), t([STR, NUM]), False),
    ("ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL", t([STR]), t([STR, {}]), True),
    ("ITEM_ADDED_TO_CLOSED_CONTENT_MODEL", t([STR], False), t([STR, NUM], False), True),
    ("ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL", t([STR, NUM]), t([STR]), True),
    (
        "ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL",
        t([STR, False], False),
        t([STR], False),
        True,
    ),
    ("ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL", t([STR, NUM], False), t([STR], False), False),
    (
        "ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
        t([STR, NUM], NUM),
        t([STR], NUM),
        True,
    ),
    (
        "ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
        t([STR, NUM], STR),
        t([STR], STR),
        False,
    ),
    (
        "ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
        t([STR], NUM),
        t([STR, NUM], NUM),
        True,
    ),
    (
        "ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
        t([STR], NUM),
        t([STR, STR], NUM),
        False,
    ),
    ("ENUM_ARRAY_EXTENDED", {"enum": ["a"]}, {"enum": ["a", "b"]}, True),
    ("ENUM_ARRAY_NARROWED", {"enum": ["a", "b"]}, {"enum": ["a"]}, False),
    ("ENUM_ARRAY_CHANGED", {"enum": ["a"]}, {"enum": ["b"]}, False),
    ("COMBINED_TYPE_EXTENDED", {"oneOf": [STR, INT]}, {"anyOf": [STR, INT]}, True),
    (
        "COMBINED_TYPE_CHANGED",
        {"anyOf": [STR, s(maxLength=5)]},
        {"oneOf": [STR, s(maxLength=5)]},
        False,
    ),  # "ab" matches both branches: oneOf rejects it
    ("PRODUCT_TYPE_EXTENDED", {"allOf": [STR]}, {"allOf": [STR, s(maxLength=5)]}, False),
    ("PRODUCT_TYPE_NARROWED", {"allOf": [STR, s(maxLength=5)]}, {"allOf": [STR]}, True),
    ("SUM_TYPE_EXTENDED", {"oneOf": [STR]}, {"oneOf": [STR, INT]}, True),
    ("SUM_TYPE_NARROWED", {"oneOf": [STR, INT]}, {"oneOf": [STR]}, False),
    ("COMBINED_TYPE_SUBSCHEMAS_CHANGED", {"oneOf": [STR]}, {"oneOf": [INT]}, False),
    ("NOT_TYPE_EXTENDED", {"not": STR}, {"not": {"type": ["string", "integer"]}}, False),
    ("NOT_TYPE_NARROWED", {"not": {"type": ["string", "integer"]}}, {"not": STR}, True),
]


@pytest.mark.parametrize(
    ("original", "update", "compatible"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_change_kind(original: Any, update: Any, compatible: bool) -> None:
    findings = check_compatibility(update, [original], CompatibilityLevel.BACKWARD)
    assert (not findings) is compatible, findings
    # FORWARD is BACKWARD the other way round; a compatible change of one kind never breaks
    # identical documents: the original reads itself at every level.
    assert check_compatibility(original, [original], CompatibilityLevel.FULL_TRANSITIVE) == []


def test_the_draft_is_read_from_dollar_schema_and_is_draft_07_without_it() -> None:
    tuple_07 = {"type": "array", "items": [STR]}  # draft-07: a tuple; 2020-12 refuses it
    assert check_compatibility({**tuple_07, "items": [INT]}, [tuple_07], BACKWARD)
    # prefixItems means nothing in draft-07, so changing it changes nothing.
    loose = {"type": "array", "prefixItems": [STR]}
    assert check_compatibility({**loose, "prefixItems": [INT]}, [loose], BACKWARD) == []
    strict = {"$schema": D2020, **loose}
    assert check_compatibility({**strict, "prefixItems": [INT]}, [strict], BACKWARD)
    # draft-04: exclusiveMaximum is a flag on maximum.
    d4 = {"$schema": "http://json-schema.org/draft-04/schema#", "type": "number", "maximum": 10}
    assert check_compatibility({**d4, "exclusiveMaximum": True}, [d4], BACKWARD)
    assert check_compatibility(d4, [{**d4, "exclusiveMaximum": True}], BACKWARD) == []
