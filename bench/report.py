"""docs/benchmarks.md: the machine, the commands and the figures of one `make bench` run, as tables.

Each benchmark module hands its sections to `record()`, which keeps the JSON record
(bench.results.publish), merges the sections into this run's store (var/bench/report.json)
and rewrites the document from the whole store. `make bench` starts with
`python -m bench.report --new-run`, which empties the store, so the document holds the
figures of one run on one machine; a module run alone replaces only its own sections.

A section is a dict of figures: numbers, strings, lists, or nested dicts (shown with dotted
names). A `Ratio` divides one figure by another when both sections are in the store:
DEFAULT_RATIOS lists the comparisons the issue asks for; `record(..., ratios=...)` adds
more, and they are kept in the store like the sections.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.results import publish
from rapport.settings import PROJECT_ROOT

STORE = PROJECT_ROOT / "var" / "bench" / "report.json"
DOC_PATH = "docs/benchmarks.md"
DOC = PROJECT_ROOT / DOC_PATH


@dataclass(frozen=True)
class Ratio:
    """`numerator / denominator`, each a (section, dotted figure name); shown when both exist."""

    label: str
    numerator: tuple[str, str]
    denominator: tuple[str, str]


#: Rapport's sections are named here ahead of their modules: a module that records
#: "rapport_backlog" with "events_per_s" gets its ratio to the limit without more code.
DEFAULT_RATIOS = (
    Ratio(
        "Rapport backlog drain / limit (read + parse + Delta append)",
        ("rapport_backlog", "events_per_s"),
        ("limit", "parse_append.rows_per_s"),
    ),
    Ratio(
        "Rapport backlog drain / limit (read only)",
        ("rapport_backlog", "events_per_s"),
        ("limit", "read.rows_per_s"),
    ),
    Ratio(
        "Rapport on the peer's burst, rows/s / peer rows/s",
        ("rapport_peer_burst", "rows_per_s"),
        ("peer", "rows_per_s"),
    ),
    Ratio(
        "Rapport on the peer's burst, seconds to exact gold / peer's",
        ("rapport_peer_burst", "exact_after_query_start_s"),
        ("peer", "exact_after_query_start_s"),
    ),
    Ratio(
        "Peer rows/s / limit (read + parse + Delta append)",
        ("peer", "rows_per_s"),
        ("limit", "parse_append.rows_per_s"),
    ),
)

#: One line under a section's heading saying what was measured, for the known sections.
NOTES = {
    "workload": "The records every baseline read: the simulator's full mix (light chaos: 1 % "
    "duplicates, 1 % out of order, 0.1 % malformed), generated ahead, then sent as fast as "
    "the librdkafka producer goes (acks=all, idempotent).",
    "limit": "Spark's own batch jobs over every record in the four topics: a read that touches "
    "each value, and read + from_json (envelope and payload) + one Delta append. The best of "
    "the runs; no streaming, no state, no validation; the JVM's default JIT (C1 and C2), which "
    "suits one long job.",
    "peer": "The plain single query (Kafka, from_json, dropDuplicatesWithinWatermark on the "
    "event id, daily count and sum of OrderPlaced totals per currency in update mode, "
    "foreachBatch MERGE into one Delta table, 1 s trigger, RocksDB, 2 shuffle partitions) "
    "on a burst written to Kafka before it starts, with built-in checks that keep malformed "
    "orders out; timed until its gold table equals an independent count of the records sent. "
    "The JVM's default JIT, as the limit's.",
}


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = "unknown"
    memory_gib = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 2**20, 1)
                break
    except OSError:
        pass  # not Linux: leave them unknown rather than guess
    return {
        "nproc": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "memory_gib": memory_gib,
        "cpu": cpu,
        "os": platform.platform(),
        "python": platform.python_version(),
        "java": _java_version(),
        "packages": {
            name: _version(name)
            for name in ("pyspark", "delta-spark", "deltalake", "confluent-kafka")
        },
        "commit": _git("rev-parse", "--short", "HEAD"),
        # This document is rewritten by each module of the run: not a change to the code.
        "uncommitted_changes": bool(
            _git("status", "--porcelain", "--untracked-files=no", "--", ".", f":!{DOC_PATH}")
        ),
    }


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _java_version() -> str | None:
    from rapport.runtime.kafka_broker import java_executable

    try:
        done = subprocess.run(
            [java_executable(), "-version"], capture_output=True, text=True, timeout=30
        )
    except (OSError, RuntimeError, subprocess.TimeoutExpired):
        return None
    lines = (done.stderr or done.stdout).splitlines()
    return lines[0].strip() if lines else None


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def load(store: Path = STORE) -> dict[str, Any]:
    if not store.exists():
        return {"sections": {}, "ratios": [], "commands": []}
    return dict(json.loads(store.read_text()))


def new_run(store: Path = STORE) -> None:
    """Forget the previous run's sections: what follows is one run on one machine."""
    store.parent.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    store.write_text(json.dumps({"started": started, "sections": {}, "ratios": [], "commands": []}))


