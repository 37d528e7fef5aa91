"""classify: every record gets a verdict; every malformed one a reason; valid ones their parts."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

import orjson
import pytest

from rapport.contracts.catalog import default_catalog
from rapport.contracts.classify import CatalogResolver, classify
from rapport.simulator.history import action_times
from rapport.simulator.shop import Shop, ShopConfig
from rapport.simulator.wire import ChaosConfig, wire_records

pytestmark = pytest.mark.unit
RESOLVER = CatalogResolver(default_catalog())
EXPECTED_REASON = {
    "not_json": "not_json",
    "missing_required_field": "invalid_payload",
    "wrong_type": "invalid_payload",
    "invalid_enum": "invalid_payload",
    "negative_money": "invalid_payload",
    "no_envelope": "missing_envelope_attribute",
    "unknown_event_type": "unknown_event_type",
}


def test_chaos_records_get_the_right_verdicts() -> None:
    shop = Shop(ShopConfig(seed=21, v2_share=0.3), default_catalog())
    events = shop.events(action_times(date(2026, 2, 1), 1, 2000, seed=21))
    chaos = ChaosConfig(duplicates=0.05, malformed=0.1, unknown_types=0.05)
    reasons: Counter[str] = Counter()
    for record in wire_records(events, chaos, seed=21):
        verdict = classify(record.value, RESOLVER)
        if record.kind in ("event", "duplicate"):
            assert verdict.valid, verdict.reason
            assert record.event is not None
            assert verdict.event_id == record.event.event_id
            assert verdict.version == record.event.contract.version
            assert verdict.data == record.event.data
            assert verdict.event_time == record.event.time
        else:
            assert not verdict.valid
            assert verdict.reason is not None
            assert verdict.reason.split(":")[0] == EXPECTED_REASON[record.reason], record
            reasons[record.reason] += 1
    assert set(reasons) == set(EXPECTED_REASON)


def envelope_of(**changes: Any) -> bytes:
    doc = {
        "specversion": "1.0", "id": "e-1", "source": "/rapport/customers-service",
        "type": "rapport.customers.CustomerLoggedIn", "time": "2026-02-01T10:00:00Z",
        "subject": "c-1", "dataschema": "urn:rapport:contracts:customers:CustomerLoggedIn:v1",
        "data": {"customer_id": "c-1", "channel": "web", "region": "apac"},
    }  # fmt: skip
    doc.update(changes)
    return orjson.dumps({k: v for k, v in doc.items() if v is not None})


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "empty_value"),
        (b"[1, 2]", "not_a_json_object"),
        (envelope_of(time="2026-02-01T10:00:00"), "invalid_time: no time zone"),
        (envelope_of(time="yesterday"), "invalid_time: yesterday"),
        (envelope_of(specversion="0.3"), "unsupported_specversion: 0.3"),
        (envelope_of(subject=None), "missing_envelope_attribute: subject"),
        (envelope_of(type="rapport.orders.OrderPlaced"), "schema_mismatch"),
        (envelope_of(data={"customer_id": "c-1"}), "invalid_payload: $: 'channel' is a required"),
    ],
)
def test_each_reason(value: bytes | None, reason: str) -> None:
    verdict = classify(value, RESOLVER)
    assert not verdict.valid
    assert verdict.reason is not None
    assert verdict.reason.startswith(reason)


def test_a_valid_record_keeps_its_identity() -> None:
    verdict = classify(envelope_of(schemaid=7), RESOLVER)
    assert verdict.valid
    assert (verdict.event_id, verdict.subject, verdict.version, verdict.schema_id) == (
        "e-1", "rapport.customers.CustomerLoggedIn", 1, 7,
    )  # fmt: skip
