"""Generates docs/quality.md, every check and SLA, from the rules and the SLA file.

`python -m quality.docs` rewrites it; `--check` fails when it is stale (a test runs that), so
the page cannot drift from what the gates and alerts actually enforce.
"""

from __future__ import annotations

from pathlib import Path

from quality.rules import CHECKED_TABLES, CROSS_TABLE_RULES, Rule, rules_for, suite_name
from quality.slas import DAILY_SLA_TABLES, STREAM_SLA_TABLES, Slas, load_slas
from rapport.contracts.docs import write_or_check

ROOT = Path(__file__).resolve().parent.parent
QUALITY_MD = ROOT / "docs" / "quality.md"
SLA_FILE = ROOT / "quality" / "slas.yaml"


def _what(rule: Rule) -> str:
    return rule.description.replace("|", "/")


def _table_section(name: str, rules: tuple[Rule, ...]) -> list[str]:
    out = [
        "",
        f"### {name}",
        "",
        "| check | kind | rule | gates downstream | from |",
        "|---|---|---|---|---|",
    ]
    for rule in rules:
        out.append(
            f"| `{rule.name}` | {rule.kind} | {_what(rule)} | "
            f"{'yes' if rule.blocking else 'no (warning)'} | {rule.origin} |"
        )
    return out


def render(slas: Slas) -> str:
    """The whole page as Markdown (deterministic: same rules and SLAs, same bytes)."""
    total = sum(len(rules_for(t)) for t in CHECKED_TABLES)
    out = [
        "# Data quality: checks and freshness SLAs",
        "",
        "Generated from `quality/rules.py`, the table catalog, the contracts and "
        "`quality/slas.yaml` by `python -m quality.docs`; do not edit by hand. A test fails "
        "when this page and the code disagree.",
        "",
        "## How the gates work",
        "",
        "- Each table below has one Great Expectations suite (`<table>.quality`), run by the "
        "Dagster asset check `quality_suite` on the table. Checks marked *gates downstream* "
        "fail the asset check with severity ERROR: Dagster then does not run the assets "
        "computed from that table in the same run, so a bad day of silver never feeds the "
        "daily aggregates. The others fail it with severity WARN and hold nothing back.",
        "- Silver's checks run in `daily_aggregates` and `history_backfill` before the "
        "aggregates, over the run's days; every suite of the stream's silver and gold runs "
        "hourly in `stream_quality` over today and yesterday. A single-run backfill is gated "
        "as one: a failing day holds back the whole range's aggregates, and the check's "
        "metadata and `ops.quality_results` name the days and rows (docs/decisions/0008).",
        "- Every result (table, partition, suite, check, passed, rows checked, failing rows, "
        "examples) is appended to `ops.quality_results`.",
        "- A failed gate opens an incident: one alert to the log and the webhook, and one "
        "more when a later validation of the same partition passes.",
        "",
        f"{len(CHECKED_TABLES)} tables, {total} checks.",
        "",
        "## Freshness SLAs",
        "",
        "Declared in `quality/slas.yaml` (`RAPPORT_QUALITY__SLA_FILE` points elsewhere). The "
        "alert sensor `rapport_alerts` measures them every `alert_interval_s` (15 s by "
        "default): *behind* is how long the oldest event not yet written by the stream has "
        "waited in Kafka, from the newest `ops.stream_batches` row and Kafka's offsets; 0 "
        "when nothing waits. `rapport freshness` prints the same figures. In Dagster each "
        "table carries a FreshnessPolicy: the stream tables a time window of their SLA plus "
        "one minute (the stream's commits are reported to Dagster by the sensor), the daily "
        "tables a cron deadline.",
        "",
        "| table | promise | Dagster freshness policy |",
        "|---|---|---|",
    ]
    for table in STREAM_SLA_TABLES:
        stream = slas.stream_sla(table.qualified_name)
        if stream is not None:
            out.append(
                f"| {table.qualified_name} | an event is in it at most "
                f"{stream.max_behind_s:g} s after it reached Kafka | updated within "
                f"{stream.max_behind_s + 60:g} s |"
            )
    for table in DAILY_SLA_TABLES:
        daily = slas.daily_sla(table.qualified_name)
        if daily is not None:
            ready = daily.ready_by.strftime("%H:%M")
            out.append(
                f"| {table.qualified_name} | day D's partition ready by {ready} UTC on D + 1 "
                f"| materialized in the day before {ready} UTC |"
            )
    without = [
        t.qualified_name
        for t in (*STREAM_SLA_TABLES, *DAILY_SLA_TABLES)
        if slas.stream_sla(t.qualified_name) is None and slas.daily_sla(t.qualified_name) is None
    ]
    out += ["", f"Tables without an SLA: {', '.join(without) or 'none'}."]
    out += [
        "",
        "## Rules across tables",
        "",
        "| table | check | rule | gates downstream |",
        "|---|---|---|---|",
    ]
    for rule in CROSS_TABLE_RULES:
        out.append(
            f"| {rule.table} | `{rule.name}` | {_what(rule)} | "
            f"{'yes' if rule.blocking else 'no (warning)'} |"
        )
    out += ["", "## Checks per table"]
    for table in CHECKED_TABLES:
        out += _table_section(
            f"{table.qualified_name} (suite `{suite_name(table)}`)", rules_for(table)
        )
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    return write_or_check(
        QUALITY_MD, render(load_slas(SLA_FILE)), "uv run python -m quality.docs", argv
    )


if __name__ == "__main__":
    raise SystemExit(main())
