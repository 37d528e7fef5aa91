"""JSON Schema compatibility rules: can a reader schema read every document a writer produced?

Interface shared by the registry service and the contracts CLI. The rules themselves are
documented in docs/contracts-compatibility.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

Schema = Mapping[str, Any]


class CompatibilityLevel(StrEnum):
    """Confluent's compatibility levels."""

    NONE = "NONE"
    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"


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


def validate_schema(schema: Any) -> None:
    """Raise InvalidSchemaError unless `schema` is a valid draft 2020-12 JSON Schema object."""
    raise NotImplementedError


def can_read(reader: Schema, writer: Schema) -> list[Incompatibility]:
    """Every reason a document valid under `writer` may be invalid under `reader` ([] = can read)."""
    raise NotImplementedError


def check_compatibility(
    new: Schema, previous: Sequence[Schema], level: CompatibilityLevel
) -> list[Incompatibility]:
    """Check `new` against `previous` (oldest first) at `level`; [] means compatible.

    BACKWARD: new reads the latest previous; FORWARD: the latest previous reads new;
    FULL: both. *_TRANSITIVE: against every previous version, not only the latest.
    """
    raise NotImplementedError
