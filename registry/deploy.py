"""Contract deployment: register every contract, check changes, and show what changed.

Used by `rapport contracts register|check|diff` at deploy time and as a CI gate: an
incompatible change fails with the field and the rule it breaks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rapport.contracts.catalog import ContractCatalog, EventContract
from registry.client import RegistryClient, RegistryError
from registry.compatibility import CompatibilityLevel, check_compatibility


class IncompatibleContractError(RuntimeError):
    """A contract version breaks compatibility with what is registered (or its own history)."""


@dataclass(frozen=True)
class Registered:
    subject: str
    version: int
    schema_id: int


@dataclass(frozen=True)
class Finding:
    """One problem `check` found: which contract, and what breaks."""

    subject: str
    version: int
    problem: str


def register_all(client: RegistryClient, catalog: ContractCatalog) -> list[Registered]:
    """Register every version of every contract, oldest first; idempotent."""
    done = []
    for event_type in catalog.event_types():
        for contract in catalog.versions(event_type):
            try:
                schema_id = client.register(contract.subject, contract.schema)
            except RegistryError as exc:
                if exc.error_code == 409:
                    raise IncompatibleContractError(
                        f"{contract.path.name}: {contract.subject} v{contract.version} is "
                        f"incompatible with the registered versions: {exc.message}"
                    ) from exc
                raise
            done.append(Registered(contract.subject, contract.version, schema_id))
    return done


def check_local_history(catalog: ContractCatalog, level: CompatibilityLevel) -> list[Finding]:
    """Each local version against the ones before it, with no registry (a CI gate)."""
    findings = []
    for event_type in catalog.event_types():
        versions = catalog.versions(event_type)
        for i, contract in enumerate(versions[1:], start=1):
            previous = [c.schema for c in versions[:i]]
            for problem in check_compatibility(contract.schema, previous, level):
                findings.append(Finding(contract.subject, contract.version, str(problem)))
    return findings


def check_against_registry(client: RegistryClient, catalog: ContractCatalog) -> list[Finding]:
    """Every local version not yet registered, tested by the registry at its subject's level."""
    findings = []
    for contract in catalog:
        try:
            client.lookup(contract.subject, contract.schema)
            continue  # already registered: nothing to check
        except RegistryError as exc:
            if exc.error_code == 40401:
                continue  # a new subject: anything goes
            if exc.error_code != 40403:
                raise
        compatible, messages = client.check(contract.subject, contract.schema)
        if not compatible:
            findings += [Finding(contract.subject, contract.version, m) for m in messages]
    return findings


def _fields(schema: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten properties into 'path -> type (required)' for a readable diff."""
    out = {}
    required = set(schema.get("required", []))
    for name, prop in schema.get("properties", {}).items():
        path = f"{prefix}{name}"
        kind = prop.get("x-rapport-type") or prop.get("type", "any")
        if "enum" in prop:
            kind = f"{kind} enum{sorted(prop['enum'])}"
        out[path] = f"{kind}{' required' if name in required else ''}"
        nested = prop.get("items", {}) if prop.get("type") == "array" else prop
        if nested.get("type") == "object":
            out.update(_fields(nested, f"{path}{'[]' if prop.get('type') == 'array' else ''}."))
    return out


def field_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Lines like '+ coupon_code: string', '- x: integer', '~ total: number -> string'."""
    before, after = _fields(old), _fields(new)
    lines = [f"+ {p}: {after[p]}" for p in after if p not in before]
    lines += [f"- {p}: {before[p]}" for p in before if p not in after]
    lines += [
        f"~ {p}: {before[p]} -> {after[p]}" for p in after if p in before and before[p] != after[p]
    ]
    return lines


def diff_contract(
    contract: EventContract, registered: Mapping[str, Any] | None
) -> tuple[list[str], list[str]]:
    """(field changes, compatibility problems at BACKWARD) of a local contract vs the registry."""
    if registered is None:
        return ([f"+ {p}: {t}" for p, t in _fields(contract.schema).items()], [])
    problems = check_compatibility(contract.schema, [registered], CompatibilityLevel.BACKWARD)
    return field_diff(registered, contract.schema), [str(p) for p in problems]
