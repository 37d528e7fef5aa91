"""Quality gates and freshness in Dagster: blocking asset checks, freshness policies, alerts.

Thin: each check validates its table's days of the run with `jobs.quality_checks` (which keeps the
result in ops.quality_results) and reports it; the alert sensor measures the SLAs and gates
with `quality.freshness`/`quality.results`, decides with `quality.monitor`/`quality.alerts`,
and reports the stream's new table versions as runless materializations, which Dagster's
freshness policies evaluate.
"""

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg

from jobs.daily import day_range
from orchestration.batch import HISTORY_KEY, RETRY
from orchestration.resources import RapportResource
from orchestration.streaming import table_key
from quality.slas import Slas
from quality.validate import Validation
from rapport.lakehouse.tables import (
    BRONZE_QUARANTINE,
    DAILY_TABLES,
    GOLD_TABLES,
    OPS_ERASURES,
    OPS_QUALITY_RESULTS,
    OPS_QUARANTINE_REPLAYS,
    SILVER_TABLES,
    TableDef,
)
from rapport.settings import Settings

CHECK_NAME = "quality_suite"


def run_days(context: dg.AssetCheckExecutionContext, settings: Settings) -> list[date]:
    """The run's partition range as days; outside a partitioned run, the stream's recent days."""
    if context.has_partition_key_range or context.has_partition_key:
        keys = context.partition_key_range
        return day_range(date.fromisoformat(keys.start), date.fromisoformat(keys.end))
    today = datetime.now(UTC).date()
    return day_range(today - timedelta(days=settings.quality.stream_check_days - 1), today)


def _markdown(result: Validation) -> str:
    lines = [
        "| check | blocking | passed | rows | failing | examples |",
        "|---|---|---|---|---|---|",
    ]
    for c in result.checks:
        examples = c.error or (c.examples_json if c.examples else "")
        lines.append(
            f"| {c.rule.name} | {'yes' if c.rule.blocking else 'no'} | "
            f"{'yes' if c.passed else '**NO**'} | {c.rows_checked} | {c.failing_rows} | "
            f"{examples.replace('|', '/')[:200]} |"
        )
    return "\n".join(lines)


def check_result(result: Validation) -> dg.AssetCheckResult:
    """The Dagster verdict: ERROR (blocks downstream) for a failed gate, WARN for warnings."""
    failed = [c for c in result.checks if not c.passed]
    severity = dg.AssetCheckSeverity.ERROR if result.failures else dg.AssetCheckSeverity.WARN
    return dg.AssetCheckResult(
        passed=not failed,
        severity=severity,
        description=(
            f"{len(result.checks)} checks on {result.partition}: "
            + ("all passed" if not failed else f"{len(failed)} failed")
        ),
        metadata={
            "partition": result.partition,
            "suite": result.suite,
            "checks": len(result.checks),
            "failed_blocking": len(result.failures),
            "failed_warning": len(result.warnings),
            "failing_rows": {c.rule.name: c.failing_rows for c in failed},
            # Through JSON: examples hold decimals and timestamps, metadata takes JSON types.
            "examples": {c.rule.name: json.loads(c.examples_json) for c in failed},
            "results": dg.MetadataValue.md(_markdown(result)),
        },
    )


def quality_check(target: TableDef) -> dg.AssetChecksDefinition:
    """The blocking suite of one table. Silver's runs after a history load in the same run."""

    @dg.asset_check(
        asset=table_key(target),
        name=CHECK_NAME,
        blocking=True,
        additional_deps=[HISTORY_KEY] if target.layer == "silver" else None,
        retry_policy=RETRY,
        description=f"Great Expectations suite of {target.qualified_name} (docs/quality.md).",
    )
    def check(
        context: dg.AssetCheckExecutionContext, rapport: RapportResource
    ) -> dg.AssetCheckResult:
        from jobs.quality_checks import validate_days

        settings = rapport.settings()
        # A run of checks alone (stream_quality) goes through the SQL server (or a small JVM
        # of its own); in the daily and history runs the loads and aggregates share the
        # run's JVM and keep its heap.
        only_checks = context.op_execution_context.job_name == STREAM_QUALITY
        result = validate_days(
            rapport.checks_spark() if only_checks else rapport.spark(),
            settings,
            target,
            run_days(context, settings),
            run_id=context.op_execution_context.run_id,
        )
        return check_result(result)

    return check


def quality_checks() -> list[dg.AssetChecksDefinition]:
    return [quality_check(t) for t in (*SILVER_TABLES, *GOLD_TABLES, *DAILY_TABLES)]


