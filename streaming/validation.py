"""Bronze rows to verdicts, in Spark: valid events go on, the rest to bronze.quarantine.

The verdict itself is `contracts.classify.classify`, the same code the batch loads use; this
module runs it inside Spark's Python workers (mapInPandas), each worker with its own cached
registry resolver, so a new schema id is fetched once and no restart is needed.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from lakehouse.settings import Settings, revealed
from lakehouse.tables import BRONZE_QUARANTINE

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame

#: What classify adds to a bronze row, as a Spark DDL schema.
VERDICT_COLUMNS = (
    "topic string, partition int, offset long, valid boolean, reason string, "
    "event_id string, event_type string, subject string, contract_version int, "
    "schema_id int, data_json string"
)

_RESOLVERS: dict[str, Any] = {}


def _resolver(settings_payload: str) -> Any:
    """One resolver per Python worker and registry: its cache lives as long as the worker."""
    found = _RESOLVERS.get(settings_payload)
    if found is None:
        from contracts.catalog import load_catalog
        from registry.client import RegistryClient
        from registry.resolver import RegistryResolver

        settings = Settings.model_validate(json.loads(settings_payload))
        found = RegistryResolver(
            RegistryClient(settings.registry), load_catalog(settings.contracts_dir)
        )
        _RESOLVERS[settings_payload] = found
    return found


def _verdicts(settings_payload: str, frames: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    import pandas as pd

    from contracts.classify import classify

    resolver = _resolver(settings_payload)
    columns = [c.split()[0] for c in VERDICT_COLUMNS.split(", ")]
    for frame in frames:
        rows = []
        for topic, partition, offset, value in zip(
            frame["topic"], frame["partition"], frame["offset"], frame["value"], strict=True
        ):
            verdict = classify(bytes(value) if value is not None else None, resolver)
            data = json.dumps(verdict.data) if verdict.valid else None
            rows.append(
                (topic, partition, offset, verdict.valid, verdict.reason, verdict.event_id,
                 verdict.event_type, verdict.subject, verdict.version, verdict.schema_id, data)
            )  # fmt: skip
        yield pd.DataFrame(rows, columns=columns)


def classify_bronze(bronze: DataFrame, settings: Settings) -> DataFrame:
    """One verdict row per bronze row, keyed by its Kafka coordinates."""
    # The workers rebuild the settings, registry credentials included, to reach the registry.
    payload = json.dumps(revealed(settings))
    source = bronze.select("topic", "partition", "offset", "value")
    return source.mapInPandas(functools.partial(_verdicts, payload), schema=VERDICT_COLUMNS)


def quarantine_rows(bronze: DataFrame, verdicts: DataFrame) -> DataFrame:
    """bronze.quarantine rows for the records whose verdict is not valid."""
    from pyspark.sql import functions as F

    rejected = verdicts.where(~F.col("valid")).select(
        "topic", "partition", "offset", "reason", "event_id", "event_type"
    )
    return (
        bronze.select("topic", "partition", "offset", "key", "value", "kafka_timestamp")
        .join(rejected, ["topic", "partition", "offset"])
        .withColumn("quarantined_at", F.current_timestamp())
        .withColumn("kafka_date", F.to_date("kafka_timestamp"))
        .select(*BRONZE_QUARANTINE.schema.fieldNames())
    )
