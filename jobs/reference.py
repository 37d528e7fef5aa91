"""Reference data into the lakehouse: the exchange rates of reference/fx_rates.csv to ref.fx_rates.

The file is the source of truth: a load checks it (`serving.fx.parse_rates`) and replaces
the whole table with it, so the table says exactly what the file says, and Delta's history
keeps what it said before. Run by the Dagster asset ref/fx_rates.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rapport.lakehouse.tables import REF_FX_RATES
from rapport.settings import Settings
from serving.fx import FX_RATES_CSV, read_rates

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def load_fx_rates(spark: SparkSession, settings: Settings, path: Path = FX_RATES_CSV) -> int:
    """Replace ref.fx_rates with the checked rates of `path`; returns the rows written."""
    rates = read_rates(path)
    loaded_at = datetime.now(UTC)
    rows = [
        (r.rate_date, r.base_currency, r.quote_currency, r.rate, r.source, loaded_at)
        for r in sorted(rates, key=lambda r: r.key)
    ]
    frame = spark.createDataFrame(rows, REF_FX_RATES.schema)
    frame.write.format("delta").mode("overwrite").save(REF_FX_RATES.location(settings))
    return len(rows)