def ops_specs() -> list[dg.AssetSpec]:
    """The quality history, the replay log and the erasures: written by checks and the CLI."""
    return [
        dg.AssetSpec(
            key=table_key(OPS_QUALITY_RESULTS),
            description=OPS_QUALITY_RESULTS.description,
            group_name="quality",
            kinds={"delta"},
        ),
        dg.AssetSpec(
            key=table_key(OPS_QUARANTINE_REPLAYS),
            description=OPS_QUARANTINE_REPLAYS.description,
            deps=[table_key(BRONZE_QUARANTINE)],
            group_name="quality",
            kinds={"delta"},
            metadata={"written_by": "rapport quarantine replay"},
        ),
        dg.AssetSpec(
            key=table_key(OPS_ERASURES),
            description=OPS_ERASURES.description,
            group_name="privacy",
            kinds={"delta"},
            metadata={"written_by": "rapport gdpr erase"},
        ),
    ]


def silver_checks() -> dg.AssetSelection:
    """The gates in front of the daily aggregates."""
    return dg.AssetSelection.checks_for_assets(*[table_key(t) for t in SILVER_TABLES])


#: The job of the stream's quality suites alone (hourly), whose runs get quality.driver_memory.
STREAM_QUALITY = "stream_quality"


def stream_quality_job() -> Any:
    return dg.define_asset_job(
        STREAM_QUALITY,
        selection=dg.AssetSelection.checks_for_assets(
            *[table_key(t) for t in (*SILVER_TABLES, *GOLD_TABLES)]
        ),
        description="The quality suites of the stream's silver and gold, today and yesterday.",
    )


# --- the alert sensor -----------------------------------------------------------------------


def _versions(settings: Settings) -> dict[str, int]:
    from rapport.lakehouse.layout import existing_delta

    found = {}
    for target in (*SILVER_TABLES, *GOLD_TABLES):
        delta = existing_delta(target.location(settings))
        if delta is not None:
            found[target.qualified_name] = delta.version()
    return found


def _materialized_days(context: dg.SensorEvaluationContext, slas: Slas) -> dict[str, set[str]]:
    return {
        sla.table: set(context.instance.get_materialized_partitions(table_key(sla.table)))
        for sla in slas.daily
    }


def alerts_sensor(interval_s: int) -> dg.SensorDefinition:
    @dg.sensor(
        name="rapport_alerts",
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Every few seconds: measures the freshness SLAs (quality/slas.yaml), the quality "
            "gates and the daily deadlines; alerts once per incident and once on recovery "
            "(log and webhook); reports the stream's new table versions to Dagster."
        ),
    )
    def rapport_alerts(
        context: dg.SensorEvaluationContext, rapport: RapportResource
    ) -> dg.SensorResult:
        from quality.alerts import AlertState, Notifier, advance
        from quality.freshness import stream_freshness
        from quality.monitor import deadline_breaches, gate_breaches, sla_breaches
        from quality.results import latest_verdicts
        from quality.slas import load_slas

        settings = rapport.settings()
        slas = load_slas(settings.quality.sla_file)
        cursor = json.loads(context.cursor) if context.cursor else {}
        state = AlertState.from_json(cursor.get("alerts"))
        now = datetime.now(UTC)
        found = [
            sla_breaches(stream_freshness(settings, slas, now)),
            gate_breaches(latest_verdicts(settings)),
            deadline_breaches(
                slas.daily,
                _materialized_days(context, slas),
                now,
                settings.history_start,
                list(state.open),
            ),
        ]
        notices = advance(
            state,
            [b for breaches, _ in found for b in breaches],
            [k for _, observed in found for k in observed],
            now,
        )
        url = settings.quality.alert_webhook_url
        sent = Notifier(url.get_secret_value() if url else None).deliver(state, notices)
        for notice in sent:
            context.log.info("alert sent: %s %s", notice.status, notice.key)
        versions = _versions(settings)
        seen: dict[str, int] = cursor.get("versions", {})
        events = [
            dg.AssetMaterialization(
                asset_key=table_key(name),
                description="Written by the stream; reported by the rapport_alerts sensor.",
                metadata={"delta_version": version},
            )
            for name, version in versions.items()
            if seen.get(name) != version
        ]
        return dg.SensorResult(
            asset_events=events,
            cursor=json.dumps({"alerts": state.to_json(), "versions": versions}),
        )

    return rapport_alerts
