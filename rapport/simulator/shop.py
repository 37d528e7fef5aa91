"""The simulated shop: customers, a product catalogue, orders, stock and billing, as domain events.

Pure and deterministic: the same seed and config give the same events, byte for byte.
Time is an input (`emit_at`), so the same model drives the live simulator (wall clock) and the
history mode (days in the past). Every event it returns satisfies its contract.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from rapport.contracts.catalog import ContractCatalog, EventContract

REGIONS = ("eu-west", "eu-central", "na-east", "na-west", "apac")
CHANNELS = ("web", "mobile", "store", "marketplace")
CATEGORIES = ("apparel", "electronics", "home", "beauty", "sports")
#: Each region ships from its nearest warehouse.
WAREHOUSE_OF = {
    "eu-west": "WH-AMS",
    "eu-central": "WH-FRA",
    "na-east": "WH-NYC",
    "na-west": "WH-SFO",
    "apac": "WH-SIN",
}
CURRENCY_OF = {"eu-west": "EUR", "eu-central": "EUR", "na-east": "USD", "na-west": "USD"}
#: eu-west covers the UK too: every third customer there (by number) pays in pounds.
GBP_EVERY = 3
CENT = Decimal("0.01")


@dataclass(frozen=True)
class ShopConfig:
    """The size and temperament of the shop."""

    seed: int = 42
    products: int = 200
    customers: int = 500
    #: Probability that an OrderPlaced is emitted with contract v2 (coupon_code).
    v2_share: float = 0.0
    #: Prefix of entity ids, so two simulator runs into one Kafka never share an order id.
    run_tag: str = ""
    #: Number of the first SKU: two shops writing one ledger own different stock items, as
    #: one inventory service owns each item (their sequence numbers would clash otherwise).
    first_sku: int = 10000


@dataclass(frozen=True)
class Product:
    sku: str
    category: str
    price: Decimal
    reorder_point: int


@dataclass(frozen=True)
class ShopEvent:
    """One domain event, before it is wrapped in an envelope."""

    contract: EventContract
    data: dict[str, Any]
    event_id: str
    time: datetime

    @property
    def key(self) -> str:
        return str(self.data[self.contract.key_field])


@dataclass
class _Order:
    order_id: str
    customer_id: str
    warehouse: str
    currency: str
    total: Decimal
    lines: list[tuple[str, int]]
    invoice_id: str
    payment_id: str | None = None
    shipped: bool = False
    closed: bool = False


@dataclass
class _Stock:
    on_hand: int
    sequence: int = 0


@dataclass
class Shop:
    """The shop's state; `emit_at(t)` advances it by one business action."""

    config: ShopConfig
    catalog: ContractCatalog
    rng: random.Random = field(init=False)
    products: list[Product] = field(init=False)
    customers: list[tuple[str, str]] = field(init=False, default_factory=list)
    stock: dict[tuple[str, str], _Stock] = field(init=False, default_factory=dict)
    unpaid: list[_Order] = field(init=False, default_factory=list)
    paid: list[_Order] = field(init=False, default_factory=list)
    shipped: list[_Order] = field(init=False, default_factory=list)
    _counters: dict[str, int] = field(init=False, default_factory=dict)
    _pending: list[ShopEvent] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.config.seed)
        self.products = [
            Product(
                sku=f"SKU-{self.config.first_sku + i:05d}",
                category=self.rng.choice(CATEGORIES),
                price=(Decimal(self.rng.randrange(199, 29999)) / 100).quantize(CENT),
                reorder_point=self.rng.randrange(5, 40),
            )
            for i in range(self.config.products)
        ]
        self._contracts = {t: self.catalog.latest(t) for t in self.catalog.event_types()}
        self._v1_placed = self.catalog.get("OrderPlaced", 1)

    # --- ids and events --------------------------------------------------------------------

    def _next_id(self, kind: str) -> str:
        n = self._counters.get(kind, 0) + 1
        self._counters[kind] = n
        tag = f"{self.config.run_tag}-" if self.config.run_tag else ""
        return f"{tag}{kind}-{n:07d}"

    def _event_id(self) -> str:
        """A random (version 4) UUID drawn from the seeded generator: reproducible."""
        n = self.rng.getrandbits(128)
        n = (n & ~(0xF000 << 64) | (0x4000 << 64)) & ~(0xC000 << 48) | (0x8000 << 48)
        h = f"{n:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def _emit(self, event_type: str, data: dict[str, Any], at: datetime) -> None:
        contract = self._contracts[event_type]
        if event_type == "OrderPlaced" and self.rng.random() >= self.config.v2_share:
            contract = self._v1_placed
            data.pop("coupon_code", None)
        # Envelopes carry milliseconds: the ledger must hold the very time the event states.
        at = at.replace(microsecond=at.microsecond // 1000 * 1000)
        self._pending.append(ShopEvent(contract, data, self._event_id(), at))

    # --- business actions ------------------------------------------------------------------

    def _register(self, at: datetime) -> tuple[str, str]:
        customer_id = self._next_id("cus")
        region = self.rng.choice(REGIONS)
        n = self._counters["cus"]
        self._emit(
            "CustomerRegistered",
            {
                "customer_id": customer_id,
                "email": f"customer{n}@example.com",
                "name": f"Customer {n}",
                "region": region,
                "channel": self.rng.choice(CHANNELS),
                "marketing_opt_in": self.rng.random() < 0.4,
            },
            at,
        )
        self.customers.append((customer_id, region))
        return customer_id, region

    def _customer(self, at: datetime) -> tuple[str, str]:
        if len(self.customers) < self.config.customers and (
            not self.customers or self.rng.random() < 0.15
        ):
            return self._register(at)
        return self.rng.choice(self.customers)

    def _adjust(
        self, sku: str, warehouse: str, reason: str, delta: int, at: datetime, order_id: str = ""
    ) -> None:
        product = self.products[int(sku[4:]) - self.config.first_sku]
        stock = self.stock.setdefault((sku, warehouse), _Stock(on_hand=0))
        stock.on_hand += delta
        stock.sequence += 1
        data: dict[str, Any] = {
            "sku": sku,
            "warehouse": warehouse,
            "reason": reason,
            "quantity_delta": delta,
            "on_hand_after": stock.on_hand,
            "reorder_point": product.reorder_point,
            "sequence": stock.sequence,
        }
        if order_id:
            data["order_id"] = order_id
        self._emit("InventoryAdjusted", data, at)

    def _currency(self, customer_id: str, region: str) -> str:
        """A customer's currency: their region's, GBP for eu-west's UK customers.

        Decided by the customer's number, not a random draw, so adding it kept every
        seed's other events as they were.
        """
        if region == "eu-west" and int(customer_id.rsplit("-", 1)[1]) % GBP_EVERY == 0:
            return "GBP"
        return CURRENCY_OF.get(region, "EUR" if region.startswith("eu") else "USD")

    def _place_order(self, at: datetime) -> None:
        customer_id, region = self._customer(at)
        warehouse = WAREHOUSE_OF[region]
        currency = self._currency(customer_id, region)
        picks = self.rng.sample(self.products, k=self.rng.randint(1, 4))
        lines = [(p, self.rng.randint(1, 3)) for p in picks]
        order_id = self._next_id("ord")
        for product, quantity in lines:
            stock = self.stock.get((product.sku, warehouse))
            if stock is None or stock.on_hand < quantity:
                self._adjust(product.sku, warehouse, "receipt", 50 + quantity, at)
        total = sum((p.price * q for p, q in lines), Decimal(0)).quantize(CENT)
        data: dict[str, Any] = {
            "order_id": order_id,
            "customer_id": customer_id,
            "lines": [
                {"sku": p.sku, "quantity": q, "unit_price": str(p.price), "category": p.category}
                for p, q in lines
            ],
            "currency": currency,
            "channel": self.rng.choice(CHANNELS),
            "region": region,
            "warehouse": warehouse,
            "total": str(total),
            "coupon_code": f"SAVE{self.rng.randint(5, 30)}",
        }
        self._emit("OrderPlaced", data, at)
        for product, quantity in lines:
            self._adjust(product.sku, warehouse, "reservation", -quantity, at, order_id)
        invoice_id = self._next_id("inv")
        self._emit(
            "InvoiceIssued",
            {
                "invoice_id": invoice_id,
                "order_id": order_id,
                "customer_id": customer_id,
                "amount": str(total),
                "currency": currency,
                "due_date": (at.date() + timedelta(days=14)).isoformat(),
            },
            at,
        )
        self.unpaid.append(
            _Order(
                order_id,
                customer_id,
                warehouse,
                currency,
                total,
                [(p.sku, q) for p, q in lines],
                invoice_id,
            )
        )

    def _pay(self, at: datetime) -> None:
        order = self.unpaid.pop(self.rng.randrange(len(self.unpaid)))
        order.payment_id = self._next_id("pay")
        self._emit(
            "PaymentCaptured",
            {
                "payment_id": order.payment_id,
                "invoice_id": order.invoice_id,
                "order_id": order.order_id,
                "amount": str(order.total),
                "currency": order.currency,
                "method": self.rng.choice(("card", "paypal", "bank_transfer", "gift_card")),
            },
            at,
        )
        self.paid.append(order)

    def _refund(self, order: _Order, reason: str, at: datetime) -> None:
        assert order.payment_id is not None
        self._emit(
            "RefundIssued",
            {
                "refund_id": self._next_id("ref"),
                "payment_id": order.payment_id,
                "invoice_id": order.invoice_id,
                "order_id": order.order_id,
                "amount": str(order.total),
                "currency": order.currency,
                "reason": reason,
            },
            at,
        )

    def _cancel(self, at: datetime) -> None:
        pool = (
            self.unpaid if self.unpaid and (not self.paid or self.rng.random() < 0.6) else self.paid
        )
        order = pool.pop(self.rng.randrange(len(pool)))
        reason = (
            "payment_failed"
            if pool is self.unpaid and self.rng.random() < 0.5
            else "customer_request"
        )
        self._emit(
            "OrderCancelled",
            {
                "order_id": order.order_id,
                "customer_id": order.customer_id,
                "reason": reason,
                "currency": order.currency,
            },
            at,
        )
        for sku, quantity in order.lines:
            self._adjust(sku, order.warehouse, "release", quantity, at, order.order_id)
        if order.payment_id:
            self._refund(order, "cancelled", at)
        order.closed = True

    def _ship(self, at: datetime) -> None:
        order = self.paid.pop(self.rng.randrange(len(self.paid)))
        order.shipped = True
        self._emit(
            "OrderShipped",
            {
                "order_id": order.order_id,
                "warehouse": order.warehouse,
                "carrier": self.rng.choice(("dhl", "ups", "fedex", "postnl")),
                "tracking_number": f"TRK{self.rng.randrange(10**9):09d}",
            },
            at,
        )
        self.shipped.append(order)
        if len(self.shipped) > 5000:  # only recent shipments are returned
            self.shipped = self.shipped[-2500:]

    def _return(self, at: datetime) -> None:
        order = self.shipped.pop(self.rng.randrange(len(self.shipped)))
        self._refund(order, self.rng.choice(("returned", "damaged", "goodwill")), at)

    def _login(self, at: datetime) -> None:
        customer_id, region = self._customer(at)
        self._emit(
            "CustomerLoggedIn",
            {"customer_id": customer_id, "channel": self.rng.choice(CHANNELS), "region": region},
            at,
        )

    def _update_profile(self, at: datetime) -> None:
        if not self.customers:
            self._register(at)
            return
        customer_id, _region = self.rng.choice(self.customers)
        data: dict[str, Any] = {"customer_id": customer_id}
        if self.rng.random() < 0.5:
            data["marketing_opt_in"] = self.rng.random() < 0.5
        else:
            data["email"] = f"{customer_id}.new{self.rng.randrange(1000)}@example.com"
        self._emit("CustomerProfileUpdated", data, at)

    def emit_at(self, at: datetime) -> list[ShopEvent]:
        """One business action at time `at`; returns its events (one or several)."""
        roll = self.rng.random()
        if roll < 0.30:
            self._login(at)
        elif roll < 0.55:
            self._place_order(at)
        elif roll < 0.72 and self.unpaid:
            self._pay(at)
        elif roll < 0.84 and self.paid:
            self._ship(at)
        elif roll < 0.88 and (self.unpaid or self.paid):
            self._cancel(at)
        elif roll < 0.90 and self.shipped:
            self._return(at)
        elif roll < 0.94:
            self._update_profile(at)
        elif roll < 0.97:
            self._register(at) if len(self.customers) < self.config.customers else self._login(at)
        else:
            self._login(at)
        events, self._pending = self._pending, []
        return events

    def events(self, times: Iterator[datetime]) -> Iterator[ShopEvent]:
        """Events for each action time in `times`."""
        for at in times:
            yield from self.emit_at(at)


def day_bounds(day: date) -> tuple[datetime, datetime]:

    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)
