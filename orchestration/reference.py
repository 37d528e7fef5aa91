"""Reference data assets: ref.fx_rates, loaded from reference/fx_rates.csv on demand.

Not partitioned and not scheduled: rates change when someone adds them to the file (with
their source), and then materializes this asset (the Dagster UI, or `dagster asset
materialize --select ref/fx_rates -m orchestration.definitions`).
"""

from __future__ import annotations

import dagster as dg

from jobs.reference import load_fx_rates
from orchestration.resources import RapportResource
from orchestration.streaming import table_key
from rapport.lakehouse.tables import REF_FX_RATES
from serving.fx import FX_RATES_CSV


@dg.asset(
    key=table_key(REF_FX_RATES),
    group_name="reference",
    # Not partitioned: one run loads the whole file (as every asset here, one run).
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"spark", "delta"},
    description=REF_FX_RATES.description,
    metadata={"file": str(FX_RATES_CSV.name)},
)
def fx_rates(rapport: RapportResource) -> dg.MaterializeResult:  # type: ignore[type-arg]
    written = load_fx_rates(rapport.spark(), rapport.settings())
    return dg.MaterializeResult(metadata={"rates": written})


def reference_assets() -> list[dg.AssetsDefinition]:
    return [fx_rates]
