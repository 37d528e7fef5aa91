"""JSON Schema compatibility rules: can a reader schema read every document a writer produced?

Interface shared by the registry service and the contracts CLI. The rules themselves are
documented in docs/contracts-compatibility.md.

The checker is sound before it is complete: it answers "compatible" ([] from `can_read`) only
when it can prove that every document valid under the writer is valid under the reader. What
it cannot prove (a changed `oneOf`, a `$dynamicRef`, ...) is reported as `unsupported_change`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from jsonschema import (  # type: ignore[import-untyped, unused-ignore]
    Draft7Validator,
    Draft202012Validator,
)
from jsonschema.exceptions import (  # type: ignore[import-untyped, unused-ignore]
    SchemaError,
    ValidationError,
    best_match,
)
from jsonschema.validators import validator_for  # type: ignore[import-untyped, unused-ignore]
from referencing.exceptions import Unresolvable

from registry.drafts import KNOWN_DRAFTS, draft_of, to_2020_12
from registry.levels import CompatibilityLevel as CompatibilityLevel  # re-exported: the public name

Schema = Mapping[str, Any]


class InvalidSchemaError(ValueError):
    """The text is not JSON, or not a valid JSON Schema (draft 2020-12)."""


@dataclass(frozen=True)
class Incompatibility:
    """One broken rule: which rule, where (a JSON pointer into the schema), and in words."""

    rule: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.rule}: {self.message}"


# Rule names, as they appear in Incompatibility.rule and in docs/contracts-compatibility.md.
TYPE_NARROWED: Final = "type_narrowed"
REQUIRED_PROPERTY_ADDED: Final = "required_property_added"
PROPERTY_MADE_REQUIRED: Final = "property_made_required"
PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL: Final = "property_removed_from_closed_content_model"
PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL: Final = "property_added_to_open_content_model"
ADDITIONAL_PROPERTIES_NARROWED: Final = "additional_properties_narrowed"
ENUM_VALUE_REMOVED: Final = "enum_value_removed"
ENUM_ADDED: Final = "enum_added"
ARRAY_CONSTRAINT_NARROWED: Final = "array_constraint_narrowed"
STRING_CONSTRAINT_NARROWED: Final = "string_constraint_narrowed"
NUMERIC_CONSTRAINT_NARROWED: Final = "numeric_constraint_narrowed"
SCHEMA_MADE_FALSE: Final = "schema_made_false"
OBJECT_CONSTRAINT_NARROWED: Final = "object_constraint_narrowed"
DEPENDENCY_ADDED: Final = "dependency_added"
UNION_NARROWED: Final = "union_narrowed"
ONE_OF_AMBIGUOUS: Final = "one_of_ambiguous"
NOT_WIDENED: Final = "not_widened"
UNSUPPORTED_CHANGE: Final = "unsupported_change"

DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
#: Drafts a client may declare in `$schema` (without the trailing '#'); none means draft-07.
ACCEPTED_DIALECTS: Final = frozenset(KNOWN_DRAFTS)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Keywords whose value is one subschema, a map of subschemas, or a list of subschemas.
_SUBSCHEMA: Final = _words(
    """
    items additionalProperties not if then else contains propertyNames
    unevaluatedItems unevaluatedProperties
    """
)
_SUBSCHEMA_MAP: Final = frozenset({"properties", "patternProperties", "dependentSchemas"})
_SUBSCHEMA_LIST: Final = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
# Where subschemas live without applying to the instance: reached only through $ref.
_DEFINITIONS: Final = frozenset({"$defs", "definitions"})

# Everything that can make a document invalid. Any other keyword (title, description,
# examples, default, $comment, x-*, $id, $defs, unknown keywords) is an annotation here:
# validators ignore it, so it cannot affect compatibility. `format` is kept, conservatively,
# because consumers may validate it even though draft 2020-12 treats it as an annotation.
_ASSERTIONS: Final = (
    _SUBSCHEMA
    | _SUBSCHEMA_MAP
    | _SUBSCHEMA_LIST
    | _words(
        """
        $ref $dynamicRef $recursiveRef type enum const
        multipleOf maximum exclusiveMaximum minimum exclusiveMinimum
        maxLength minLength pattern format
        maxItems minItems uniqueItems maxContains minContains
        maxProperties minProperties required dependentRequired additionalItems
        """
    )
)
# Keywords whose value is a set, so order does not matter when comparing.
_SET_VALUED: Final = frozenset({"type", "enum", "required"})

# Keywords the structural rules reason about. Every other assertion in the reader must be
# unchanged from the writer, or it is reported as unsupported_change.
_MODELED: Final = _words(
    """
    type enum const allOf anyOf oneOf not
    minProperties maxProperties dependentRequired dependentSchemas
    minContains maxContains
    properties required additionalProperties patternProperties
    items prefixItems minItems maxItems uniqueItems
    minLength maxLength pattern format
    minimum maximum exclusiveMinimum exclusiveMaximum multipleOf
    """
)
# Unmodeled keywords that only mean something together, so they are compared together.
_GROUPS: Final[Mapping[str, tuple[str, ...]]] = {
    "if": ("if", "then", "else"),
    "then": ("if", "then", "else"),
    "else": ("if", "then", "else"),
}
# Unevaluated* depend on every sibling applicator: only an identical node is safe.
_CONTEXT_DEPENDENT: Final = frozenset({"unevaluatedProperties", "unevaluatedItems"})
# Unmodeled keywords that constrain only one JSON type: irrelevant if the writer never sends it.
_KEYWORD_FAMILY: Final[Mapping[str, str]] = {
    "minProperties": "object",
    "maxProperties": "object",
    "propertyNames": "object",
    "dependentRequired": "object",
    "dependentSchemas": "object",
    "unevaluatedProperties": "object",
    "contains": "array",
    "minContains": "array",
    "maxContains": "array",
    "unevaluatedItems": "array",
}

_ALL_TYPES: Final = ("array", "boolean", "null", "number", "object", "string")
_A_TYPE: Final[Mapping[str, str]] = {
    "array": "an array",
    "boolean": "a boolean",
    "integer": "an integer",
    "null": "null",
    "number": "a number",
    "object": "an object",
    "string": "a string",
}

# Which rule a reader's validation error on a writer's enum value belongs to.
_VALUE_RULES: Final[Mapping[str | None, str]] = {
    None: SCHEMA_MADE_FALSE,
    "type": TYPE_NARROWED,
    "enum": ENUM_VALUE_REMOVED,
    "const": ENUM_VALUE_REMOVED,
    "minLength": STRING_CONSTRAINT_NARROWED,
    "maxLength": STRING_CONSTRAINT_NARROWED,
    "pattern": STRING_CONSTRAINT_NARROWED,
    "format": STRING_CONSTRAINT_NARROWED,
    "minimum": NUMERIC_CONSTRAINT_NARROWED,
    "maximum": NUMERIC_CONSTRAINT_NARROWED,
    "exclusiveMinimum": NUMERIC_CONSTRAINT_NARROWED,
    "exclusiveMaximum": NUMERIC_CONSTRAINT_NARROWED,
    "multipleOf": NUMERIC_CONSTRAINT_NARROWED,
    "minItems": ARRAY_CONSTRAINT_NARROWED,
    "maxItems": ARRAY_CONSTRAINT_NARROWED,
    "uniqueItems": ARRAY_CONSTRAINT_NARROWED,
    "required": REQUIRED_PROPERTY_ADDED,
    "additionalProperties": PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL,
}


def validate_schema(schema: Any) -> None:
    """Raise InvalidSchemaError unless `schema` is a valid draft 2020-12 JSON Schema object."""
    if not isinstance(schema, Mapping):
        raise InvalidSchemaError(f"a schema must be a JSON object, not {_json_type(schema)}")
    try:
        json.dumps(schema, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise InvalidSchemaError(f"the schema is not JSON: {error}") from error
    dialect = schema.get("$schema")
    if dialect is not None and dialect.rstrip("#") not in ACCEPTED_DIALECTS:
        raise InvalidSchemaError(
            f"$schema {dialect!r} is not a JSON Schema draft this registry knows; use one of "
            + ", ".join(sorted(ACCEPTED_DIALECTS))
        )
    # The schema is checked against its own draft (draft-07 without $schema, as Confluent
    # reads it) and compared in draft 2020-12 (registry.drafts translates it).
    validator = validator_for(schema, default=Draft7Validator)
    try:
        validator.check_schema(schema)
    except SchemaError as error:
        raise InvalidSchemaError(
            f"not a valid JSON Schema ({draft_of(schema)}"
            f"{'' if dialect else ', the draft of a schema without $schema'}) at "
            f"{_pointer('#', error.path)}: {error.message}"
        ) from error
    translated = to_2020_12(schema)
    if not _has_embedded_id(translated):
        for path, node in _subschemas(translated, "#"):
            ref = node.get("$ref") if isinstance(node, Mapping) else None
            if isinstance(ref, str) and ref.startswith("#/") and _resolve(translated, ref) is None:
                raise InvalidSchemaError(f"$ref {ref!r} at {path} points at nothing in the schema")


def can_read(reader: Schema, writer: Schema) -> list[Incompatibility]:
    """Every reason a document valid under `writer` may be invalid under `reader`; [] = can read."""
    context = _Context.of(to_2020_12(reader), to_2020_12(writer))
    if context.roots_identical:
        return []
    return list(
        dict.fromkeys(_check(context.reader_root, context.writer_root, _Where("#", ""), context))
    )


def check_compatibility(
    new: Schema, previous: Sequence[Schema], level: CompatibilityLevel
) -> list[Incompatibility]:
    """Check `new` against `previous` (oldest first) at `level`; [] means compatible.

    BACKWARD: new reads the latest previous; FORWARD: the latest previous reads new;
    FULL: both. *_TRANSITIVE: against every previous version, not only the latest.
    """
    validate_schema(new)
    level = CompatibilityLevel(level)
    if level is CompatibilityLevel.NONE or not previous:
        return []
    transitive = level.value.endswith("_TRANSITIVE")
    # Newest first: the findings against the latest version are the most relevant ones.
    versions = list(reversed(previous)) if transitive else [previous[-1]]
    backward = level.value.startswith(("BACKWARD", "FULL"))
    forward = level.value.startswith(("FORWARD", "FULL"))
    findings: list[Incompatibility] = []
    for old in versions:
        if backward:
            findings += can_read(new, old)
        if forward:
            findings += can_read(old, new)
    return list(dict.fromkeys(findings))


# --- where we are: a pointer into the reader, and the document's field for messages ------


@dataclass(frozen=True)
class _Where:
    """A JSON pointer into the reader schema and the document field it constrains."""

    path: str
    field: str

    def at(self, *tokens: str | int) -> _Where:
        return _Where(_pointer(self.path, tokens), self.field)

    def prop(self, name: str) -> _Where:
        label = f"{self.field}.{name}" if self.field else name
        return _Where(_pointer(self.path, ("properties", name)), label)

    def item(self, keyword: str, index: int | None = None) -> _Where:
        tokens: tuple[str | int, ...] = (keyword,) if index is None else (keyword, index)
        suffix = "[]" if index is None else f"[{index}]"
        return _Where(_pointer(self.path, tokens), f"{self.field}{suffix}")

    def extra(self) -> _Where:
        """Fields no schema declares, constrained by additionalProperties."""
        label = f"{self.field}.*" if self.field else "*"
        return _Where(_pointer(self.path, ("additionalProperties",)), label)

    @property
    def name(self) -> str:
        return f"field '{self.field}'" if self.field else "the document"


def _pointer(base: str, tokens: Iterator[Any] | Sequence[Any]) -> str:
    escaped = (str(token).replace("~", "~0").replace("/", "~1") for token in tokens)
    return "/".join([base, *escaped])


# --- both schemas, and what can be resolved in them ---------------------------------------


@dataclass
class _Context:
    """Both roots, their validators, and the pairs being compared (to stop at recursion)."""

    reader_root: Any
    writer_root: Any
    reader_refs: bool
    writer_refs: bool
    same_base: bool
    roots_identical: bool
    active: set[tuple[int, int]] = field(default_factory=set)
    _reader_validator: Any = None
    _writer_validator: Any = None

    @classmethod
    def of(cls, reader: Any, writer: Any) -> _Context:
        return cls(
            reader_root=reader,
            writer_root=writer,
            reader_refs=not _has_embedded_id(reader),
            writer_refs=not _has_embedded_id(writer),
            same_base=_root_id(reader) == _root_id(writer),
            roots_identical=_json_equal(reader, writer),
        )

    def reader_target(self, node: Any) -> Any:
        return _ref_target(node, self.reader_root, self.reader_refs)

    def writer_target(self, node: Any) -> Any:
        return _ref_target(node, self.writer_root, self.writer_refs)

    def swapped(self) -> _Context:
        """The same pair the other way round (the writer's schema reads the reader's)."""
        return _Context(
            reader_root=self.writer_root,
            writer_root=self.reader_root,
            reader_refs=self.writer_refs,
            writer_refs=self.reader_refs,
            same_base=self.same_base,
            roots_identical=self.roots_identical,
        )

    def reader_validator(self, node: Any) -> Any:
        """The reader at `node`, strict: formats are asserted, as a careful consumer would."""
        if self._reader_validator is None:
            self._reader_validator = Draft202012Validator(
                self.reader_root, format_checker=Draft202012Validator.FORMAT_CHECKER
            )
        return self._reader_validator.evolve(schema=node)

    def writer_validator(self, node: Any) -> Any:
        """The writer at `node`, lenient: formats are not asserted, so it keeps more values."""
        if self._writer_validator is None:
            self._writer_validator = Draft202012Validator(self.writer_root)
        return self._writer_validator.evolve(schema=node)


def _root_id(root: Any) -> Any:
    return root.get("$id") if isinstance(root, Mapping) else None


def _subschemas(node: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Every subschema with its pointer, including $defs, starting with `node` itself."""
    yield path, node
    if not isinstance(node, Mapping):
        return
    for keyword, value in node.items():
        if keyword in _SUBSCHEMA:
            yield from _subschemas(value, _pointer(path, (keyword,)))
        elif (keyword in _SUBSCHEMA_MAP or keyword in _DEFINITIONS) and isinstance(value, Mapping):
            for name, sub in value.items():
                yield from _subschemas(sub, _pointer(path, (keyword, name)))
        elif keyword in _SUBSCHEMA_LIST and isinstance(value, list):
            for index, sub in enumerate(value):
                yield from _subschemas(sub, _pointer(path, (keyword, index)))


