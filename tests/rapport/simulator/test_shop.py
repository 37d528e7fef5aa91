"""The shop model: deterministic, contract-valid, and consistent as a business."""

from __future__ import annotations

from collections import Counter
from datetime import date

import orjson
import pytest

from rapport.contracts.catalog import default_catalog
from rapport.contracts.validation import violations
from rapport.simulator.history import action_times
from rapport.simulator.shop import Shop, ShopConfig, ShopEvent
from rapport.simulator.wire import ChaosConfig, encode

pytestmark = pytest.mark.unit


def run(seed: int = 3, actions: int = 3000, **config: object) -> list[ShopEvent]:
    shop = Shop(ShopConfig(seed=seed, **config), default_catalog())  # type: ignore[arg-type]
    return list(shop.events(action_times(date(2026, 5, 1), 1, actions, seed)))


def test_same_seed_same_bytes_other_seed_other_events() -> None:
    first = [encode(e, {}) for e in run(seed=3)]
    assert first == [encode(e, {}) for e in run(seed=3)]
    assert first != [encode(e, {}) for e in run(seed=4)]


def test_every_event_satisfies_its_contract() -> None:
    for event in run(actions=4000, v2_share=0.5):
        assert violations(event.contract.schema, event.data) == [], event


def test_all_event_types_appear() -> None:
    types = Counter(e.contract.event_type for e in run(actions=4000))
    assert set(types) == set(default_catalog().event_types())


def test_stock_never_negative_and_sequences_increase() -> None:
    last: dict[tuple[str, str], int] = {}
    for event in run(actions=5000):
        if event.contract.event_type == "InventoryAdjusted":
            d = event.data
            assert d["on_hand_after"] >= 0
            key = (d["sku"], d["warehouse"])
            assert d["sequence"] == last.get(key, 0) + 1
            last[key] = d["sequence"]


def test_orders_total_is_the_sum_of_lines_and_payments_match_invoices() -> None:
    from decimal import Decimal

    invoices: dict[str, str] = {}
    for event in run(actions=4000):
        d = event.data
        if event.contract.event_type == "OrderPlaced":
            lines = sum(Decimal(x["unit_price"]) * x["quantity"] for x in d["lines"])
            assert Decimal(d["total"]) == lines
        elif event.contract.event_type == "InvoiceIssued":
            invoices[d["invoice_id"]] = d["amount"]
        elif event.contract.event_type == "PaymentCaptured":
            assert invoices[d["invoice_id"]] == d["amount"]


def test_events_are_keyed_by_their_entity_and_enveloped() -> None:
    event = next(e for e in run() if e.contract.event_type == "OrderPlaced")
    doc = orjson.loads(encode(event, {("rapport.orders.OrderPlaced", 1): 7}))
    assert event.key == event.data["order_id"] == doc["subject"]
    assert doc["type"] == "rapport.orders.OrderPlaced"
    assert doc["specversion"] == "1.0"
    assert doc["time"].endswith("Z")
    assert doc["dataschema"].startswith("urn:rapport:contracts:orders:OrderPlaced:v")


def test_new_version_share_is_respected() -> None:
    versions = Counter(
        e.contract.version
        for e in run(actions=4000, v2_share=0.5)
        if e.contract.event_type == "OrderPlaced"
    )
    assert 0.4 < versions[2] / (versions[1] + versions[2]) < 0.6
    assert Counter(
        e.contract.version for e in run(actions=500) if e.contract.event_type == "OrderPlaced"
    ).keys() == {1}


def test_chaos_shares_are_validated() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        ChaosConfig(duplicates=1.5)
