"""Compare every table the stream writes with the simulator's ledger: the ground truth.

Money is compared per currency, row for row: gold's key has the currency, and so has the
ledger's, so a figure in one currency can never make up for another.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, timedelta
from decimal import Decimal
from typing import Any

from pyspark.sql import functions as F

from rapport.lakehouse.tables import (
    ACTIVE_PERIODS,
    BRONZE_QUARANTINE,
    GOLD_ACTIVE_CUSTOMERS,
    GOLD_INVENTORY_CURRENT,
    GOLD_LOW_STOCK,
    GOLD_ORDERS_PER_MINUTE,
    GOLD_SALES_BY_DAY,
    GOLD_SIGNUPS_PER_HOUR,
    SILVER_INVENTORY,
    TableDef,
)
from rapport.settings import Settings
from rapport.simulator.ledger import Ledger
from streaming.refine import EVENT_TABLES


def rows(spark: Any, settings: Settings, table: TableDef) -> list[Any]:
    return list(spark.read.format("delta").load(table.location(settings)).collect())


def _money(value: Any) -> str:
    return str(Decimal(value).quantize(Decimal("0.01")))


def silver_counts(spark: Any, settings: Settings) -> Counter[str]:
    """Events per type across the silver event tables (each event id once)."""

    found: Counter[str] = Counter()
    for table in EVENT_TABLES:
        frame = spark.read.format("delta").load(table.location(settings))
        assert frame.count() == frame.select("event_id").distinct().count(), table.name
        if len(table.sources) == 1:
            found[table.sources[0]] += frame.count()
        else:
            label = "update_type" if "update_type" in frame.columns else "activity"
            for r in frame.groupBy(label).agg(F.count("*").alias("n")).collect():
                found[_SOURCE_OF[r[label]]] += r["n"]
    return found


_SOURCE_OF = {
    "cancelled": "OrderCancelled",
    "shipped": "OrderShipped",
    "registered": "CustomerRegistered",
    "logged_in": "CustomerLoggedIn",
    "profile_updated": "CustomerProfileUpdated",
}


def assert_tables_match(spark: Any, settings: Settings, ledger: Ledger) -> None:
    """Silver, gold and quarantine equal what the ledger says was sent, exactly."""
    expected = ledger.expected()
    assert silver_counts(spark, settings) == Counter(expected["events_by_type"])
    quarantined = rows(spark, settings, BRONZE_QUARANTINE)
    assert len(quarantined) == ledger.sent["malformed"] + ledger.sent["unknown_type"]
    assert all(r.reason for r in quarantined)
    assert_gold_matches(spark, settings, ledger)
    want_stock = {(i["sku"], i["warehouse"]): i["on_hand"] for i in expected["inventory_on_hand"]}
    assert {(r.sku, r.warehouse): r.on_hand for r in rows(spark, settings, SILVER_INVENTORY)} == (
        want_stock
    )
    active = {r.period: r for r in rows(spark, settings, GOLD_ACTIVE_CUSTOMERS)}
    for label, seconds in ACTIVE_PERIODS:
        row = active[label]
        want = ledger.active_customers_between(
            row.as_of.replace(tzinfo=UTC), timedelta(seconds=seconds)
        )
        assert row.active_customers == want, label


def assert_gold_matches(spark: Any, settings: Settings, ledger: Ledger) -> None:
    """The hot path's gold tables (straight from Kafka) equal the ledger, exactly: orders per
    minute, sales per day and currency, signups per hour, stock and low stock."""
    expected = ledger.expected()
    got_minutes = {
        (r.minute.strftime("%Y-%m-%dT%H:%M"), r.region, r.channel, r.currency): (
            r.orders,
            _money(r.order_value),
        )
        for r in rows(spark, settings, GOLD_ORDERS_PER_MINUTE)
    }
    want_minutes = {
        (m["minute"], m["region"], m["channel"], m["currency"]): (m["orders"], m["order_value"])
        for m in expected["orders_per_minute_by_region_channel"]
    }
    assert got_minutes == want_minutes

    figures = (
        "orders", "order_value", "average_order_value", "cancellations", "refunds",
        "refund_amount", "net_revenue", "payments", "payment_amount", "invoiced_amount",
    )  # fmt: skip
    got_days = {
        (r.event_date.isoformat(), r.currency): {
            f: (_money(getattr(r, f)) if isinstance(getattr(r, f), Decimal) else getattr(r, f))
            for f in figures
        }
        for r in rows(spark, settings, GOLD_SALES_BY_DAY)
    }
    want_days = {
        (day, currency): {f: v[f] for f in figures}
        for day, by_currency in expected["sales_by_day"].items()
        for currency, v in by_currency.items()
    }
    assert got_days == want_days
    assert len({c for _, c in want_days}) > 1, "the ledger should hold several currencies"

    want_hours: Counter[str] = Counter()
    for minute, v in expected["per_minute"].items():
        if v["signups"]:
            want_hours[minute[:13]] += v["signups"]
    got_hours = {
        r.hour.strftime("%Y-%m-%dT%H"): r.signups
        for r in rows(spark, settings, GOLD_SIGNUPS_PER_HOUR)
    }
    assert got_hours == dict(want_hours)

    want_stock = {(i["sku"], i["warehouse"]): i["on_hand"] for i in expected["inventory_on_hand"]}
    current = rows(spark, settings, GOLD_INVENTORY_CURRENT)
    assert {(r.sku, r.warehouse): r.on_hand for r in current} == want_stock
    assert {(r.sku, r.warehouse): r.shortfall for r in rows(spark, settings, GOLD_LOW_STOCK)} == {
        (i["sku"], i["warehouse"]): i["shortfall"] for i in expected["low_stock"]
    }


@dataclass(frozen=True)
class Tally:
    """Every event the ledger sent, and where it ended up: the chaos report's line."""

    produced: int
    landed: int
    lost: int
    duplicated: int
    to_quarantine: int
    quarantined: int


def tally(spark: Any, settings: Settings, ledger: Ledger) -> Tally:
    """Count, by event id, what reached silver against what the ledger sent.

    Lost: a valid event the ledger sent that no silver table holds. Duplicated: every silver
    row beyond the first of its event id, and every row of an id the ledger never sent.
    """
    ids: Counter[str] = Counter()
    for table in EVENT_TABLES:
        frame = spark.read.format("delta").load(table.location(settings))
        ids.update(r.event_id for r in frame.select("event_id").collect())
    sent = ledger.seen_ids
    landed = len(sent & ids.keys())
    extra = sum(n - 1 for n in ids.values()) + sum(ids[i] for i in ids.keys() - sent)
    quarantined = spark.read.format("delta").load(BRONZE_QUARANTINE.location(settings)).count()
    return Tally(
        produced=len(sent),
        landed=landed,
        lost=len(sent) - landed,
        duplicated=extra,
        to_quarantine=ledger.sent["malformed"] + ledger.sent["unknown_type"],
        quarantined=quarantined,
    )
