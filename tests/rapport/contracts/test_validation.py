"""Payload validation: both engines agree on every event the simulator makes, valid or broken."""

from __future__ import annotations

from datetime import date

import orjson
import pytest

from rapport.contracts.catalog import default_catalog
from rapport.contracts.validation import InvalidEventError, is_valid, validate_payload, violations
from rapport.simulator.shop import Shop, ShopConfig
from rapport.simulator.wire import ChaosConfig, wire_records

pytestmark = pytest.mark.unit


def corpus() -> list[tuple[dict[str, object], dict[str, object]]]:
    """(schema, payload) pairs: valid events and their malformed twins."""
    from rapport.simulator.history import action_times

    catalog = default_catalog()
    shop = Shop(ShopConfig(seed=7, v2_share=0.3), catalog)
    events = shop.events(action_times(date(2026, 1, 1), 1, 1500, seed=7))
    pairs = []
    for record in wire_records(events, ChaosConfig(malformed=0.5), seed=7):
        try:
            doc = orjson.loads(record.value)
        except orjson.JSONDecodeError:
            continue
        contract = catalog.by_schema_uri(doc.get("dataschema", "")) if "data" in doc else None
        if contract is not None:
            pairs.append((dict(contract.schema), doc["data"]))
    return pairs


def test_fast_and_reference_engines_agree() -> None:
    pairs = corpus()
    assert len(pairs) > 1000
    verdicts = [(is_valid(s, d), not violations(s, d)) for s, d in pairs]
    assert all(fast == ref for fast, ref in verdicts)
    assert any(not fast for fast, _ in verdicts)  # the corpus has broken payloads
    assert any(fast for fast, _ in verdicts)


def test_error_names_every_field_at_fault() -> None:
    contract = default_catalog().latest("InvoiceIssued")
    with pytest.raises(InvalidEventError) as caught:
        validate_payload(contract, {"invoice_id": "i-1", "amount": 10.5, "due_date": "2026-13-40"})
    message = str(caught.value)
    assert "rapport.billing.InvoiceIssued v1" in message
    assert "$.amount: 10.5 is not of type 'string'" in message
    assert "$.due_date" in message
    assert "'currency' is a required property" in message


def test_times_without_a_zone_are_rejected() -> None:
    schema = {"type": "string", "format": "date-time"}
    assert is_valid(schema, "2026-11-26T10:00:00Z")
    assert not is_valid(schema, "2026-11-26T10:00:00")
    assert violations(schema, "2026-11-26T10:00:00")
