"""Currencies: the codes the contracts allow, and the code a count gets when its event has none.

Money is never added across currencies in Rapport: every money figure is kept per currency
(a `currency` column in the key of each gold table that holds money), and a report that
wants one figure converts through the dated rates of `ref.fx_rates` (`serving.fx`).
See docs/decisions/0010-money-per-currency.md.
"""

from __future__ import annotations

from functools import cache

from rapport.contracts.catalog import default_catalog

#: ISO 4217's code for "no currency involved". A count that is not money but is kept per
#: currency gets it when its event states no currency: an OrderCancelled of contract v1
#: (v2 carries the currency of the order cancelled).
NO_CURRENCY = "XXX"


@cache
def currencies() -> tuple[str, ...]:
    """Every currency code a contract allows (the enums of the `currency` fields), sorted."""
    found: set[str] = set()
    for contract in default_catalog():
        node = contract.schema.get("properties", {}).get("currency", {})
        found.update(node.get("enum", ()))
    return tuple(sorted(found))
