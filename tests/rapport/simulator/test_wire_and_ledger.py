"""Chaos on the wire, and the ledger's figures: exact on a hand-made day, robust to chaos."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import orjson
import pytest

from rapport.contracts.catalog import default_catalog
from rapport.contracts.currency import NO_CURRENCY
from rapport.simulator.history import action_times
from rapport.simulator.ledger import Ledger
from rapport.simulator.shop import Shop, ShopConfig, ShopEvent
from rapport.simulator.wire import ChaosConfig, WireRecord, encode, wire_records

pytestmark = pytest.mark.unit
CATALOG = default_catalog()


def shop_events(actions: int = 2000, seed: int = 11) -> list[ShopEvent]:
    shop = Shop(ShopConfig(seed=seed), CATALOG)
    return list(shop.events(action_times(date(2026, 6, 1), 1, actions, seed)))


def test_no_chaos_means_every_event_once_in_order() -> None:
    events = shop_events()
    records = list(wire_records(events, ChaosConfig(), seed=1))
    assert [r.event for r in records] == events
    assert {r.kind for r in records} == {"event"}


def test_chaos_kinds_and_shares() -> None:
    events = shop_events(actions=4000)
    chaos = ChaosConfig(
        duplicates=0.1,
        out_of_order=0.1,
        late=0.05,
        malformed=0.05,
        unknown_types=0.02,
        duplicate_max_delay=300,
    )
    records = list(wire_records(events, chaos, seed=1))
    kinds = Counter(r.kind for r in records)
    n = len(events)
    assert kinds["event"] == n  # every event is sent, held ones included
    assert 0.07 * n < kinds["duplicate"] < 0.13 * n
    assert 0.03 * n < kinds["malformed"] < 0.07 * n
    assert 0.01 * n < kinds["unknown_type"] < 0.03 * n
    originals = {r.event.event_id: r.value for r in records if r.kind == "event" and r.event}
    for r in records:
        if r.kind == "duplicate":
            assert r.event is not None
            assert r.value == originals[r.event.event_id]  # the same bytes again
    sent_order = [r.event.event_id for r in records if r.kind == "event" and r.event]
    assert sent_order != [e.event_id for e in events]  # some arrive out of order
    late = [r for r in records if r.kind == "event" and r.late]
    assert late
    assert all(r.event and r.event.time < events[-1].time - timedelta(hours=1) for r in late[-5:])


def test_malformed_records_are_really_broken() -> None:
    from rapport.contracts.validation import is_valid

    records = wire_records(shop_events(), ChaosConfig(malformed=0.3), seed=2)
    for r in (r for r in records if r.kind == "malformed"):
        try:
            doc = orjson.loads(r.value)
        except orjson.JSONDecodeError:
            continue
        contract = CATALOG.by_schema_uri(doc.get("dataschema", "")) if "data" in doc else None
        if contract is not None:
            assert not is_valid(contract.schema, doc["data"]), r.reason
        else:
            assert r.reason == "no_envelope"


def event(event_type: str, data: dict[str, object], minute: int, eid: str) -> ShopEvent:
    at = datetime(2026, 6, 1, 9, minute, 30, tzinfo=UTC)
    return ShopEvent(CATALOG.latest(event_type), data, eid, at)


def order(oid: str, customer: str, total: str, currency: str = "EUR") -> dict[str, object]:
    return {
        "order_id": oid,
        "customer_id": customer,
        "lines": [],
        "currency": currency,
        "channel": "web",
        "region": "eu-west",
        "warehouse": "WH-AMS",
        "total": total,
    }


def test_ledger_figures_on_a_hand_made_day() -> None:
    ledger = Ledger()
    placed = event("OrderPlaced", order("o1", "c1", "10.50"), 0, "e1")
    records = [
        WireRecord("orders", b"o1", encode(placed, {}), "event", placed),
        WireRecord("orders", b"o1", encode(placed, {}), "duplicate", placed),
        WireRecord("orders", b"o1", b"garbage", "malformed", reason="not_json"),
    ]
    second = event("OrderPlaced", order("o2", "c2", "4.25"), 1, "e2")
    refund = event(
        "RefundIssued",
        {
            "refund_id": "r",
            "payment_id": "p",
            "invoice_id": "i",
            "order_id": "o1",
            "amount": "10.50",
            "currency": "EUR",
            "reason": "returned",
        },
        1,
        "e3",
    )
    signup = event(
        "CustomerRegistered",
        {
            "customer_id": "c3",
            "email": "a@b.co",
            "name": "A",
            "region": "apac",
            "channel": "web",
            "marketing_opt_in": False,
        },
        1,
        "e4",
    )
    dollars = event("OrderPlaced", order("o3", "c1", "99.00", "USD"), 2, "e5")
    cancelled = event(
        "OrderCancelled",
        {"order_id": "o3", "customer_id": "c1", "reason": "customer_request", "currency": "USD"},
        3,
        "e6",
    )
    # A v1 cancellation states no currency: it counts under NO_CURRENCY, never a guess.
    unstated = ShopEvent(
        CATALOG.get("OrderCancelled", 1),
        {"order_id": "o9", "customer_id": "c9", "reason": "customer_request"},
        "e7",
        datetime(2026, 6, 1, 9, 4, tzinfo=UTC),
    )
    for e in (second, refund, signup, dollars, cancelled, unstated):
        records.append(WireRecord(e.contract.domain, b"k", encode(e, {}), "event", e))
    for r in records:
        ledger.record(r)
    expected = ledger.expected()
    sales = expected["sales_by_day"]["2026-06-01"]
    assert set(sales) == {"EUR", "USD", NO_CURRENCY}
    eur, usd = sales["EUR"], sales["USD"]
    assert eur["orders"] == 2
    assert Decimal(eur["order_value"]) == Decimal("14.75")
    assert Decimal(eur["net_revenue"]) == Decimal("4.25")
    assert eur["refunds"] == 1
    assert eur["average_order_value"] == "7.38"
    assert eur["cancellations"] == 0
    assert (usd["orders"], usd["order_value"], usd["cancellations"]) == (1, "99.00", 1)
    unknown = sales[NO_CURRENCY]
    assert (unknown["orders"], unknown["order_value"], unknown["cancellations"]) == (0, "0.00", 1)
    day = expected["per_day"]["2026-06-01"]
    assert day == {"signups": 1, "active_customers": 3}
    by_minute = {
        (m["minute"], m["currency"]): m["orders"]
        for m in expected["orders_per_minute_by_region_channel"]
    }
    assert by_minute == {("2026-06-01T09:00", "EUR"): 1, ("2026-06-01T09:01", "EUR"): 1,
                         ("2026-06-01T09:02", "USD"): 1}  # fmt: skip
    assert expected["duplicates_by_type"] == {"OrderPlaced": 1}
    assert expected["malformed_by_reason"] == {"not_json": 1}
    assert expected["records_sent"] == {"event": 7, "duplicate": 1, "malformed": 1}


def test_the_shop_sells_in_three_currencies_and_cancels_in_the_orders() -> None:
    currency_of: dict[str, str] = {}
    cancelled: list[tuple[str, str]] = []
    for e in shop_events(actions=3000):
        if e.contract.event_type == "OrderPlaced":
            currency_of[str(e.data["order_id"])] = str(e.data["currency"])
        elif e.contract.event_type == "OrderCancelled":
            assert e.contract.version >= 2
            cancelled.append((str(e.data["order_id"]), str(e.data["currency"])))
    assert set(currency_of.values()) == {"EUR", "USD", "GBP"}
    assert cancelled
    assert all(currency_of[oid] == currency for oid, currency in cancelled)


def test_ledger_counts_each_event_once_whatever_the_chaos() -> None:
    events = shop_events(actions=3000)
    calm, wild = Ledger(), Ledger()
    for r in wire_records(events, ChaosConfig(), seed=5):
        calm.record(r)
    for r in wire_records(
        events,
        ChaosConfig(duplicates=0.2, out_of_order=0.2, malformed=0.1, unknown_types=0.1),
        seed=5,
    ):
        wild.record(r)
    a, b = calm.expected(), wild.expected()
    for key in (
        "events_by_type",
        "per_day",
        "per_minute",
        "sales_by_day",
        "inventory_on_hand",
        "orders_per_minute_by_region_channel",
    ):
        assert a[key] == b[key], key
    assert sum(b["duplicates_by_type"].values()) > 0


def test_inventory_end_state_follows_the_highest_sequence() -> None:
    ledger = Ledger()
    events = shop_events(actions=3000)
    for r in wire_records(reversed(events), ChaosConfig(), seed=1):  # worst-case order
        ledger.record(r)
    final: dict[tuple[str, str], int] = {}
    for e in events:
        if e.contract.event_type == "InventoryAdjusted":
            final[(e.data["sku"], e.data["warehouse"])] = e.data["on_hand_after"]
    got = {(i["sku"], i["warehouse"]): i["on_hand"] for i in ledger.expected()["inventory_on_hand"]}
    assert got == final
