"""The rules come from the catalog and the contracts: change those and the suites follow."""

from __future__ import annotations

import pytest

from quality.rules import CHECKED_TABLES, rules_for
from rapport.contracts.catalog import default_catalog
from rapport.lakehouse.tables import (
    GOLD_DAILY_BILLING,
    GOLD_SALES_BY_DAY,
    SILVER_INVENTORY,
    SILVER_INVENTORY_MOVEMENTS,
    SILVER_ORDER_LINES,
    SILVER_ORDERS,
    SILVER_PAYMENTS,
)

pytestmark = pytest.mark.unit


def _by_name(table: object) -> dict[str, object]:
    return {r.name: r for r in rules_for(table)}  # type: ignore[arg-type]


def test_every_required_column_and_key_is_checked() -> None:
    for table in CHECKED_TABLES:
        names = set(_by_name(table))
        for field in table.schema.fields:
            if not field.nullable:
                assert f"{field.name}_not_null" in names, (table.qualified_name, field.name)
        if table.keys:
            assert "key_unique" in names, table.qualified_name


def test_allowed_values_and_ranges_are_the_contracts() -> None:
    orders = _by_name(SILVER_ORDERS)
    schema = default_catalog().latest("OrderPlaced").schema
    region = orders["region_in_contract_values"]
    assert set(region.value_set) == set(schema["properties"]["region"]["enum"])  # type: ignore[attr-defined]
    lines = _by_name(SILVER_ORDER_LINES)
    quantity = lines["quantity_in_contract_range"]
    item = schema["properties"]["lines"]["items"]["properties"]["quantity"]
    assert (quantity.min_value, quantity.max_value) == (item["minimum"], item["maximum"])  # type: ignore[attr-defined]
    movements = _by_name(SILVER_INVENTORY_MOVEMENTS)
    assert movements["on_hand_after_in_contract_range"].min_value == 0  # type: ignore[attr-defined]


def test_money_and_stock_never_negative_but_net_figures_may_be() -> None:
    assert "total_not_negative" in _by_name(SILVER_ORDERS)
    assert "on_hand_not_negative" in _by_name(SILVER_INVENTORY)
    sales = _by_name(GOLD_SALES_BY_DAY)
    assert "order_value_not_negative" in sales
    assert "net_revenue_not_negative" not in sales
    assert "outstanding_amount_not_negative" not in _by_name(GOLD_DAILY_BILLING)


def test_gold_money_tables_hold_only_the_contracts_currencies() -> None:
    from rapport.contracts.currency import NO_CURRENCY
    from rapport.lakehouse.tables import GOLD_DAILY_SALES, GOLD_ORDERS_PER_MINUTE

    for table in (GOLD_SALES_BY_DAY, GOLD_DAILY_BILLING, GOLD_DAILY_SALES, GOLD_ORDERS_PER_MINUTE):
        rule = _by_name(table)["currency_in_contract_values"]
        assert {"EUR", "USD", "GBP"} <= set(rule.value_set), table.name  # type: ignore[attr-defined]
        assert (NO_CURRENCY in rule.value_set) == (table is GOLD_SALES_BY_DAY), table.name  # type: ignore[attr-defined]
        assert "currency" in table.keys


def test_cross_table_rules_sit_on_the_child_and_a_payment_without_invoice_only_warns() -> None:
    assert _by_name(SILVER_ORDER_LINES)["line_belongs_to_order"].blocking  # type: ignore[attr-defined]
    assert _by_name(SILVER_ORDERS)["total_equals_sum_of_lines"].blocking  # type: ignore[attr-defined]
    assert not _by_name(SILVER_PAYMENTS)["payment_belongs_to_invoice"].blocking  # type: ignore[attr-defined]
