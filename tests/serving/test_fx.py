"""Converting per-currency figures to one currency: only through the day's reference rate,
and never silently when one is missing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from rapport.contracts.currency import NO_CURRENCY
from serving.fx import (
    FX_RATES_CSV,
    FxError,
    FxRate,
    MissingRateError,
    convert,
    parse_rates,
    read_rates,
    totals,
)

pytestmark = pytest.mark.unit

MON, TUE = date(2026, 11, 23), date(2026, 11, 24)
SOURCE = "test rates"
RATES = [
    FxRate(MON, "EUR", "USD", Decimal("1.0500"), SOURCE),
    FxRate(MON, "EUR", "GBP", Decimal("0.84000"), SOURCE),
    FxRate(TUE, "EUR", "USD", Decimal("1.1000"), SOURCE),
]


def _row(day: date, currency: str, value: str, orders: int = 1) -> dict[str, object]:
    return {"event_date": day, "currency": currency, "order_value": Decimal(value),
            "orders": orders}  # fmt: skip


def test_the_shipped_rates_are_valid_dated_and_sourced() -> None:
    rates = read_rates()
    assert rates
    assert all(r.source and r.rate > 0 for r in rates)
    assert {(r.base_currency, r.quote_currency) for r in rates} == {("EUR", "USD"), ("EUR", "GBP")}
    assert FX_RATES_CSV.name == "fx_rates.csv"


def test_each_row_converts_through_its_own_days_rate() -> None:
    rows = [_row(MON, "USD", "105.00"), _row(TUE, "USD", "110.00"), _row(MON, "EUR", "7.00")]
    out = convert(rows, RATES, "EUR", ["order_value"])
    # USD to EUR divides by the day's EUR/USD rate: each day its own.
    assert [r["order_value"] for r in out] == [Decimal("100.00"), Decimal("100.00"),
                                               Decimal("7.00")]  # fmt: skip
    assert {r["currency"] for r in out} == {"EUR"}
    assert [r["original_currency"] for r in out] == ["USD", "USD", "EUR"]
    assert out[0]["fx_pair"] == "EUR/USD"
    assert out[0]["fx_rate"] == Decimal("1.0500")
    assert out[0]["fx_source"] == SOURCE
    assert out[2]["fx_rate"] is None  # already in EUR: no rate needed, none claimed
    assert out[0]["orders"] == 1  # counts are not money: kept as they are


def test_direct_rates_multiply_and_round_half_up_to_the_cent() -> None:
    (out,) = convert([_row(MON, "EUR", "10.05")], RATES, "USD", ["order_value"])
    assert out["order_value"] == Decimal("10.55")  # 10.5525 -> 10.55
    (out,) = convert([_row(MON, "EUR", "0.10")], RATES, "USD", ["order_value"])
    assert out["order_value"] == Decimal("0.11")  # 0.105 -> 0.11, half up


def test_a_missing_rate_fails_naming_every_day_and_currency_and_converts_nothing() -> None:
    rows = [_row(MON, "USD", "1.00"), _row(TUE, "GBP", "1.00"), _row(date(2026, 11, 25), "USD",
            "1.00")]  # fmt: skip
    with pytest.raises(MissingRateError) as failure:
        convert(rows, RATES, "EUR", ["order_value"])
    assert failure.value.missing == [(TUE, "GBP"), (date(2026, 11, 25), "USD")]
    assert "2026-11-24 GBP" in str(failure.value)
    assert "reference/fx_rates.csv" in str(failure.value)


def test_no_cross_rate_through_a_third_currency() -> None:
    # GBP to USD would need EUR as a pivot: not a rate the table states, so it fails.
    with pytest.raises(MissingRateError):
        convert([_row(MON, "GBP", "1.00")], RATES, "USD", ["order_value"])


def test_no_currency_rows_hold_no_money_and_need_no_rate() -> None:
    row = {"event_date": TUE, "currency": NO_CURRENCY, "order_value": Decimal("0.00"),
           "orders": 0, "cancellations": 2}  # fmt: skip
    (out,) = convert([row], RATES, "EUR", ["order_value"])
    assert (out["currency"], out["cancellations"], out["fx_rate"]) == ("EUR", 2, None)
    with pytest.raises(ValueError, match="holds money"):
        convert([{**row, "order_value": Decimal("1.00")}], RATES, "EUR", ["order_value"])


def test_totals_add_converted_money_and_counts_per_day() -> None:
    rows = [_row(MON, "USD", "105.00", 2), _row(MON, "EUR", "5.00", 1), _row(TUE, "EUR", "1.00")]
    got = totals(rows, RATES, "EUR", ["order_value"], counts=["orders"])
    assert got == [
        {"event_date": MON, "currency": "EUR", "order_value": Decimal("105.00"), "orders": 3},
        {"event_date": TUE, "currency": "EUR", "order_value": Decimal("1.00"), "orders": 1},
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("2026-11-23,EUR,USD,1.05,", "source"),
        ("2026-11-23,EUR,EUR,1,ECB", "both EUR"),
        ("2026-11-23,EUR,JPY,160,ECB", "not a currency"),
        ("2026-11-23,EUR,USD,-1.05,ECB", "positive"),
        ("2026-11-23,EUR,USD,abc,ECB", "not a decimal"),
        ("2026-11-23,EUR,USD,1.123456789,ECB", r"decimal\(18,8\)"),
        ("23/11/2026,EUR,USD,1.05,ECB", "YYYY-MM-DD"),
        ("2026-11-23,EUR,USD,1.05", "columns"),
    ],
)
def test_a_bad_rates_file_is_refused_with_its_line(line: str, message: str) -> None:
    header = "rate_date,base_currency,quote_currency,rate,source"
    with pytest.raises(FxError, match=message) as failure:
        parse_rates([header, line])
    assert "line 2" in str(failure.value)


def test_a_second_rate_for_the_same_day_and_pair_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rates.csv"
    path.write_text(
        "rate_date,base_currency,quote_currency,rate,source\n"
        "2026-11-23,EUR,USD,1.05,ECB\n2026-11-23,EUR,USD,1.06,other\n"
    )
    with pytest.raises(FxError, match="second rate"):
        read_rates(path)
    path.write_text("day,from,to,rate\n")
    with pytest.raises(FxError, match="header"):
        read_rates(path)
