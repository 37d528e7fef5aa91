"""Generates docs/events.md, the event catalogue, from the contract files.

`python -m rapport.contracts.docs` rewrites it; `--check` fails when it is stale (a test runs that).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rapport.contracts.catalog import ContractCatalog, default_catalog
from rapport.contracts.envelope import REQUIRED_ATTRIBUTES

EVENTS_MD = Path(__file__).resolve().parents[2] / "docs" / "events.md"


def _type_of(spec: Mapping[str, Any]) -> str:
    if spec.get("x-rapport-type"):
        return f"{spec['x-rapport-type']} (string)"
    kind = spec.get("type", "any")
    if kind == "array":
        return f"array of {_type_of(spec.get('items', {}))}"
    if kind == "string" and spec.get("format"):
        return f"string ({spec['format']})"
    return str(kind)


def _constraints(spec: Mapping[str, Any]) -> str:
    parts = []
    if "enum" in spec:
        parts.append("one of " + ", ".join(f"`{v}`" for v in spec["enum"]))
    for key in ("minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems"):
        if key in spec:
            parts.append(f"{key} {spec[key]}")
    if "pattern" in spec:
        parts.append(f"pattern `{spec['pattern']}`")
    return "; ".join(parts)


def _rows(spec: Mapping[str, Any], prefix: str = "") -> list[str]:
    required = set(spec.get("required", []))
    rows = []
    for name, prop in spec.get("properties", {}).items():
        field = f"{prefix}{name}"
        pii = "yes" if prop.get("x-pii") else ""
        rows.append(
            f"| `{field}` | {_type_of(prop)} | {'yes' if name in required else ''} | {pii} "
            f"| {prop.get('description', '')} {_constraints(prop)} |".replace("  ", " ")
        )
        nested = prop.get("items", {}) if prop.get("type") == "array" else prop
        if nested.get("type") == "object":
            rows += _rows(nested, f"{field}{'[]' if prop.get('type') == 'array' else ''}.")
    return rows


def render(catalog: ContractCatalog) -> str:
    """The whole catalogue as Markdown (deterministic: same contracts, same bytes)."""
    out = [
        "# Event catalogue",
        "",
        "Generated from `rapport/contracts/schemas/` by `python -m rapport.contracts.docs`; "
        "do not edit by hand.",
        "A test fails when this file and the contracts disagree.",
        "",
        "Every event is a CloudEvents 1.0 JSON document with the attributes "
        + ", ".join(f"`{a}`" for a in REQUIRED_ATTRIBUTES)
        + " (plus `datacontenttype` and the extension `schemaid`, the registry id of the "
        "payload schema). `type` is the registry subject, `subject` the entity id that keys the "
        "Kafka record, `dataschema` the exact contract version. Money is a decimal string with "
        "two decimals, times are UTC ISO-8601, and fields marked PII hold personal data.",
        "",
        "| event type | domain | versions | key | PII fields |",
        "|---|---|---|---|---|",
    ]
    for event_type in catalog.event_types():
        versions = catalog.versions(event_type)
        latest = versions[-1]
        out.append(
            f"| [{event_type}](#{event_type.lower()}) | {latest.domain} "
            f"| {', '.join(f'v{c.version}' for c in versions)} | `{latest.key_field}` "
            f"| {', '.join(latest.pii_fields()) or '-'} |"
        )
    for domain in catalog.domains():
        out += ["", f"## {domain}"]
        for event_type in catalog.event_types():
            versions = catalog.versions(event_type)
            if versions[0].domain != domain:
                continue
            for contract in reversed(versions):
                out += [
                    "",
                    f"### {event_type}"
                    if contract is versions[-1]
                    else f"#### {event_type} v{contract.version}",
                    "",
                    contract.description,
                    "",
                    f"Subject `{contract.subject}`, version {contract.version}, "
                    f"`dataschema` `{contract.schema_uri}`, key `{contract.key_field}`, "
                    f"file `{contract.path.relative_to(EVENTS_MD.parent.parent)}`.",
                    "",
                    "| field | type | required | PII | description |",
                    "|---|---|---|---|---|",
                    *_rows(contract.schema),
                ]
    return "\n".join(out) + "\n"


def write_or_check(path: Path, text: str, command: str, argv: list[str] | None) -> int:
    """The main() of a generated doc: rewrite `path` with `text`, or with --check fail (1)
    when it differs, naming `command` to regenerate it."""
    parser = argparse.ArgumentParser(description=f"Generates {path.name}.")
    parser.add_argument("--check", action="store_true", help=f"fail if {path.name} is stale")
    args = parser.parse_args(argv)
    if args.check:
        current = path.read_text() if path.exists() else ""
        if current != text:
            print(f"{path} is stale: run `{command}`")
            return 1
        return 0
    path.write_text(text)
    print(f"wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return write_or_check(
        EVENTS_MD, render(default_catalog()), "uv run python -m rapport.contracts.docs", argv
    )


if __name__ == "__main__":
    raise SystemExit(main())
