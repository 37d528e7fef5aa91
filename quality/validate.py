"""Runs a table's quality suite with Great Expectations on a Spark or pandas DataFrame.

The rules (`quality.rules`) become GX 1.x expectations here; a table's single-table rules
form one suite run on the table's frame, and each rule across tables runs on its relation
frame (`quality.relations`). The result says, per rule, how many rows failed and shows a
few, which Dagster's asset checks, the ops.quality_results history and the alerts all use.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from quality.relations import VIOLATION, is_spark, relation_frame
from quality.rules import Rule, rules_for, suite_name
from rapport.lakehouse.tables import TableDef

if TYPE_CHECKING:
    from great_expectations.data_context import AbstractDataContext
    from great_expectations.expectations import Expectation


@dataclass(frozen=True)
class CheckResult:
    """One rule's verdict on one frame."""

    rule: Rule
    passed: bool
    rows_checked: int
    failing_rows: int
    #: A few failing values (or rows, for a key) as GX reports them.
    examples: list[Any] = field(default_factory=list)
    #: Set when GX could not evaluate the rule (a missing column, say): that fails it too.
    error: str | None = None

    @property
    def examples_json(self) -> str:
        return json.dumps(self.examples, default=str)


@dataclass(frozen=True)
class Validation:
    """A table's suite run on one partition (a day) or the whole table ("all")."""

    table: str
    partition: str
    suite: str
    checks: tuple[CheckResult, ...]
    validated_at: datetime

    @property
    def passed(self) -> bool:
        """Whether the blocking rules all hold: what the gate decides on."""
        return all(c.passed for c in self.checks if c.rule.blocking)

    @property
    def warnings(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if not c.passed and not c.rule.blocking)

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if not c.passed and c.rule.blocking)


_LOCK = threading.Lock()
_CONTEXT: AbstractDataContext | None = None


def _context() -> AbstractDataContext:
    """One ephemeral GX context per process: no files, no analytics, no progress bars."""
    global _CONTEXT
    with _LOCK:
        if _CONTEXT is None:
            os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
            import great_expectations as gx
            from great_expectations.data_context.types.base import (
                DataContextConfig,
                InMemoryStoreBackendDefaults,
                ProgressBarsConfig,
            )

            config = DataContextConfig(
                store_backend_defaults=InMemoryStoreBackendDefaults(),
                analytics_enabled=False,
                progress_bars=ProgressBarsConfig(globally=False),
            )
            _CONTEXT = gx.get_context(mode="ephemeral", project_config=config)
        return _CONTEXT


def expectation(rule: Rule, column: str | None = None) -> Expectation:
    """The GX expectation of a single-table rule (or of a relation frame's violation column)."""
    import great_expectations.expectations as gxe

    meta = {"rule": rule.name, "table": rule.table}
    if rule.cross_table:
        return gxe.ExpectColumnValuesToBeNull(column=column or VIOLATION, meta=meta)
    (first, *rest) = rule.columns
    if rule.kind == "not_null":
        return gxe.ExpectColumnValuesToNotBeNull(column=first, meta=meta)
    if rule.kind == "unique":
        if rest:
            return gxe.ExpectCompoundColumnsToBeUnique(column_list=list(rule.columns), meta=meta)
        return gxe.ExpectColumnValuesToBeUnique(column=first, meta=meta)
    if rule.kind == "in_set":
        return gxe.ExpectColumnValuesToBeInSet(
            column=first, value_set=list(rule.value_set), meta=meta
        )
    if rule.kind == "between":
        return gxe.ExpectColumnValuesToBeBetween(
            column=first, min_value=rule.min_value, max_value=rule.max_value, meta=meta
        )
    raise ValueError(f"{rule.table}.{rule.name}: no expectation for kind {rule.kind!r}")


def build_suite(name: str, rules: list[Rule]) -> Any:
    """A GX ExpectationSuite of `rules` (what `gx` would store for the table)."""
    import great_expectations as gx

    return gx.ExpectationSuite(name=name, expectations=[expectation(r) for r in rules])


def _run_suite(frame: Any, rules: list[Rule], name: str, examples: int) -> list[CheckResult]:
    """Validate `frame` with the expectations of `rules` in one GX batch."""
    if not rules:
        return []
    context = _context()
    with _LOCK:
        # Each run has its own data source and suite names: GX keeps them in the context.
        source_name = f"{name}.{threading.get_ident()}.{datetime.now(UTC).timestamp()}"
        source: Any
        if is_spark(frame):
            source = context.data_sources.add_spark(source_name)
        else:
            source = context.data_sources.add_pandas(source_name)
        batch_definition = source.add_dataframe_asset("frame").add_batch_definition_whole_dataframe(
            "whole"
        )
        suite = context.suites.add(build_suite(source_name, rules))
    try:
        batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
        outcome = batch.validate(
            suite,
            result_format={"result_format": "BASIC", "partial_unexpected_count": examples},
        )
    finally:
        with _LOCK:
            context.suites.delete(source_name)
            context.data_sources.delete(source_name)
    by_rule = {r.name: r for r in rules}
    results = []
    for item in outcome.results:
        assert item.expectation_config is not None
        rule = by_rule[item.expectation_config.meta["rule"]]
        details = item.result or {}
        error = None
        if item.exception_info and item.exception_info.get("raised_exception"):
            error = str(item.exception_info.get("exception_message"))
        # For a key, GX counts every row that shares a duplicated key.
        failing = int(details.get("unexpected_count") or 0)
        results.append(
            CheckResult(
                rule=rule,
                passed=bool(item.success) and error is None,
                rows_checked=int(details.get("element_count") or 0),
                failing_rows=failing,
                examples=list(details.get("partial_unexpected_list") or [])[:examples],
                error=error,
            )
        )
    return sorted(results, key=lambda c: [r.name for r in rules].index(c.rule.name))


def validate(
    table: TableDef,
    frame: Any,
    *,
    partition: str = "all",
    related: dict[str, Any] | None = None,
    examples: int = 5,
    now: datetime | None = None,
    lines_in_flight_s: float = 0.0,
) -> Validation:
    """Run every rule of `table` on `frame` (Spark or pandas).

    `related` maps the other tables of its cross-table rules to their frames; a rule whose
    other table is not given fails with an error rather than passing unseen. A parent row
    ingested less than `lines_in_flight_s` before `now` is not failed for lacking its parts
    (`relation_frame`): they commit after it.
    """
    now = now or datetime.now(UTC)
    in_flight_since = now - timedelta(seconds=lines_in_flight_s) if lines_in_flight_s else None
    rules = list(rules_for(table))
    related = related or {}
    spark = is_spark(frame)
    if spark:
        frame = frame.cache()
    try:
        checks = _run_suite(
            frame, [r for r in rules if not r.cross_table], suite_name(table), examples
        )
        for rule in (r for r in rules if r.cross_table):
            assert rule.other_table is not None
            if rule.other_table not in related:
                checks.append(
                    CheckResult(
                        rule, False, 0, 0, error=f"no frame of {rule.other_table} was given"
                    )
                )
                continue
            relation = relation_frame(rule, frame, related[rule.other_table], in_flight_since)
            checks += _run_suite(relation, [rule], f"{suite_name(table)}.{rule.name}", examples)
    finally:
        if spark:
            frame.unpersist()
    return Validation(
        table=table.qualified_name,
        partition=partition,
        suite=suite_name(table),
        checks=tuple(checks),
        validated_at=now,
    )
