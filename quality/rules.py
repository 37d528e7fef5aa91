"""The quality rules of every table, derived from the table catalog and the event contracts.

One source of truth: a silver column's allowed values and ranges come from the JSON Schemas
of the contracts that feed it, its required columns and keys from `rapport.lakehouse.tables`. Only
what neither can say is written here: which money can never be negative, and the rules
across tables (an order line belongs to an order, a payment to an invoice, an order's value
is the sum of its lines). The GX suites (`quality.suites`) and docs/quality.md derive from
these objects; nothing here imports Great Expectations, Spark or Dagster.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from pyspark.sql.types import DecimalType, IntegerType, LongType, StructType

from rapport.contracts.catalog import default_catalog
from rapport.contracts.currency import NO_CURRENCY, currencies
from rapport.lakehouse.tables import (
    DAILY_TABLES,
    GOLD_COHORT_RETENTION,
    GOLD_DAILY_INVENTORY,
    GOLD_INVENTORY_CURRENT,
    GOLD_SALES_BY_DAY,
    GOLD_TABLES,
    SILVER_INVENTORY,
    SILVER_INVOICES,
    SILVER_ORDER_LINES,
    SILVER_ORDERS,
    SILVER_PAYMENTS,
    SILVER_TABLES,
    TableDef,
)

RuleKind = Literal["not_null", "unique", "in_set", "between", "references", "equals_sum"]

#: Tables with quality suites: the gates sit on silver, the stream's gold and the daily gold.
CHECKED_TABLES: tuple[TableDef, ...] = (*SILVER_TABLES, *GOLD_TABLES, *DAILY_TABLES)

#: Gold measures that may legitimately be negative (refunds can exceed a day's sales).
SIGNED_MEASURES = frozenset({"net_revenue", "outstanding_amount"})

#: Stock that can never go below zero: "inventory never below zero".
STOCK_COLUMNS: dict[str, tuple[str, ...]] = {
    SILVER_INVENTORY.qualified_name: ("on_hand",),
    GOLD_INVENTORY_CURRENT.qualified_name: ("on_hand",),
    GOLD_DAILY_INVENTORY.qualified_name: ("closing_on_hand",),
}


@dataclass(frozen=True)
class Rule:
    """One check of one table; `blocking` rules stop what is computed from the table."""

    table: str
    name: str
    kind: RuleKind
    columns: tuple[str, ...]
    description: str
    #: Where the rule comes from: a contract, the catalog, or a rule stated here.
    origin: str
    blocking: bool = True
    value_set: tuple[Any, ...] = ()
    min_value: float | None = None
    max_value: float | None = None
    #: Rules across tables: the other table and its columns (a parent key, or the summed one).
    other_table: str | None = None
    other_columns: tuple[str, ...] = ()

    @property
    def cross_table(self) -> bool:
        return self.other_table is not None


def _contract_nodes(table: TableDef) -> dict[str, list[tuple[str, Mapping[str, Any]]]]:
    """Each payload column of a silver table -> (contract name, JSON Schema node), all versions.

    Order lines take their columns from the items of OrderPlaced's `lines`.
    """
    catalog = default_catalog()
    nodes: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
    for event_type in table.sources:
        for contract in catalog.versions(event_type):
            properties: Mapping[str, Any] = contract.schema.get("properties", {})
            if table is SILVER_ORDER_LINES:
                properties = properties["lines"]["items"].get("properties", {})
            origin = f"contract {contract.event_type} v{contract.version}"
            for column, node in properties.items():
                nodes.setdefault(column, []).append((origin, node))
    return nodes


def _contract_rules(table: TableDef) -> Iterator[Rule]:
    """Allowed values and ranges of a silver table's columns, as its contracts state them."""
    columns = set(table.schema.fieldNames())
    for column, found in _contract_nodes(table).items():
        if column not in columns:
            continue
        origins = ", ".join(sorted({origin for origin, _ in found}))
        enums = [node["enum"] for _, node in found if "enum" in node]
        if enums:
            allowed = tuple(sorted({v for values in enums for v in values}))
            yield Rule(
                table=table.qualified_name,
                name=f"{column}_in_contract_values",
                kind="in_set",
                columns=(column,),
                description=f"`{column}` is one of {', '.join(map(str, allowed))}",
                origin=origins,
                value_set=allowed,
            )
        minimums = [node["minimum"] for _, node in found if "minimum" in node]
        maximums = [node["maximum"] for _, node in found if "maximum" in node]
        if minimums or maximums:
            low = min(minimums) if minimums else None
            high = max(maximums) if maximums else None
            yield Rule(
                table=table.qualified_name,
                name=f"{column}_in_contract_range",
                kind="between",
                columns=(column,),
                description=f"`{column}` is within {_bounds(low, high)}",
                origin=origins,
                min_value=low,
                max_value=high,
            )


def _bounds(low: float | None, high: float | None) -> str:
    if high is None:
        return f"[{low}, +inf)"
    if low is None:
        return f"(-inf, {high}]"
    return f"[{low}, {high}]"


def _is_measure(schema: StructType, column: str) -> bool:
    return isinstance(schema[column].dataType, DecimalType | LongType | IntegerType)


