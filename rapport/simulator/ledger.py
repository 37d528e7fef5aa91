"""The ground truth: what the simulator sent, and the report figures those events must produce.

Every report Rapport builds is checked against this. The figures follow event time (a late
event counts in the minute and day it happened), count each event id once however often it
was delivered, and ignore malformed and unknown records, which belong in quarantine.

Money is kept per currency, as gold keeps it: no figure here adds two currencies.

Definitions, per UTC day and currency (`sales_by_day`):
- orders, order_value: OrderPlaced count and sum of `total` (also per minute, region,
  channel and currency: `orders_per_minute_by_region_channel`)
- cancellations: OrderCancelled count, under the currency the event states (v2), or
  `NO_CURRENCY` when it states none (v1); refunds, refund_amount: RefundIssued count and sum
- net_revenue: order_value - refund_amount; average_order_value: order_value / orders
- payments, payment_amount: PaymentCaptured; invoiced_amount: InvoiceIssued sum
Definitions per UTC day (`per_day`) and per minute (`per_minute`), not money:
- signups: CustomerRegistered count
- active_customers: distinct customers with a CustomerRegistered, CustomerLoggedIn or
  OrderPlaced
Other figures:
- inventory: on hand per sku and warehouse after the highest `sequence` seen; low stock:
  those below their reorder point
- active customers in a window: distinct customers with one of those events in
  (end - window, end] (`active_customers_between`)

Averages round half up to the cent, as Spark's round() does.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import orjson

from rapport.contracts.currency import NO_CURRENCY
from rapport.simulator.wire import WireRecord, describe

ZERO = Decimal("0.00")

#: Events that make a customer active.
ACTIVITY_TYPES = frozenset({"CustomerRegistered", "CustomerLoggedIn", "OrderPlaced"})


@dataclass
class _Sales:
    """The sales figures of one day in one currency."""

    orders: int = 0
    order_value: Decimal = ZERO
    cancellations: int = 0
    refunds: int = 0
    refund_amount: Decimal = ZERO
    payments: int = 0
    payment_amount: Decimal = ZERO
    invoiced_amount: Decimal = ZERO

    def figures(self) -> dict[str, Any]:
        return {
            "orders": self.orders,
            "order_value": str(self.order_value),
            "average_order_value": str(
                (self.order_value / self.orders).quantize(Decimal("0.01"), ROUND_HALF_UP)
            )
            if self.orders
            else None,
            "cancellations": self.cancellations,
            "refunds": self.refunds,
            "refund_amount": str(self.refund_amount),
            "net_revenue": str(self.order_value - self.refund_amount),
            "payments": self.payments,
            "payment_amount": str(self.payment_amount),
            "invoiced_amount": str(self.invoiced_amount),
        }


@dataclass
class _Customers:
    """The customer figures of one day or minute (not money: no currency)."""

    signups: int = 0
    active: set[str] = field(default_factory=set)

    def figures(self) -> dict[str, Any]:
        return {"signups": self.signups, "active_customers": len(self.active)}


@dataclass
class Ledger:
    """Accumulates what was sent; `expected()` gives the figures; `write()` keeps them."""

    seen_ids: set[str] = field(default_factory=set)
    sent: Counter[str] = field(default_factory=Counter)
    events_by_type: Counter[str] = field(default_factory=Counter)
    duplicates_by_type: Counter[str] = field(default_factory=Counter)
    versions: Counter[str] = field(default_factory=Counter)
    malformed: Counter[str] = field(default_factory=Counter)
    late_events: int = 0
    days: dict[str, _Customers] = field(default_factory=lambda: defaultdict(_Customers))
    minutes: dict[str, _Customers] = field(default_factory=lambda: defaultdict(_Customers))
    #: Sales by (day, currency).
    sales: dict[tuple[str, str], _Sales] = field(default_factory=lambda: defaultdict(_Sales))
    #: [orders, value] by (minute, region, channel, currency).
    by_region_channel: dict[tuple[str, str, str, str], list[Any]] = field(default_factory=dict)
    inventory: dict[tuple[str, str], tuple[int, int, int]] = field(default_factory=dict)
    #: (event time, customer id) of every activity, kept with the lines (keep_lines).
    activity: list[tuple[datetime, str]] = field(default_factory=list)
    lines: list[bytes] = field(default_factory=list)
    keep_lines: bool = True

    def record(self, record: WireRecord) -> None:
        """Account for one record that was handed to Kafka."""
        self.sent[record.kind] += 1
        if self.keep_lines:
            self.lines.append(orjson.dumps(describe(record)))
        if record.kind in ("malformed", "unknown_type"):
            self.malformed[record.reason] += 1
            return
        event = record.event
        assert event is not None
        event_type = event.contract.event_type
        if event.event_id in self.seen_ids:
            self.duplicates_by_type[event_type] += 1
            return
        self.seen_ids.add(event.event_id)
        self.events_by_type[event_type] += 1
        self.versions[f"{event_type}.v{event.contract.version}"] += 1
        self.late_events += record.late
        iso = event.time.isoformat()  # strftime is several times slower on this hot path
        self._count(event_type, event.data, iso[:10], iso[:16])
        if self.keep_lines and event_type in ACTIVITY_TYPES:
            self.activity.append((event.time, event.data["customer_id"]))

    def _count(self, event_type: str, data: dict[str, Any], day: str, minute: str) -> None:
        buckets = (self.days[day], self.minutes[minute])
        if event_type == "OrderPlaced":
            total = Decimal(data["total"])
            sales = self.sales[day, data["currency"]]
            sales.orders += 1
            sales.order_value += total
            for b in buckets:
                b.active.add(data["customer_id"])
            key = (minute, data["region"], data["channel"], data["currency"])
            count, value = self.by_region_channel.get(key, [0, ZERO])
            self.by_region_channel[key] = [count + 1, value + total]
        elif event_type == "OrderCancelled":
            self.sales[day, data.get("currency", NO_CURRENCY)].cancellations += 1
        elif event_type == "RefundIssued":
            sales = self.sales[day, data["currency"]]
            sales.refunds += 1
            sales.refund_amount += Decimal(data["amount"])
        elif event_type == "PaymentCaptured":
            sales = self.sales[day, data["currency"]]
            sales.payments += 1
            sales.payment_amount += Decimal(data["amount"])
        elif event_type == "InvoiceIssued":
            self.sales[day, data["currency"]].invoiced_amount += Decimal(data["amount"])
        elif event_type == "CustomerRegistered":
            for b in buckets:
                b.signups += 1
                b.active.add(data["customer_id"])
        elif event_type == "CustomerLoggedIn":
            for b in buckets:
                b.active.add(data["customer_id"])
        elif event_type == "InventoryAdjusted":
            key2 = (data["sku"], data["warehouse"])
            previous = self.inventory.get(key2)
            if previous is None or data["sequence"] > previous[0]:
                self.inventory[key2] = (
                    data["sequence"],
                    data["on_hand_after"],
                    data["reorder_point"],
                )

    def active_customers_between(self, end: datetime, window: timedelta) -> int:
        """Distinct customers active in (end - window, end]; needs keep_lines=True."""
        times = sorted(self.activity)
        first = bisect_right(times, (end - window, "\uffff"))
        last = bisect_right(times, (end, "\uffff"))
        return len({customer for _, customer in times[first:last]})

    def sales_by_day(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Day -> currency -> the sales figures of that day in that currency."""
        found: dict[str, dict[str, dict[str, Any]]] = {}
        for (day, currency), sales in sorted(self.sales.items()):
            found.setdefault(day, {})[currency] = sales.figures()
        return found

    def expected(self) -> dict[str, Any]:
        """Every figure a report must show, as JSON-ready values (money as strings)."""
        return {
            "records_sent": dict(self.sent),
            "events_by_type": dict(sorted(self.events_by_type.items())),
            "duplicates_by_type": dict(sorted(self.duplicates_by_type.items())),
            "versions": dict(sorted(self.versions.items())),
            "malformed_by_reason": dict(sorted(self.malformed.items())),
            "late_events": self.late_events,
            "per_day": {d: b.figures() for d, b in sorted(self.days.items())},
            "per_minute": {m: b.figures() for m, b in sorted(self.minutes.items())},
            "sales_by_day": self.sales_by_day(),
            "orders_per_minute_by_region_channel": [
                {
                    "minute": m,
                    "region": r,
                    "channel": c,
                    "currency": cur,
                    "orders": v[0],
                    "order_value": str(v[1]),
                }
                for (m, r, c, cur), v in sorted(self.by_region_channel.items())
            ],
            "inventory_on_hand": [
                {"sku": s, "warehouse": w, "on_hand": v[1], "reorder_point": v[2]}
                for (s, w), v in sorted(self.inventory.items())
            ],
            "low_stock": [
                {"sku": s, "warehouse": w, "on_hand": v[1], "shortfall": v[2] - v[1]}
                for (s, w), v in sorted(self.inventory.items())
                if v[1] < v[2]
            ],
        }

    def write(self, folder: Path) -> Path:
        """Write ledger.json (the figures) and records.jsonl (one line per record sent)."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "ledger.json").write_text(json.dumps(self.expected(), indent=1))
        if self.keep_lines:
            with (folder / "records.jsonl").open("wb") as out:
                for line in self.lines:
                    out.write(line + b"\n")
        return folder / "ledger.json"