def record(
    name: str,
    sections: Mapping[str, Mapping[str, Any]],
    *,
    command: str,
    ratios: Iterable[Ratio] = (),
    notes: Mapping[str, str] | None = None,
    store: Path = STORE,
    doc: Path = DOC,
) -> Path:
    """Publish `sections` as JSON, merge them into the run's store and rewrite `doc`.

    `command` is how to reproduce them; `notes` says in a line what each section measured
    (NOTES has those of the known sections).
    """
    publish(name, {k: dict(v) for k, v in sections.items()})
    state = load(store)
    at = datetime.now(UTC).isoformat(timespec="seconds")
    for key, figures in sections.items():
        state["sections"][key] = {
            "figures": figures,
            "command": command,
            "at": at,
            "note": (notes or {}).get(key) or NOTES.get(key, ""),
        }
    if command not in state["commands"]:
        state["commands"].append(command)
    known = {r["label"] for r in state["ratios"]}
    state["ratios"].extend(asdict(r) for r in ratios if r.label not in known)
    state["machine"] = machine()
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_text(json.dumps(state, indent=2, default=str))
    doc.write_text(render(state))
    print(f"report in {doc}")
    return doc


def flatten(figures: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one level with dotted names, in their order."""
    flat: dict[str, Any] = {}
    for key, value in figures.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 10 else f"{value:,.1f}".removesuffix(".0")
    if isinstance(value, list | tuple):
        return ", ".join(fmt(v) for v in value)
    return str(value).replace("|", "\\|")


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def ratio_rows(state: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """(label, numerator, denominator, ratio) of every ratio whose two figures are present."""
    flat = {key: flatten(s["figures"]) for key, s in state["sections"].items()}
    rows = []
    stored = [
        Ratio(
            r["label"],
            (r["numerator"][0], r["numerator"][1]),
            (r["denominator"][0], r["denominator"][1]),
        )
        for r in state.get("ratios", [])
    ]
    specs = [*DEFAULT_RATIOS, *stored]
    for spec in specs:
        (ns, nf), (ds, df) = spec.numerator, spec.denominator
        top, bottom = flat.get(ns, {}).get(nf), flat.get(ds, {}).get(df)
        if not isinstance(top, int | float) or not isinstance(bottom, int | float) or not bottom:
            continue
        rows.append(
            (
                spec.label,
                f"{ns}.{nf} = {fmt(top)}",
                f"{ds}.{df} = {fmt(bottom)}",
                f"{top / bottom:.2f}",
            )
        )
    return rows


def render(state: Mapping[str, Any]) -> str:
    """The whole document from a store's content."""
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (bench/report.py); do not edit by hand. Times vary between",
        "machines: the ratios, measured on the same machine and the same kind of records, are",
        "the figures to compare.",
        "",
    ]
    box = state.get("machine") or machine()
    lines += ["## Machine", ""]
    lines += _table(["", ""], [(k, fmt(v)) for k, v in flatten(box).items()])
    lines += [
        "",
        "## Commands",
        "",
        "What produced the sections below (`make bench` runs them all):",
        "",
    ]
    lines += ["```", *state.get("commands", []), "```", ""]
    ratios = ratio_rows(state)
    if ratios:
        lines += ["## Ratios", ""]
        lines += _table(["ratio", "numerator", "denominator", "value"], ratios)
        lines.append("")
    for key, section in state["sections"].items():
        lines += [f"## {key}", ""]
        if section.get("note"):
            lines += [section["note"], ""]
        lines += [f"Measured {section['at']} by `{section['command']}`.", ""]
        lines += _table(
            ["figure", "value"], [(k, fmt(v)) for k, v in flatten(section["figures"]).items()]
        )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--new-run", action="store_true", help="empty the store (start of make bench)"
    )
    args = parser.parse_args(argv)
    if args.new_run:
        new_run()
        print(f"new benchmark run: {STORE} emptied")
    else:  # re-render the document from the store, e.g. after changing this module
        DOC.write_text(render(load()))
        print(f"report in {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
