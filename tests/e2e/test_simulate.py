"""`rapport simulate` and `rapport contracts` as a user runs them: real broker, real registry."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from rapport.runtime.kafka_offsets import end_offsets, records_between
from rapport.runtime.processes import wait_until
from rapport.settings import PROJECT_ROOT, Settings
from tests.helpers.settings import rapport_bin

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]


def classify(values: list[bytes]) -> tuple[Counter[str], Counter[str], int]:
    """(first deliveries by type, duplicates by type, records that are not known events)."""
    seen: set[str] = set()
    firsts: Counter[str] = Counter()
    dups: Counter[str] = Counter()
    other = 0
    for value in values:
        try:
            doc = orjson.loads(value)
        except orjson.JSONDecodeError:
            other += 1
            continue
        if (
            not isinstance(doc, dict)
            or "dataschema" not in doc
            or doc["id"].startswith(("bad-", "unknown-"))
        ):
            other += 1
            continue
        kind = doc["type"].rsplit(".", 1)[1]
        if doc["id"] in seen:
            dups[kind] += 1
        else:
            seen.add(doc["id"])
            firsts[kind] += 1
    return firsts, dups, other


def test_what_is_in_kafka_matches_the_ledger(
    settings: Settings,
    schema_registry: Any,
    tmp_path: Path,
    child_env: Callable[[Settings], dict[str, str]],
) -> None:
    start = end_offsets(settings)
    ledger_dir = tmp_path / "ledger"
    out = subprocess.run(
        [
            str(rapport_bin()),
            "simulate",
            "--rate",
            "2000",
            "--events",
            "12000",
            "--seed",
            "77",
            "--duplicates",
            "0.05",
            "--out-of-order",
            "0.05",
            "--late",
            "0.02",
            "--malformed",
            "0.01",
            "--new-version",
            "0.3",
            "--unknown-types",
            "0.01",
            "--ledger",
            str(ledger_dir),
            "--no-progress",
        ],
        env=child_env(settings),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    ledger = json.loads((ledger_dir / "ledger.json").read_text())
    assert sum(ledger["records_sent"].values()) == 12000
    values = [r.value for r in records_between(settings, start, end_offsets(settings))]
    assert len(values) == 12000
    firsts, dups, other = classify(values)
    assert dict(sorted(firsts.items())) == ledger["events_by_type"]
    assert dict(sorted(dups.items())) == ledger["duplicates_by_type"]
    assert other == ledger["records_sent"]["malformed"] + ledger["records_sent"].get(
        "unknown_type", 0
    )
    assert ledger["versions"]["OrderPlaced.v2"] > 0
    assert ledger["late_events"] > 0
    ids = {
        json.loads(line)["id"]
        for line in (ledger_dir / "records.jsonl").read_text().splitlines()
        if '"kind":"event"' in line
    }
    kafka_ids = {
        orjson.loads(v)["id"]
        for v in values
        if v[:1] == b"{" and b'"dataschema"' in v and b'"id":"bad-' not in v
    }
    assert ids <= kafka_ids


def test_ctrl_c_stops_cleanly_and_the_ledger_stays_true(
    settings: Settings,
    schema_registry: Any,
    tmp_path: Path,
    child_env: Callable[[Settings], dict[str, str]],
) -> None:
    start = end_offsets(settings)
    ledger_dir = tmp_path / "ledger"
    proc = subprocess.Popen(
        [
            str(rapport_bin()),
            "simulate",
            "--rate",
            "500",
            "--duration",
            "120",
            "--seed",
            "78",
            "--ledger",
            str(ledger_dir),
            "--no-progress",
        ],
        env=child_env(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_until(
            lambda: sum(end_offsets(settings).values()) - sum(start.values()) > 500,
            timeout_s=120,
            interval_s=0.5,
        )
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert "sent" in stdout
    ledger = json.loads((ledger_dir / "ledger.json").read_text())
    sent = sum(ledger["records_sent"].values())
    assert 500 < sent < 500 * 120
    assert len(records_between(settings, start, end_offsets(settings))) == sent


def contracts_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "schemas"
    shutil.copytree(PROJECT_ROOT / "rapport" / "contracts" / "schemas", folder)
    return folder


def test_contracts_register_is_idempotent_and_a_breaking_change_is_named(
    settings: Settings,
    kafka_broker: Any,
    make_settings: Any,
    tmp_path: Path,
    child_env: Callable[[Settings], dict[str, str]],
) -> None:
    import uuid

    from registry.registry_service import RegistryService

    folder = contracts_copy(tmp_path)
    own = make_settings(
        "contracts-cli",
        kafka={
            "broker_port": settings.kafka.broker_port,
            "controller_port": settings.kafka.controller_port,
        },
        registry={"topic": f"_schemas_{uuid.uuid4().hex[:6]}"},
        contracts_dir=folder,
    )
    env = child_env(own)
    service = RegistryService(own)
    service.start()

    def rapport(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(rapport_bin()), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    try:
        first = rapport("contracts", "register")
        assert first.returncode == 0, first.stderr
        second = rapport("contracts", "register")
        assert second.returncode == 0
        assert first.stdout == second.stdout  # same subjects, versions and ids
        assert rapport("contracts", "check").returncode == 0
        assert rapport("contracts", "diff").stdout == ""

        # A v3 that makes coupon_code a required integer: old events cannot be read by it.
        v2 = json.loads((folder / "orders" / "OrderPlaced.v2.json").read_text())
        v2["$id"] = v2["$id"].replace(":v2", ":v3")
        v2["x-rapport"]["version"] = 3
        v2["properties"]["coupon_code"] = {"type": "integer"}
        v2["required"].append("coupon_code")
        (folder / "orders" / "OrderPlaced.v3.json").write_text(json.dumps(v2))

        check = rapport("contracts", "check")
        assert check.returncode == 1
        assert "coupon_code" in check.stderr
        assert "rapport.orders.OrderPlaced v3" in check.stderr
        offline = rapport("contracts", "check", "--offline")
        assert offline.returncode == 1
        assert "coupon_code" in offline.stderr
        register = rapport("contracts", "register")
        assert register.returncode == 1
        assert "coupon_code" in register.stderr
        assert "OrderPlaced.v3.json" in register.stderr
        diff = rapport("contracts", "diff", "OrderPlaced")
        assert "~ coupon_code: string -> integer required" in diff.stdout
        assert "INCOMPATIBLE" in diff.stdout
    finally:
        service.stop()