def _has_embedded_id(root: Any) -> bool:
    """An $id below the root starts a new resource, so '#/...' no longer means the root."""
    return any(
        isinstance(node, Mapping) and "$id" in node
        for path, node in _subschemas(root, "#")
        if path != "#"
    )


def _resolve(root: Any, ref: str) -> Any:
    """The subschema a '#' or '#/json/pointer' reference points at, or None."""
    fragment = unquote(ref[1:])
    node = root
    if fragment:
        if not fragment.startswith("/"):
            return None  # a plain-name anchor: not resolved here
        for raw in fragment[1:].split("/"):
            token = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(node, Mapping) and token in node:
                node = node[token]
            elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                node = node[int(token)]
            else:
                return None
    return node if isinstance(node, Mapping | bool) else None


def _ref_target(node: Any, root: Any, local_refs: bool) -> Any:
    """What a local $ref in `node` points at; None if there is none or it is not local."""
    if not local_refs or not isinstance(node, Mapping):
        return None
    ref = node.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#"):
        return None
    return _resolve(root, ref)


# --- semantic equality: identical subtrees are always compatible ---------------------------


def _same(reader: Any, writer: Any, context: _Context, seen: set[tuple[int, int]]) -> bool:
    """Equal as assertions: annotations ignored, local $refs compared by what they point at."""
    if reader is False or writer is False:
        return reader is False and writer is False
    reader = {} if reader is True else reader
    writer = {} if writer is True else writer
    if not isinstance(reader, Mapping) or not isinstance(writer, Mapping):
        return False
    keywords = reader.keys() & _ASSERTIONS
    if keywords != writer.keys() & _ASSERTIONS:
        return False
    return all(
        _same_keyword(keyword, reader[keyword], writer[keyword], context, seen)
        for keyword in keywords
    )


