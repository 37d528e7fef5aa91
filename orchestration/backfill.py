"""Launch a backfill of the daily assets on the running Dagster, as the UI's button does.

`rapport backfill --from --to` calls this. The backfill is the instance's own (Dagster's
daemon runs it, the UI's Backfills tab shows its progress); the single-run backfill policy
of the assets makes any range one run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from typing import Any

from jobs.daily import day_range
from rapport.lakehouse.tables import DAILY_TABLES, OPS_RECONCILIATION

LAUNCH = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
  }
}
"""

STATUS = """
query Status($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status numPartitions }
    ... on Error { message }
  }
}
"""

#: Terminal states of a backfill (Dagster's BulkActionStatus).
DONE = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


class BackfillError(RuntimeError):
    """Dagster refused or failed the backfill; the message says why."""


@dataclass(frozen=True)
class Backfill:
    backfill_id: str
    url: str
    partitions: int


def asset_paths(include_history: bool) -> list[list[str]]:
    """The assets a backfill materializes: the daily ones, with the history load if asked."""
    paths = [[t.layer, t.name] for t in (*DAILY_TABLES, OPS_RECONCILIATION)]
    return ([["batch", "history_load"]] if include_history else []) + paths


def _graphql(url: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    import requests

    try:
        response = requests.post(
            f"{url}/graphql", json={"query": query, "variables": variables}, timeout=30
        )
    except requests.ConnectionError as exc:
        raise BackfillError(
            f"Dagster does not answer at {url}: start the stack with `make up` (or `make run`)"
        ) from exc
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    if body.get("errors"):
        raise BackfillError(f"Dagster refused the request: {body['errors'][0].get('message')}")
    data: dict[str, Any] = body["data"]
    return data


def launch(url: str, first: date, last: date, include_history: bool = True) -> Backfill:
    """Submit a backfill of every day from `first` to `last` (both included)."""
    days = [d.isoformat() for d in day_range(first, last)]
    params = {
        "assetSelection": [{"path": p} for p in asset_paths(include_history)],
        "partitionNames": days,
        "fromFailure": False,
    }
    found = _graphql(url, LAUNCH, {"params": params})["launchPartitionBackfill"]
    if found["__typename"] != "LaunchBackfillSuccess":
        raise BackfillError(f"Dagster refused the backfill: {found.get('message', found)}")
    backfill_id = found["backfillId"]
    return Backfill(backfill_id, f"{url}/runs/b/{backfill_id}", len(days))


def status(url: str, backfill_id: str) -> str:
    found = _graphql(url, STATUS, {"id": backfill_id})["partitionBackfillOrError"]
    if found["__typename"] != "PartitionBackfill":
        raise BackfillError(f"no backfill {backfill_id}: {found.get('message', found)}")
    return str(found["status"])


def wait(url: str, backfill_id: str, timeout_s: float, poll_s: float = 2.0) -> str:
    """Poll until the backfill ends; returns its final status."""
    deadline = time.monotonic() + timeout_s
    while True:
        state = status(url, backfill_id)
        if state in DONE:
            return state
        if time.monotonic() > deadline:
            raise BackfillError(f"backfill {backfill_id} still {state} after {timeout_s:.0f} s")
        time.sleep(poll_s)