def _non_negative(table: TableDef) -> Iterator[Rule]:
    """Money never below zero where it cannot be, gold counts and amounts, and stock."""
    schema = table.schema
    if table.layer == "silver":
        candidates = [f.name for f in schema.fields if isinstance(f.dataType, DecimalType)] + list(
            STOCK_COLUMNS.get(table.qualified_name, ())
        )
        origin = "money and stock are never negative"
    else:
        candidates = [
            f.name
            for f in schema.fields
            if _is_measure(schema, f.name) and f.name not in SIGNED_MEASURES
        ]
        origin = "gold counts, amounts and stock are never negative"
    for column in dict.fromkeys(candidates):
        yield Rule(
            table=table.qualified_name,
            name=f"{column}_not_negative",
            kind="between",
            columns=(column,),
            description=f"`{column}` is never negative",
            origin=origin,
            min_value=0,
        )


def _gold_currency(table: TableDef) -> Iterator[Rule]:
    """A gold table kept per currency holds only the currencies the contracts allow.

    gold.sales_by_day may also hold NO_CURRENCY: cancellations whose event stated none.
    """
    if table.layer == "silver" or "currency" not in table.schema.fieldNames():
        return
    allowed = currencies() + ((NO_CURRENCY,) if table is GOLD_SALES_BY_DAY else ())
    yield Rule(
        table=table.qualified_name,
        name="currency_in_contract_values",
        kind="in_set",
        columns=("currency",),
        description=f"`currency` is one of {', '.join(allowed)}",
        origin="the contracts' currency codes (money is kept per currency)",
        value_set=allowed,
    )


def _catalog_rules(table: TableDef) -> Iterator[Rule]:
    """Required columns are present and the table's keys identify one row each."""
    for field in table.schema.fields:
        if not field.nullable:
            yield Rule(
                table=table.qualified_name,
                name=f"{field.name}_not_null",
                kind="not_null",
                columns=(field.name,),
                description=f"`{field.name}` is never null",
                origin="table catalog (required column)",
            )
    if table.keys:
        yield Rule(
            table=table.qualified_name,
            name="key_unique",
            kind="unique",
            columns=table.keys,
            description=f"({', '.join(table.keys)}) identifies one row",
            origin="table catalog (keys)",
        )


#: Rules across tables, stated here: the catalog and contracts cannot express them.
CROSS_TABLE_RULES: tuple[Rule, ...] = (
    Rule(
        table=SILVER_ORDER_LINES.qualified_name,
        name="line_belongs_to_order",
        kind="references",
        columns=("event_id",),
        description="every order line belongs to an order in silver.orders (same event)",
        origin="rule: lines and their order come from one OrderPlaced event",
        other_table=SILVER_ORDERS.qualified_name,
        other_columns=("event_id",),
    ),
    Rule(
        table=SILVER_ORDERS.qualified_name,
        name="total_equals_sum_of_lines",
        kind="equals_sum",
        columns=("event_id", "total"),
        description=(
            "an order's `total` equals the sum of its lines' `line_amount` (an order without "
            "lines fails once `quality.lines_in_flight_s` has passed since its ingest_time: "
            "its lines commit after it)"
        ),
        origin="rule: OrderPlaced.total is the sum of quantity x unit price",
        other_table=SILVER_ORDER_LINES.qualified_name,
        other_columns=("event_id", "line_amount"),
    ),
    Rule(
        table=SILVER_PAYMENTS.qualified_name,
        name="payment_belongs_to_invoice",
        kind="references",
        columns=("invoice_id",),
        description="every payment's `invoice_id` is an invoice in silver.invoices",
        # A warning, not a gate: billing's events for one invoice may reach Rapport apart
        # (the invoice late, or in quarantine awaiting a fix); the payment itself is valid.
        origin="rule: billing pays invoices it issued",
        blocking=False,
        other_table=SILVER_INVOICES.qualified_name,
        other_columns=("invoice_id",),
    ),
)

_RETENTION_RANGE = Rule(
    table=GOLD_COHORT_RETENTION.qualified_name,
    name="retention_is_a_share",
    kind="between",
    columns=("retention",),
    description="`retention` is a share of the cohort, within [0, 1]",
    origin="rule: active customers of a cohort never exceed its size",
    min_value=0,
    max_value=1,
)


def rules_for(table: TableDef) -> tuple[Rule, ...]:
    """Every rule of `table`, catalog ones first, then the contracts', then the stated ones."""
    return _rules_for(table.qualified_name)


@cache
def _rules_for(qualified_name: str) -> tuple[Rule, ...]:
    table = next(t for t in CHECKED_TABLES if t.qualified_name == qualified_name)
    found = [*_catalog_rules(table)]
    if table.layer == "silver":
        found += _contract_rules(table)
    found += _gold_currency(table)
    found += _non_negative(table)
    if table is GOLD_COHORT_RETENTION:
        found.append(_RETENTION_RANGE)
    found += [r for r in CROSS_TABLE_RULES if r.table == table.qualified_name]
    names = [r.name for r in found]
    duplicated = {n for n in names if names.count(n) > 1}
    if duplicated:
        raise ValueError(f"{table.qualified_name}: rule names {duplicated} are not unique")
    return tuple(found)


def suite_name(table: TableDef) -> str:
    """The GX suite's name of a table, e.g. silver.orders.quality."""
    return f"{table.qualified_name}.quality"
