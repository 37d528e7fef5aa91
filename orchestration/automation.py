"""Jobs, schedules and sensors: yesterday's aggregates, late-data backfills, observation, upkeep."""

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import dagster as dg

from orchestration.quality_gates import silver_checks
from orchestration.resources import RapportResource
from rapport.lakehouse.layout import existing_delta
from rapport.lakehouse.tables import OPS_LATE_EVENTS, TABLES
from rapport.settings import Settings

DAILY_GROUP = "daily"


def daily_job(partitions: dg.PartitionsDefinition) -> Any:
    """The daily aggregates and reconciliation of one day (or a range, as one run)."""
    return dg.define_asset_job(
        "daily_aggregates",
        # Silver's blocking checks run first: a day whose silver fails never feeds them.
        selection=dg.AssetSelection.groups(DAILY_GROUP) | silver_checks(),
        partitions_def=partitions,
        description="Silver's quality gates, then daily aggregates and reconciliation, per day.",
    )


def history_job(partitions: dg.PartitionsDefinition) -> Any:
    """Historical load and everything downstream of it, for a range of landing days."""
    return dg.define_asset_job(
        "history_backfill",
        selection=dg.AssetSelection.groups("batch", DAILY_GROUP) | silver_checks(),
        partitions_def=partitions,
        description=(
            "Load landing days into bronze and silver, gate them, then their daily aggregates."
        ),
    )


def late_event_days(
    settings: Settings, after: datetime | None, before: date
) -> tuple[list[str], datetime | None]:
    """Days of late events recorded after `after` (and before `before`, a partition must be
    over), and the newest recorded_at seen: the sensor's next cursor. Today's late events
    are left to the daily schedule, which computes the day once it is over."""
    delta = existing_delta(OPS_LATE_EVENTS.location(settings))
    if delta is None:
        return [], after
    # Pushed down to the files' statistics: a minute's evaluation reads only new rows.
    filters: list[Any] = [("event_date", "<", before)]
    if after is not None:
        filters.append(("recorded_at", ">", after))
    rows = delta.to_pyarrow_table(columns=["event_date", "recorded_at"], filters=filters)
    newest = after
    days: set[str] = set()
    for row in rows.to_pylist():
        recorded = row["recorded_at"].replace(tzinfo=UTC)
        if after is None or recorded > after:
            days.add(row["event_date"].isoformat())
            newest = recorded if newest is None or recorded > newest else newest
    return sorted(days), newest


def late_data_sensor(job: Any) -> dg.SensorDefinition:
    @dg.sensor(
        job=job,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Re-materializes the daily aggregates of days that late events changed.",
    )
    def late_events_sensor(
        context: dg.SensorEvaluationContext, rapport: RapportResource
    ) -> dg.SensorResult:
        after = datetime.fromisoformat(context.cursor) if context.cursor else None
        days, newest = late_event_days(rapport.settings(), after, datetime.now(UTC).date())
        requests = [
            dg.RunRequest(run_key=f"late-{day}-{newest.isoformat() if newest else ''}",
                          partition_key=day)
            for day in days
        ]  # fmt: skip
        return dg.SensorResult(
            run_requests=requests, cursor=newest.isoformat() if newest else context.cursor
        )

    return late_events_sensor


@dg.op(retry_policy=dg.RetryPolicy(max_retries=2, delay=60))
def compact_and_vacuum(context: dg.OpExecutionContext, rapport: RapportResource) -> None:
    """OPTIMIZE every table, then VACUUM with the configured (safe) retention."""
    from jobs.maintenance import compact, vacuum

    settings, spark = rapport.settings(), rapport.spark()
    for result in compact(spark, settings, TABLES):
        context.log.info("compacted %s: %s", result.table, result)
    for done in vacuum(spark, settings, TABLES):
        context.log.info("vacuumed %s: %s", done.table, done)


@dg.job(description="Table maintenance: compaction and VACUUM of every Delta table.")
def table_maintenance() -> None:
    compact_and_vacuum()


def schedules(daily: Any, stream_quality: Any) -> Sequence[Any]:
    return [
        dg.ScheduleDefinition(
            name="stream_quality_hourly",
            job=stream_quality,
            cron_schedule="5 * * * *",
            execution_timezone="UTC",
            default_status=dg.DefaultScheduleStatus.RUNNING,
            description="The quality suites of the stream's silver and gold, hourly.",
        ),
        dg.build_schedule_from_partitioned_job(
            daily,
            name="daily_aggregates_yesterday",
            hour_of_day=0,
            minute_of_hour=15,
            default_status=dg.DefaultScheduleStatus.RUNNING,
            description="Yesterday's daily aggregates and reconciliation, at 00:15 UTC.",
        ),
        dg.ScheduleDefinition(
            name="table_maintenance_nightly",
            job=table_maintenance,
            cron_schedule="30 3 * * *",
            execution_timezone="UTC",
            default_status=dg.DefaultScheduleStatus.RUNNING,
        ),
    ]
