"""Dagster's entry point, built lazily: nothing is read or started when this module is imported.

One graph from Kafka to the daily aggregates: the stream's tables (external, observed by a
sensor), the historical
load and the daily-partitioned aggregates (materialized here), with their schedules, the
late-data sensor and table maintenance; the quality suites as blocking asset checks, the
freshness SLAs as freshness policies, and the alert sensor; the reference exchange rates
(ref.fx_rates), loaded on demand. Runs execute in one process, so a run starts one
SparkSession, not one per step.
"""

from __future__ import annotations

import dagster as dg

from orchestration import automation, quality_gates
from orchestration.batch import batch_assets, landing_spec
from orchestration.partitions import daily_partitions
from orchestration.reference import reference_assets
from orchestration.resources import RapportResource
from orchestration.streaming import kafka_spec, observation_sensor, stream_table_specs
from quality.slas import load_slas


def build_definitions(rapport: RapportResource | None = None) -> dg.Definitions:
    """The whole code location; `rapport` overrides the settings (tests)."""
    rapport = rapport or RapportResource()
    settings = rapport.settings()
    slas = load_slas(settings.quality.sla_file)
    partitions = daily_partitions(settings.history_start)
    daily = automation.daily_job(partitions)
    history = automation.history_job(partitions)
    stream_quality = quality_gates.stream_quality_job()
    return dg.Definitions(
        assets=[
            kafka_spec(),
            *stream_table_specs(slas),
            landing_spec(),
            *batch_assets(partitions, slas),
            *quality_gates.ops_specs(),
            *reference_assets(),
        ],
        asset_checks=quality_gates.quality_checks(),
        jobs=[daily, history, stream_quality, automation.table_maintenance],
        schedules=automation.schedules(daily, stream_quality),
        sensors=[
            automation.late_data_sensor(daily),
            observation_sensor(),
            quality_gates.alerts_sensor(settings.quality.alert_interval_s),
        ],
        resources={"rapport": rapport},
        executor=dg.in_process_executor,
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