def _same_keyword(
    keyword: str, reader: Any, writer: Any, context: _Context, seen: set[tuple[int, int]]
) -> bool:
    if keyword == "$ref":
        return _same_ref(reader, writer, context, seen)
    if keyword in ("$dynamicRef", "$recursiveRef"):
        return False  # resolved at run time through the dynamic scope: not comparable here
    if keyword in _SUBSCHEMA:
        return _same(reader, writer, context, seen)
    if keyword in _SUBSCHEMA_MAP:
        return (
            isinstance(reader, Mapping)
            and isinstance(writer, Mapping)
            and reader.keys() == writer.keys()
            and all(_same(reader[name], writer[name], context, seen) for name in reader)
        )
    if keyword in _SUBSCHEMA_LIST:
        return (
            isinstance(reader, list)
            and isinstance(writer, list)
            and len(reader) == len(writer)
            and all(_same(r, w, context, seen) for r, w in zip(reader, writer, strict=True))
        )
    if keyword in _SET_VALUED:
        readers, writers = _as_list(reader), _as_list(writer)
        return all(_json_in(value, writers) for value in readers) and all(
            _json_in(value, readers) for value in writers
        )
    return _json_equal(reader, writer)


def _same_ref(reader: Any, writer: Any, context: _Context, seen: set[tuple[int, int]]) -> bool:
    reader_target = context.reader_target({"$ref": reader})
    writer_target = context.writer_target({"$ref": writer})
    if reader_target is not None and writer_target is not None:
        pair = (id(reader_target), id(writer_target))
        if pair in seen:
            return True
        seen.add(pair)
        return _same(reader_target, writer_target, context, seen)
    if reader_target is not None or writer_target is not None or reader != writer:
        return False
    if isinstance(reader, str) and urlsplit(reader).scheme:
        return True  # an absolute URI names the same document from either schema
    # A relative reference resolves against each schema's own $id.
    return isinstance(reader, str) and not reader.startswith("#") and context.same_base


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _json_equal(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but true != 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_json_equal(a[key], b[key]) for key in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and bool(a == b)


def _json_in(value: Any, values: Sequence[Any]) -> bool:
    return any(_json_equal(value, candidate) for candidate in values)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


def _has_assertions(node: Any) -> bool:
    return node is False or (isinstance(node, Mapping) and bool(node.keys() & _ASSERTIONS))


def _without(node: Mapping[str, Any], keyword: str) -> dict[str, Any]:
    return {key: value for key, value in node.items() if key != keyword}


# --- the rules --------------------------------------------------------------------------


def _check(reader: Any, writer: Any, where: _Where, context: _Context) -> list[Incompatibility]:
    """Findings for one reader node against one writer node."""
    if writer is False or not _has_assertions(reader):
        return []
    if reader is False:
        return [
            Incompatibility(
                SCHEMA_MADE_FALSE,
                where.path,
                f"the reader's schema for {where.name} is false (it accepts nothing), "
                "but the writer may send a value there",
            )
        ]
    pair = (id(reader), id(writer))
    if pair in context.active:
        # Recursion through $ref: assume the pair compatible while proving it (coinduction;
        # sound because documents are finite).
        return []
    context.active.add(pair)
    try:
        return _check_node(reader, {} if writer is True else writer, where, context)
    finally:
        context.active.discard(pair)


def _check_node(
    reader: Mapping[str, Any], writer: Mapping[str, Any], where: _Where, context: _Context
) -> list[Incompatibility]:
    if _same(reader, writer, context, set()):
        return []
    reader, writer = _plain_unevaluated(reader), _plain_unevaluated(writer)

    # A $ref is a conjunction: the node holds its target AND its other keywords.
    writer_target = context.writer_target(writer)
    if writer_target is not None:
        writer_rest = _without(writer, "$ref")
        if not _has_assertions(writer_rest):
            return _check(reader, writer_target, where, context)
        if "$ref" not in reader:
            # The writer is narrower than either half: either half that the reader can read
            # is enough.
            via_rest = _check(reader, writer_rest, where, context)
            if via_rest and not _check(reader, writer_target, where, context):
                return []
            return via_rest

    findings: list[Incompatibility] = []
    reader_target = context.reader_target(reader)
    if reader_target is not None:
        ref = reader["$ref"]
        target_where = _Where(ref if ref.startswith("#/") else "#", where.field)
        against = writer_target if writer_target is not None else writer
        findings += _check(reader_target, against, target_where, context)
        reader = _without(reader, "$ref")
        if writer_target is not None:
            writer = _without(writer, "$ref")
        if not _has_assertions(reader):
            return findings

    # The writer's allOf: its documents hold every member, so the members merge into one
    # schema (where two members constrain the same keyword differently, one is dropped:
    # a wider writer can only make the verdict stricter).
    if isinstance(writer.get("allOf"), list) and not isinstance(reader.get("allOf"), list):
        flat = _conjoin_all(writer, context)
        if flat is False:
            return findings  # the writer's members contradict each other: it sends nothing
        writer = flat
    # A union in the writer (anyOf, oneOf): every branch, with the rest of the writer's
    # node, must be readable on its own.
    union = next((k for k in ("anyOf", "oneOf") if isinstance(writer.get(k), list)), None)
    if union is not None:
        rest = _without(writer, union)
        for branch in writer[union]:
            merged = _conjoin(rest, _deref(branch, context.writer_target))
            if merged is not False:
                findings += _check(reader, merged, where, context)
        return findings

    # allOf in the reader: every member must read the writer (or be in the writer's allOf).
    if isinstance(reader.get("allOf"), list):
        writer_members = writer.get("allOf", [])
        for index, member in enumerate(reader["allOf"]):
            if not any(_same(member, theirs, context, set()) for theirs in writer_members):
                findings += _check(member, writer, where.at("allOf", index), context)
        reader = _without(reader, "allOf")
        if isinstance(writer.get("allOf"), list):
            flat = _conjoin_all(writer, context)
            if flat is False:
                return findings
            writer = flat

    # A writer limited to a few values (enum, const, null, boolean): test each value.
    values = _writer_values(writer, context)
    if values is not None:
        try:
            return findings + _check_values(reader, values, where, context)
        except (Unresolvable, RecursionError):
            pass  # the reader refers to something we cannot load: reason structurally

    # A union or negation in the reader: the writer's documents must fit one branch.
    for keyword in ("anyOf", "oneOf"):
        if isinstance(reader.get(keyword), list):
            findings += _check_union(keyword, reader[keyword], writer, where, context)
            reader = _without(reader, keyword)
    if "not" in reader:
        findings += _check_not(reader["not"], writer, where, context)
        reader = _without(reader, "not")

    reader_types, writer_types = _types(reader), _types(writer)
    writer_sends = _ALL_TYPES if writer_types is None else tuple(sorted(writer_types))
    narrowed = [t for t in writer_sends if not _accepts_type(reader_types, t)]
    if narrowed and reader_types is not None:
        findings.append(
            Incompatibility(
                TYPE_NARROWED,
                where.at("type").path,
                f"the writer may send {_or([_A_TYPE[t] for t in narrowed])} as {where.name}, "
                f"but the reader accepts only {_or(sorted(reader_types))}",
            )
        )
    families = {_family(t) for t in writer_sends if _accepts_type(reader_types, t)}

    for keyword in ("enum", "const"):
        if keyword in reader:
            findings.append(
                Incompatibility(
                    ENUM_ADDED,
                    where.at(keyword).path,
                    f"the reader restricts {where.name} to fixed values ({keyword}), "
                    "the writer does not",
                )
            )
    if "string" in families:
        findings += _check_string(reader, writer, where)
    if "number" in families:
        integers_only = writer_types is not None and "number" not in writer_types
        findings += _check_number(reader, writer, where, integers_only)
    if "array" in families:
        findings += _check_array(reader, writer, where, context)
    if "object" in families:
        findings += _check_object(reader, writer, where, context)
    findings += _check_unmodeled(reader, writer, where, context, families)
    return findings


# --- combined schemas: compared by the documents they accept ------------------------------


def _check_union(
    keyword: str,
    branches: Sequence[Any],
    writer: Mapping[str, Any],
    where: _Where,
    context: _Context,
) -> list[Incompatibility]:
    """anyOf: one branch reads every writer document. oneOf: that, and no other branch
    accepts any of them (else a document matches two branches, and oneOf rejects it)."""
    attempts = []
    for index, branch in enumerate(branches):
        found = _check(branch, writer, where.at(keyword, index), context)
        if found:
            attempts.append(found)
            continue
        if keyword == "anyOf":
            return []
        overlapping = [
            other
            for other, candidate in enumerate(branches)
            if other != index and not _disjoint(candidate, writer, context)
        ]
        if not overlapping:
            return []
        return [
            Incompatibility(
                ONE_OF_AMBIGUOUS,
                where.at(keyword).path,
                f"the writer's values for {where.name} fit the reader's oneOf branch {index}, "
                f"but may fit branch {_or([str(o) for o in overlapping])} too, and oneOf "
                "rejects a document that fits two branches",
            )
        ]
    best = min(attempts, key=len) if attempts else []
    return [
        Incompatibility(
            UNION_NARROWED,
            where.at(keyword).path,
            f"the writer's values for {where.name} fit none of the reader's {keyword} "
            f"branches alone; the closest: {best[0].message if best else 'none'}",
        )
    ]


def _check_not(
    negated: Any, writer: Mapping[str, Any], where: _Where, context: _Context
) -> list[Incompatibility]:
    """The reader rejects what `negated` accepts: safe when the writer never sends that."""
    if _disjoint(negated, writer, context):
        return []
    theirs = writer.get("not")
    if theirs is not None and not _check(theirs, negated, where.at("not"), context.swapped()):
        return []  # the writer excludes at least what the reader excludes
    return [
        Incompatibility(
            NOT_WIDENED,
            where.at("not").path,
            f"the reader's 'not' for {where.name} may reject a value the writer sends "
            "(the writer does not exclude everything the reader excludes)",
        )
    ]


def _disjoint(schema: Any, writer: Mapping[str, Any], context: _Context) -> bool:
    """True when provably no document of `writer` is valid under `schema`."""
    if schema is False:
        return True
    if not isinstance(schema, Mapping):
        return False
    target = context.reader_target(schema)
    if target is not None and not _has_assertions(_without(schema, "$ref")):
        return _disjoint(target, writer, context)
    values = _writer_values(writer, context)
    if values is not None:
        try:
            validator = context.reader_validator(schema)
            return not any(validator.is_valid(value) for value in values)
        except (Unresolvable, RecursionError):
            return False
    theirs, ours = _types(writer), _types(schema)
    if theirs is None or ours is None:
        return False
    # A "number" writer sends integers too, which an "integer" schema accepts.
    return not any(_family(t) == _family(u) or t == u for t in theirs for u in ours)


def _deref(node: Any, target: Any) -> Any:
    """`node` with a local $ref replaced by (merged with) what it points at."""
    if not isinstance(node, Mapping) or "$ref" not in node:
        return node
    pointed = target(node)
    if pointed is None:
        return node
    return _conjoin(_without(node, "$ref"), pointed)


def _conjoin_all(writer: Mapping[str, Any], context: _Context, depth: int = 0) -> Any:
    """A writer node with its allOf members merged in (a schema at least as wide)."""
    merged: Any = _without(writer, "allOf")
    for member in writer["allOf"]:
        merged = _conjoin(merged, _deref(member, context.writer_target))
        if merged is False:
            return False
    if isinstance(merged, Mapping) and isinstance(merged.get("allOf"), list) and depth < 8:
        return _conjoin_all(merged, context, depth + 1)
    return _without(merged, "allOf") if isinstance(merged, Mapping) else merged


def _conjoin(a: Any, b: Any) -> Any:
    """A schema that accepts every document valid under both `a` and `b` (perhaps more).

    For the writer only: where the two constrain one keyword in ways not merged here, `b`'s
    is dropped, which widens the writer and so can only make the verdict stricter.
    """
    if a is False or b is False:
        return False
    if a is True or not isinstance(a, Mapping):
        return b if isinstance(b, Mapping) or b is False else {}
    if b is True or not isinstance(b, Mapping):
        return dict(a)
    out = dict(a)
    for key, value in b.items():
        if key not in out:
            out[key] = value
        elif key == "type":
            both = [t for t in _as_list(out[key]) if _accepts_type(frozenset(_as_list(value)), t)]
            both += [
                t
                for t in _as_list(value)
                if t == "integer" and "number" in _as_list(out[key]) and t not in both
            ]
            if not both:
                return False  # no JSON value has both types
            out[key] = both
        elif key == "required":
            out[key] = list(dict.fromkeys([*out[key], *value]))
        elif key == "properties" and isinstance(value, Mapping):
            properties = dict(out[key])
            for name, schema in value.items():
                properties[name] = (
                    _conjoin(properties[name], schema) if name in properties else schema
                )
            out[key] = properties
        elif key == "allOf" and isinstance(value, list):
            out[key] = [*out[key], *value]
    return out


# Keywords that evaluate a node's properties or items in place (their annotations count for
# unevaluated*); `not` is not one of them: its annotations are dropped.
_IN_PLACE: Final = _words("allOf anyOf oneOf if then else $ref $dynamicRef $recursiveRef")
_IN_PLACE_OBJECT: Final = _IN_PLACE | {"dependentSchemas"}


def _plain_unevaluated(node: Mapping[str, Any]) -> Mapping[str, Any]:
    """unevaluatedProperties/Items as additionalProperties/items where they mean the same.

    With no in-place applicator beside them, the only evaluated properties are those of
    properties, patternProperties and additionalProperties (the only evaluated items those
    of prefixItems, items and contains), so the two keywords accept the same documents.
    """
    if "unevaluatedProperties" not in node and "unevaluatedItems" not in node:
        return node
    out = dict(node)
    if "unevaluatedProperties" in out and not out.keys() & _IN_PLACE_OBJECT:
        out.setdefault("additionalProperties", out.pop("unevaluatedProperties"))
    if "unevaluatedItems" in out and not out.keys() & _IN_PLACE and "contains" not in out:
        out.setdefault("items", out.pop("unevaluatedItems"))
    return out


def _types(node: Mapping[str, Any]) -> frozenset[str] | None:
    declared = node.get("type")
    if declared is None:
        return None
    return frozenset(_as_list(declared))


def _accepts_type(reader_types: frozenset[str] | None, json_type: str) -> bool:
    if reader_types is None or json_type in reader_types:
        return True
    return json_type == "integer" and "number" in reader_types  # integer -> number widens


def _family(json_type: str) -> str:
    return "number" if json_type == "integer" else json_type


def _or(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def _up_to(limit: Any) -> str:
    return "any number" if limit is None else f"up to {limit}"


def _show(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _writer_values(writer: Mapping[str, Any], context: _Context) -> list[Any] | None:
    """Every value the writer can send at this node, if that is a short list."""
    if "const" in writer:
        candidates = [writer["const"]]
    elif isinstance(writer.get("enum"), list):
        candidates = list(writer["enum"])
    else:
        types = _types(writer)
        if types is None or not types <= {"null", "boolean"}:
            return None
        candidates = ([None] if "null" in types else []) + (
            [False, True] if "boolean" in types else []
        )
    try:
        validator = context.writer_validator(writer)
        return [value for value in candidates if validator.is_valid(value)]
    except (Unresolvable, RecursionError):
        return candidates  # keeping values the writer might reject is the safe side


def _check_values(
    reader: Mapping[str, Any], values: Sequence[Any], where: _Where, context: _Context
) -> list[Incompatibility]:
    validator = context.reader_validator(reader)
    findings = []
    for value in values:
        error: ValidationError | None = best_match(validator.iter_errors(value))
        if error is None:
            continue
        keyword = error.validator if isinstance(error.validator, str) else None
        tokens = list(error.relative_schema_path)
        if "$ref" in tokens:
            tokens = tokens[: tokens.index("$ref") + 1]
        findings.append(
            Incompatibility(
                _VALUE_RULES.get(keyword, ENUM_VALUE_REMOVED),
                _pointer(where.path, tokens),
                f"the writer may send {_show(value)} as {where.name}, "
                f"which the reader rejects: {error.message}",
            )
        )
    return findings


def _narrowed(rule: str, where: _Where, keyword: str, message: str) -> Incompatibility:
    return Incompatibility(rule, where.at(keyword).path, f"{where.name}: {message}")


def _check_string(
    reader: Mapping[str, Any], writer: Mapping[str, Any], where: _Where
) -> list[Incompatibility]:
    findings = []
    if "maxLength" in reader and writer.get("maxLength", math.inf) > reader["maxLength"]:
        findings.append(
            _narrowed(
                STRING_CONSTRAINT_NARROWED,
                where,
                "maxLength",
                f"the reader allows at most {reader['maxLength']} characters, the writer "
                f"{_up_to(writer.get('maxLength'))}",
            )
        )
    if reader.get("minLength", 0) > writer.get("minLength", 0):
        findings.append(
            _narrowed(
                STRING_CONSTRAINT_NARROWED,
                where,
                "minLength",
                f"the reader needs at least {reader['minLength']} characters, the writer "
                f"{writer.get('minLength', 0)}",
            )
        )
    for keyword in ("pattern", "format"):
        if keyword in reader and writer.get(keyword) != reader[keyword]:
            before = f"{writer[keyword]!r}" if keyword in writer else "none"
            findings.append(
                _narrowed(
                    STRING_CONSTRAINT_NARROWED,
                    where,
                    keyword,
                    f"the reader requires {keyword} {reader[keyword]!r}, the writer has {before}",
                )
            )
    return findings


Bound = tuple[float, bool]  # (value, exclusive)


def _writer_bound(
    writer: Mapping[str, Any], inclusive: str, exclusive: str, integers_only: bool, lower: bool
) -> Bound | None:
    """The writer's tightest bound on one side, as (value, exclusive)."""
    bounds: list[Bound] = []
    if inclusive in writer:
        bounds.append((writer[inclusive], False))
    if exclusive in writer:
        bounds.append((writer[exclusive], True))
    if integers_only:
        # Integers above 2.5 are at least 3; integers above 2 are at least 3 too.
        step = math.ceil if lower else math.floor
        sign = 1 if lower else -1
        bounds = [
            (value + sign if is_exclusive and float(value).is_integer() else step(value), False)
            for value, is_exclusive in bounds
        ]
    if not bounds:
        return None
    # Tighter: a larger lower bound (smaller upper bound); at equal values, the exclusive one.
    if lower:
        return max(bounds, key=lambda bound: (bound[0], bound[1]))
    return min(bounds, key=lambda bound: (bound[0], not bound[1]))


def _bound_holds(
    writer: Bound | None, reader_value: float, reader_exclusive: bool, lower: bool
) -> bool:
    """Does every number within the writer's bound satisfy the reader's?"""
    if writer is None:
        return False
    value, exclusive = writer
    if value != reader_value:
        return value > reader_value if lower else value < reader_value
    return exclusive or not reader_exclusive


def _divides(divisor: float, value: float) -> bool:
    """Is every multiple of `value` a multiple of `divisor`, also in floating point?"""
    if divisor == value:
        return True
    if float(divisor).is_integer() and float(value).is_integer():
        return int(value) % int(divisor) == 0
    return False  # fractional steps round differently in validators: stay on the safe side


def _check_number(
    reader: Mapping[str, Any], writer: Mapping[str, Any], where: _Where, integers_only: bool
) -> list[Incompatibility]:
    findings = []
    sides = (
        (True, "minimum", "exclusiveMinimum", "at least", "above"),
        (False, "maximum", "exclusiveMaximum", "at most", "below"),
    )
    for lower, inclusive, exclusive, inclusive_words, exclusive_words in sides:
        bound = _writer_bound(writer, inclusive, exclusive, integers_only, lower)
        for keyword, is_exclusive, words in (
            (inclusive, False, inclusive_words),
            (exclusive, True, exclusive_words),
        ):
            if keyword in reader and not _bound_holds(bound, reader[keyword], is_exclusive, lower):
                if bound is None:
                    theirs = "has no such bound"
                else:
                    bound_words = exclusive_words if bound[1] else inclusive_words
                    theirs = f"allows {bound_words} {bound[0]}"
                findings.append(
                    _narrowed(
                        NUMERIC_CONSTRAINT_NARROWED,
                        where,
                        keyword,
                        f"the reader needs a number {words} {reader[keyword]}, the writer {theirs}",
                    )
                )
    if "multipleOf" in reader:
        step = reader["multipleOf"]
        writer_step = writer.get("multipleOf")
        safe = (writer_step is not None and _divides(step, writer_step)) or (
            integers_only and _divides(step, 1)
        )
        if not safe:
            findings.append(
                _narrowed(
                    NUMERIC_CONSTRAINT_NARROWED,
                    where,
                    "multipleOf",
                    f"the reader needs a multiple of {step}, the writer's multipleOf is "
                    f"{writer_step if writer_step is not None else 'none'}",
                )
            )
    return findings


def _check_array(
    reader: Mapping[str, Any], writer: Mapping[str, Any], where: _Where, context: _Context
) -> list[Incompatibility]:
    findings = []
    if (
        "contains" in reader
        and _same_keyword(
            "contains", reader["contains"], writer.get("contains", True), context, set()
        )
        and "contains" in writer
    ):
        # The same `contains`: how many items must match may only loosen.
        findings += _check_counts(
            {"minContains": 1, **reader}, {"minContains": 1, **writer}, where,
            "minContains", "maxContains", "matching items", ARRAY_CONSTRAINT_NARROWED,
        )  # fmt: skip
    findings += _check_counts(
        reader, writer, where, "minItems", "maxItems", "items", ARRAY_CONSTRAINT_NARROWED
    )
    if reader.get("uniqueItems") is True and writer.get("uniqueItems") is not True:
        findings.append(
            _narrowed(
                ARRAY_CONSTRAINT_NARROWED,
                where,
                "uniqueItems",
                "the reader requires unique items, the writer does not",
            )
        )
    # Position by position: prefixItems first, then items for the rest of the array.
    reader_prefix = reader.get("prefixItems", [])
    writer_prefix = writer.get("prefixItems", [])
    longest = writer.get("maxItems", math.inf)  # positions the writer never fills don't matter
    reader_items, writer_items = reader.get("items", True), writer.get("items", True)
    for index in range(max(len(reader_prefix), len(writer_prefix))):
        if index >= longest:
            break
        theirs = writer_prefix[index] if index < len(writer_prefix) else writer_items
        if index < len(reader_prefix):
            findings += _check(
                reader_prefix[index], theirs, where.item("prefixItems", index), context
            )
        else:
            findings += _check(reader_items, theirs, where.item("items"), context)
    if max(len(reader_prefix), len(writer_prefix)) < longest:
        findings += _check(reader_items, writer_items, where.item("items"), context)
    return findings


def _check_counts(
    reader: Mapping[str, Any],
    writer: Mapping[str, Any],
    where: _Where,
    low: str,
    high: str,
    what: str,
    rule: str,
) -> list[Incompatibility]:
    """A lower bound may only fall and an upper bound only rise (or go)."""
    findings = []
    if reader.get(low, 0) > writer.get(low, 0):
        findings.append(
            _narrowed(
                rule, where, low,
                f"the reader needs at least {reader[low]} {what}, the writer "
                f"{writer.get(low, 0)}",
            )
        )  # fmt: skip
    if high in reader and writer.get(high, math.inf) > reader[high]:
        findings.append(
            _narrowed(
                rule, where, high,
                f"the reader allows at most {reader[high]} {what}, the writer "
                f"{_up_to(writer.get(high))}",
            )
        )  # fmt: skip
    return findings


def _never_sends(writer: Mapping[str, Any], name: str) -> bool:
    """The writer's documents cannot carry the field `name`."""
    declared = writer.get("properties", {})
    if name in declared:
        return declared[name] is False
    return _writer_value(writer, name) is None


def _check_dependencies(
    reader: Mapping[str, Any], writer: Mapping[str, Any], where: _Where, context: _Context
) -> list[Incompatibility]:
    """dependentRequired / dependentSchemas (draft-07 `dependencies`): the reader's may only
    ask what the writer's already guarantee whenever the field is present."""
    findings = []
    writer_required = set(writer.get("required", []))
    theirs_required = writer.get("dependentRequired", {})
    for name, needed in reader.get("dependentRequired", {}).items():
        guaranteed = writer_required | set(theirs_required.get(name, []))
        missing = [n for n in needed if n not in guaranteed]
        if missing and not _never_sends(writer, name):
            findings.append(
                Incompatibility(
                    DEPENDENCY_ADDED,
                    where.at("dependentRequired", name).path,
                    f"when {where.prop(name).name} is present the reader requires "
                    f"{_or(missing)}, which the writer's documents may lack",
                )
            )
    theirs_schemas = writer.get("dependentSchemas", {})
    for name, schema in reader.get("dependentSchemas", {}).items():
        if _never_sends(writer, name) or not _has_assertions(schema):
            continue
        here = where.at("dependentSchemas", name)
        plain = _without(writer, "dependentSchemas")
        if name in theirs_schemas:
            merged = _conjoin(plain, theirs_schemas[name])
            if merged is False or not _check(schema, merged, here, context):
                continue
        if not _check(schema, plain, here, context):
            continue
        findings.append(
            Incompatibility(
                DEPENDENCY_ADDED,
                here.path,
                f"when {where.prop(name).name} is present the reader's documents must also "
                "match a schema (dependentSchemas) that the writer's may not",
            )
        )
    return findings


def _matches(patterns: Mapping[str, Any], name: str) -> list[str]:
    return [pattern for pattern in patterns if re.search(pattern, name)]


def _writer_value(writer: Mapping[str, Any], name: str) -> Any:
    """The writer's schema for values of an undeclared field `name`; None if never sent."""
    matching = _matches(writer.get("patternProperties", {}), name)
    if matching:
        return writer["patternProperties"][matching[0]] if len(matching) == 1 else True
    extra = writer.get("additionalProperties", True)
    return None if extra is False else extra


def _check_object(
    reader: Mapping[str, Any], writer: Mapping[str, Any], where: _Where, context: _Context
) -> list[Incompatibility]:
    findings = _check_counts(
        reader, writer, where, "minProperties", "maxProperties", "properties",
        OBJECT_CONSTRAINT_NARROWED,
    )  # fmt: skip
    findings += _check_dependencies(reader, writer, where, context)
    reader_props: Mapping[str, Any] = reader.get("properties", {})
    writer_props: Mapping[str, Any] = writer.get("properties", {})
    writer_required = set(writer.get("required", []))
    for name in reader.get("required", []):
        if name in writer_required:
            continue
        if writer_props.get(name, False) is not False:
            findings.append(
                Incompatibility(
                    PROPERTY_MADE_REQUIRED,
                    where.prop(name).path,
                    f"the reader requires {where.prop(name).name}, which is optional in the writer",
                )
            )
        else:
            findings.append(
                Incompatibility(
                    REQUIRED_PROPERTY_ADDED,
                    where.prop(name).path,
                    f"the reader requires {where.prop(name).name}, which the writer does "
                    "not declare, so the writer's documents may lack it",
                )
            )

    reader_patterns: Mapping[str, Any] = reader.get("patternProperties", {})
    writer_patterns: Mapping[str, Any] = writer.get("patternProperties", {})
    # With the same patternProperties, a field's value meets the same pattern schemas on
    # both sides; with different ones, they are compared where they may apply.
    patterns_differ = not _same_keyword(
        "patternProperties", reader_patterns, writer_patterns, context, set()
    )
    if patterns_differ:
        findings += _check_patterns(reader, writer, where, context)

    for name, schema in reader_props.items():
        here = where.prop(name)
        if name in writer_props:
            findings += _check(schema, writer_props[name], here, context)
            continue
        theirs = _writer_value(writer, name)
        if theirs is not None and _check(schema, theirs, here, context):
            how = "any value it allows" if _has_assertions(theirs) else "any value"
            findings.append(
                Incompatibility(
                    PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL,
                    here.path,
                    f"the reader declares {here.name}, which the writer does not declare; the "
                    f"writer's open content model lets its documents carry it with {how}",
                )
            )
    reader_extra = reader.get("additionalProperties", True)
    if not _has_assertions(reader_extra):
        return findings
    # Fields the writer declares that the reader leaves to additionalProperties.
    for name, schema in writer_props.items():
        if name in reader_props or _matches(reader_patterns, name) or schema is False:
            continue
        if reader_extra is False:
            findings.append(
                Incompatibility(
                    PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL,
                    where.prop(name).path,
                    f"the writer may send {where.prop(name).name}, which the reader's closed "
                    "content model (additionalProperties: false) does not allow",
                )
            )
        else:
            named = _Where(where.extra().path, where.prop(name).field)
            findings += _check(reader_extra, schema, named, context)
    # Fields neither declares (with different patterns: _check_patterns).
    writer_extra = writer.get("additionalProperties", True)
    if writer_extra is not False and not patterns_differ:
        if reader_extra is False:
            findings.append(
                Incompatibility(
                    ADDITIONAL_PROPERTIES_NARROWED,
                    where.extra().path,
                    f"the writer's content model for {where.name} is open but the reader's is "
                    "closed (additionalProperties: false), so fields the writer adds are "
                    "rejected",
                )
            )
        else:
            findings += _check(reader_extra, writer_extra, where.extra(), context)
    return findings


def _check_patterns(
    reader: Mapping[str, Any], writer: Mapping[str, Any], where: _Where, context: _Context
) -> list[Incompatibility]:
    """Different patternProperties: each reader pattern schema must read whatever the
    writer may send under a name it matches; a regex's names are not worked out, so for
    names neither side declares every pair of schemas that may meet is compared."""
    findings = []
    reader_patterns: Mapping[str, Any] = reader.get("patternProperties", {})
    writer_patterns: Mapping[str, Any] = writer.get("patternProperties", {})
    writer_props: Mapping[str, Any] = writer.get("properties", {})
    named = {**{n: _writer_value(writer, n) for n in reader.get("properties", {})}, **writer_props}
    for name, theirs in named.items():
        if theirs is None or theirs is False:
            continue
        for pattern in _matches(reader_patterns, name):
            here = _Where(where.at("patternProperties", pattern).path, where.prop(name).field)
            findings += _check(reader_patterns[pattern], theirs, here, context)
    # Names neither declares: sent under the writer's patterns or its additionalProperties.
    sources = list(writer_patterns.items())
    writer_extra = writer.get("additionalProperties", True)
    if writer_extra is not False:
        sources.append(("additionalProperties", writer_extra))
    reader_extra = reader.get("additionalProperties", True)
    for source, theirs in sources:
        for pattern, ours in reader_patterns.items():
            here = _Where(where.at("patternProperties", pattern).path, f"{where.field}.*")
            findings += _check(ours, theirs, here, context)
        if source in reader_patterns:
            continue  # a name the writer's pattern matches meets the same pattern here
        if reader_extra is False:
            findings.append(
                Incompatibility(
                    ADDITIONAL_PROPERTIES_NARROWED,
                    where.extra().path,
                    f"the writer may send fields of {where.name} under {_source(source)} that "
                    "the reader's closed content model does not allow",
                )
            )
        else:
            findings += _check(reader_extra, theirs, where.extra(), context)
    return findings


def _source(keyword: str) -> str:
    return "its open content model" if keyword == "additionalProperties" else repr(keyword)


def _check_unmodeled(
    reader: Mapping[str, Any],
    writer: Mapping[str, Any],
    where: _Where,
    context: _Context,
    families: set[str],
) -> list[Incompatibility]:
    """Assertions the rules don't model are safe only when the writer has the same ones."""
    findings = []
    done: set[str] = set()
    for keyword in reader:
        if keyword not in _ASSERTIONS or keyword in _MODELED or keyword in done:
            continue
        family = _KEYWORD_FAMILY.get(keyword)
        if family is not None and family not in families:
            continue
        group = _GROUPS.get(keyword, (keyword,))
        done.update(group)
        same = keyword not in _CONTEXT_DEPENDENT and all(
            (member in reader) == (member in writer)
            and (
                member not in reader
                or _same_keyword(member, reader[member], writer[member], context, set())
            )
            for member in group
        )
        if not same:
            findings.append(
                Incompatibility(
                    UNSUPPORTED_CHANGE,
                    where.at(keyword).path,
                    f"the reader's {keyword!r} for {where.name} differs from the writer's; "
                    "this checker cannot prove the change safe",
                )
            )
    return findings
