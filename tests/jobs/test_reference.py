"""The rates file into ref.fx_rates on real Delta, read back by the embedded SQL, converting."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from jobs.reference import load_fx_rates
from rapport.lakehouse.spark_catalog import ensure_table
from rapport.lakehouse.tables import REF_FX_RATES
from serving.fx import MissingRateError, convert, rates_from_rows, read_rates
from serving.sql import query
from tests.helpers.settings import SettingsFactory

pytestmark = pytest.mark.spark

SELECT = "SELECT rate_date, base_currency, quote_currency, rate, source FROM ref.fx_rates"


def test_the_file_replaces_the_table_and_reports_convert_through_it(
    make_settings: SettingsFactory, spark: Any, tmp_path: Path
) -> None:
    own = make_settings("reference")
    ensure_table(spark, own, REF_FX_RATES, register_name=False)

    assert load_fx_rates(spark, own) == len(read_rates())
    stored = rates_from_rows(query(own, SELECT).to_pylist())
    assert sorted(stored, key=lambda r: r.key) == sorted(read_rates(), key=lambda r: r.key)

    # A new file replaces the table: it says what the file says, nothing older.
    smaller = tmp_path / "rates.csv"
    smaller.write_text(
        "rate_date,base_currency,quote_currency,rate,source\n"
        "2026-11-26,EUR,USD,1.25000000,test source\n"
    )
    assert load_fx_rates(spark, own, smaller) == 1
    rates = rates_from_rows(query(own, SELECT).to_pylist())
    assert [(r.rate_date, r.rate, r.source) for r in rates] == [
        (date(2026, 11, 26), Decimal("1.25000000"), "test source")
    ]
    row = {"event_date": date(2026, 11, 26), "currency": "USD", "order_value": Decimal("5.00")}
    (out,) = convert([row], rates, "EUR", ["order_value"])
    assert (out["order_value"], out["fx_source"]) == (Decimal("4.00"), "test source")
    with pytest.raises(MissingRateError, match="2026-11-27 USD"):
        convert([{**row, "event_date": date(2026, 11, 27)}], rates, "EUR", ["order_value"])
