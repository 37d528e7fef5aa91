"""JSON Schema drafts: which one a schema is written in, and the same schema in draft 2020-12.

A schema is read in the draft its `$schema` names; without `$schema` it is draft-07, as
Confluent Schema Registry and its serializers read it. The compatibility rules compare
schemas in one vocabulary, draft 2020-12, so an older schema is translated first, keyword by
keyword, into the 2020-12 schema that accepts exactly the same documents:

- draft-04 `exclusiveMinimum: true` (a flag on `minimum`) becomes `exclusiveMinimum: <value>`,
  and `id` becomes `$id`;
- drafts 04-07: a `$ref` hides its siblings, so they are dropped;
- drafts 04-2019-09: array-form `items` becomes `prefixItems`, and `additionalItems` the
  `items` that follows it; beside no array-form `items` it validates nothing, but it is kept
  as it is, so that changing it is refused as Confluent refuses it;
- drafts 04-07: `dependencies` splits into `dependentRequired` (arrays) and
  `dependentSchemas` (schemas).

Keywords a draft does not define are annotations in that draft (a draft-07 `prefixItems`
constrains nothing), so they are renamed out of the way (`x-annotation:prefixItems`), where no
rule mistakes them for assertions. `$ref` pointers into renamed places follow them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

DRAFT4: Final = "http://json-schema.org/draft-04/schema"
DRAFT6: Final = "http://json-schema.org/draft-06/schema"
DRAFT7: Final = "http://json-schema.org/draft-07/schema"
DRAFT2019: Final = "https://json-schema.org/draft/2019-09/schema"
DRAFT2020: Final = "https://json-schema.org/draft/2020-12/schema"

#: The draft of a schema without `$schema` (Confluent's reading).
DEFAULT_DRAFT: Final = DRAFT7
KNOWN_DRAFTS: Final = (DRAFT4, DRAFT6, DRAFT7, DRAFT2019, DRAFT2020)
#: The prefix of a keyword that is only an annotation in the schema's own draft.
ANNOTATION: Final = "x-annotation:"


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_COMMON: Final = _words(
    """
    $ref type enum allOf anyOf oneOf not items properties patternProperties
    additionalProperties required minProperties maxProperties minItems maxItems uniqueItems
    minLength maxLength pattern format minimum maximum exclusiveMinimum exclusiveMaximum
    multipleOf definitions title description default
    """
)
#: The keywords that validate (or locate subschemas), per draft; anything else is an annotation.
_VOCABULARY: Final[Mapping[str, frozenset[str]]] = {
    DRAFT4: _COMMON | {"id", "dependencies", "additionalItems"},
    DRAFT6: _COMMON
    | {"$id", "dependencies", "additionalItems", "const", "contains", "propertyNames", "examples"},
    DRAFT7: _COMMON
    | {"$id", "dependencies", "additionalItems", "const", "contains", "propertyNames"}
    | {"if", "then", "else", "examples", "$comment", "readOnly", "writeOnly"},
}
_VOCABULARY_2019: Final = (
    _VOCABULARY[DRAFT7] - {"dependencies"}
    | {"$defs", "$anchor", "$recursiveRef", "$recursiveAnchor", "$vocabulary", "$schema"}
    | {"dependentRequired", "dependentSchemas", "minContains", "maxContains"}
    | {"unevaluatedItems", "unevaluatedProperties", "deprecated"}
    | {"contentEncoding", "contentMediaType", "contentSchema"}
)

# Where subschemas sit, per keyword shape (the union over drafts, before translation).
_ONE: Final = _words(
    """
    additionalProperties additionalItems not if then else contains propertyNames
    unevaluatedItems unevaluatedProperties contentSchema
    """
)
_MAP: Final = frozenset({"properties", "patternProperties", "dependentSchemas", "$defs"})
#: Where schemas wait to be referenced: kept in every draft, since any `$ref` may point there.
_CONTAINERS: Final = frozenset({"definitions", "$defs"})
_LIST: Final = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})


def draft_of(schema: Any) -> str:
    """The draft `schema` is written in: its `$schema` (without '#'), else draft-07."""
    declared = schema.get("$schema") if isinstance(schema, Mapping) else None
    if isinstance(declared, str):
        return declared.rstrip("#")
    return DEFAULT_DRAFT


def to_2020_12(schema: Any) -> Any:
    """`schema` translated into draft 2020-12 (the same documents valid); 2020-12 as is."""
    draft = draft_of(schema)
    if draft == DRAFT2020 or not isinstance(schema, Mapping):
        return schema
    moved: dict[str, str] = {}
    translated = _node(schema, draft, "#", "#", moved)
    if moved:
        translated = _follow_refs(translated, moved)
    if isinstance(translated, dict):
        translated["$schema"] = DRAFT2020
    return translated


def _node(node: Any, draft: str, old: str, new: str, moved: dict[str, str]) -> Any:
    if not isinstance(node, Mapping):
        return node
    if old != new:
        moved[old] = new
    vocabulary = _VOCABULARY.get(draft, _VOCABULARY_2019) | _CONTAINERS
    if draft in _VOCABULARY and "$ref" in node:
        # Drafts 04-07: "All other properties in a "$ref" object MUST be ignored" (as
        # assertions: definitions beside it stay reachable by pointer).
        vocabulary = _CONTAINERS | {"$ref"}
    out: dict[str, Any] = {}

    def sub(keyword: str, value: Any, new_keyword: str, *tokens: str) -> Any:
        path_old = "/".join([old, keyword, *tokens])
        path_new = "/".join([new, new_keyword, *tokens])
        return _node(value, draft, path_old, path_new, moved)

    for keyword, value in node.items():
        if keyword not in vocabulary and keyword != "$schema":
            # An annotation in this draft: kept for people, out of the rules' way.
            out[ANNOTATION + keyword] = value
            moved["/".join([old, _escape(keyword)])] = "/".join(
                [new, _escape(ANNOTATION + keyword)]
            )
            continue
        if keyword == "id" and draft == DRAFT4:
            out["$id"] = value
        elif keyword == "items" and isinstance(value, list):
            out["prefixItems"] = [
                sub("items", item, "prefixItems", str(i)) for i, item in enumerate(value)
            ]
            if "additionalItems" in node:
                out["items"] = sub("additionalItems", node["additionalItems"], "items")
        elif keyword == "additionalItems":
            if not isinstance(node.get("items"), list):
                # Without array-form items it constrains nothing, yet Confluent (and a
                # consumer on an older validator) may read it: kept, so that a change to it
                # is refused rather than waved through (registry.compatibility, unmodeled).
                out[keyword] = value
        elif keyword == "items":
            out["items"] = sub("items", value, "items")
        elif keyword == "dependencies" and isinstance(value, Mapping):
            for name, dependency in value.items():
                if isinstance(dependency, list):
                    out.setdefault("dependentRequired", {})[name] = list(dependency)
                else:
                    out.setdefault("dependentSchemas", {})[name] = sub(
                        "dependencies", dependency, "dependentSchemas", _escape(name)
                    )
        elif draft == DRAFT4 and keyword in ("exclusiveMinimum", "exclusiveMaximum"):
            continue  # a flag on minimum/maximum, below
        elif draft == DRAFT4 and keyword in ("minimum", "maximum"):
            flag = "exclusiveMinimum" if keyword == "minimum" else "exclusiveMaximum"
            out[flag if node.get(flag) is True else keyword] = value
        elif keyword in _ONE:
            out[keyword] = sub(keyword, value, keyword)
        elif keyword in _MAP or keyword == "definitions":
            out[keyword] = (
                {n: sub(keyword, s, keyword, _escape(n)) for n, s in value.items()}
                if isinstance(value, Mapping)
                else value
            )
        elif keyword in _LIST:
            out[keyword] = (
                [sub(keyword, s, keyword, str(i)) for i, s in enumerate(value)]
                if isinstance(value, list)
                else value
            )
        else:
            out[keyword] = value
    return out


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _follow_refs(node: Any, moved: Mapping[str, str]) -> Any:
    """Point local `$ref`s at where their targets moved (longest moved prefix wins)."""
    if isinstance(node, list):
        return [_follow_refs(item, moved) for item in node]
    if not isinstance(node, Mapping):
        return node
    out = {key: _follow_refs(value, moved) for key, value in node.items()}
    ref = out.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        for old in sorted(moved, key=len, reverse=True):
            if ref == old or ref.startswith(old + "/"):
                out["$ref"] = moved[old] + ref[len(old) :]
                break
    return out
