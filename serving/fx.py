"""One figure from many currencies: conversion only through dated reference rates.

Gold keeps every money figure per currency and nothing in Rapport adds two currencies. A
report that wants one figure converts each per-currency row through the rate of that row's
own day in `ref.fx_rates` (loaded from reference/fx_rates.csv, every rate with its source),
then adds the converted rows. The rules, all explicit:

- a row already in the reporting currency is kept as it is (no rate needed);
- otherwise the rate of the row's day with base = the row's currency and quote = the
  reporting currency multiplies it; failing that, the rate base = reporting, quote = the
  row's currency divides it. No rate of another day, no cross rate through a third
  currency: a missing rate fails with `MissingRateError`, naming every day and currency missing;
- a row in NO_CURRENCY (a count whose event stated no currency) holds no money: its money
  must be zero, and it converts without a rate;
- each converted amount is rounded half up to the cent, row by row, and every converted row
  keeps the rate it went through and its source.

Pure Python over Decimals (no JVM): for the dashboard, `rapport sql` users and tests alike.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from rapport.contracts.currency import NO_CURRENCY, currencies

#: The shipped reference rates (docs/decisions/0010-money-per-currency.md says where from).
FX_RATES_CSV = Path(__file__).resolve().parent.parent / "reference" / "fx_rates.csv"
CSV_COLUMNS = ("rate_date", "base_currency", "quote_currency", "rate", "source")
#: ref.fx_rates keeps rates as decimal(18,8).
RATE_DIGITS, RATE_SCALE = 18, 8
CENT = Decimal("0.01")


class FxError(ValueError):
    """A rates file that is not valid reference data; the message names the line."""


class MissingRateError(LookupError):
    """No rate for some day and currency: the conversion refuses to guess."""

    def __init__(self, to: str, missing: Iterable[tuple[date, str]]) -> None:
        self.to = to
        self.missing = sorted(set(missing))
        listed = ", ".join(f"{day.isoformat()} {currency}" for day, currency in self.missing)
        super().__init__(
            f"no exchange rate to {to} in ref.fx_rates for: {listed}. Add the rates of "
            f"those days (with their source) to reference/fx_rates.csv and load it "
            f"(Dagster asset ref/fx_rates); nothing was converted."
        )


@dataclass(frozen=True)
class FxRate:
    """On `rate_date`, one `base_currency` is `rate` `quote_currency`, per `source`."""

    rate_date: date
    base_currency: str
    quote_currency: str
    rate: Decimal
    source: str

    @property
    def key(self) -> tuple[date, str, str]:
        return (self.rate_date, self.base_currency, self.quote_currency)


def _rate(text: str, where: str) -> Decimal:
    try:
        rate = Decimal(text)
    except InvalidOperation:
        raise FxError(f"{where}: rate {text!r} is not a decimal number") from None
    if not rate.is_finite() or rate <= 0:
        raise FxError(f"{where}: rate {text!r} must be a positive number")
    exponent = rate.as_tuple().exponent
    assert isinstance(exponent, int)  # finite
    if -exponent > RATE_SCALE or rate.adjusted() >= RATE_DIGITS - RATE_SCALE:
        raise FxError(f"{where}: rate {text!r} does not fit decimal({RATE_DIGITS},{RATE_SCALE})")
    return rate


def parse_rates(lines: Iterable[str], name: str = "fx_rates.csv") -> list[FxRate]:
    """The rates of a CSV (`CSV_COLUMNS`), checked; `FxError` names the first bad line."""
    reader = csv.DictReader(lines)
    if tuple(reader.fieldnames or ()) != CSV_COLUMNS:
        raise FxError(f"{name}: the header must be {','.join(CSV_COLUMNS)}")
    known = set(currencies())
    rates: dict[tuple[date, str, str], FxRate] = {}
    for row in reader:
        where = f"{name} line {reader.line_num}"
        if None in row or any(row[c] is None for c in CSV_COLUMNS):
            raise FxError(f"{where}: expected {len(CSV_COLUMNS)} columns")
        try:
            day = date.fromisoformat(row["rate_date"])
        except ValueError:
            raise FxError(f"{where}: rate_date {row['rate_date']!r} is not YYYY-MM-DD") from None
        base, quote = row["base_currency"], row["quote_currency"]
        for currency in (base, quote):
            if currency not in known:
                raise FxError(f"{where}: {currency!r} is not a currency of the contracts")
        if base == quote:
            raise FxError(f"{where}: base and quote are both {base}")
        source = row["source"].strip()
        if not source:
            raise FxError(f"{where}: every rate states its source")
        rate = FxRate(day, base, quote, _rate(row["rate"], where), source)
        if rate.key in rates:
            raise FxError(f"{where}: a second rate for {day} {base}/{quote}")
        rates[rate.key] = rate
    return list(rates.values())


def read_rates(path: Path = FX_RATES_CSV) -> list[FxRate]:
    """The rates of a CSV file, checked (`parse_rates`)."""
    with path.open(newline="", encoding="utf-8") as lines:
        return parse_rates(lines, path.name)


def rates_from_rows(rows: Iterable[Mapping[str, Any]]) -> list[FxRate]:
    """Rates from rows of ref.fx_rates (e.g. `serving.sql.query(...).to_pylist()`)."""
    return [
        FxRate(
            r["rate_date"],
            r["base_currency"],
            r["quote_currency"],
            Decimal(str(r["rate"])),
            r["source"],
        )
        for r in rows
    ]


def _is_zero(value: Any) -> bool:
    return value is None or Decimal(str(value)) == 0


def convert(
    rows: Iterable[Mapping[str, Any]],
    rates: Iterable[FxRate],
    to: str,
    money: Sequence[str],
    *,
    date_column: str = "event_date",
) -> list[dict[str, Any]]:
    """Each per-currency row with its `money` columns in `to`, through its own day's rate.

    A converted row keeps every other column, says `currency` = `to`, and adds
    `original_currency`, `fx_rate`, `fx_pair` (e.g. "EUR/USD": the rate used, quote per
    base) and `fx_source` (all None when no rate was needed). Raises `MissingRateError` listing
    every day and currency without a rate, before converting anything.
    """
    by_key = {r.key: r for r in rates}
    found: list[tuple[dict[str, Any], FxRate | None, bool]] = []
    missing: list[tuple[date, str]] = []
    for row in rows:
        currency, day = row["currency"], row[date_column]
        if currency == to:
            found.append((dict(row), None, False))
        elif currency == NO_CURRENCY:
            if not all(_is_zero(row[m]) for m in money):
                raise ValueError(f"a {NO_CURRENCY} row holds money on {day}: {dict(row)}")
            found.append((dict(row), None, False))
        elif (direct := by_key.get((day, currency, to))) is not None:
            found.append((dict(row), direct, False))
        elif (inverse := by_key.get((day, to, currency))) is not None:
            found.append((dict(row), inverse, True))
        else:
            missing.append((day, currency))
    if missing:
        raise MissingRateError(to, missing)
    converted = []
    for row, rate, divide in found:
        out = {**row, "currency": to, "original_currency": row["currency"]}
        for column in money:
            value = row[column]
            if value is not None:
                amount = Decimal(str(value))
                if rate is not None:
                    amount = amount / rate.rate if divide else amount * rate.rate
                out[column] = amount.quantize(CENT, ROUND_HALF_UP)
        out["fx_rate"] = None if rate is None else rate.rate
        out["fx_pair"] = None if rate is None else f"{rate.base_currency}/{rate.quote_currency}"
        out["fx_source"] = None if rate is None else rate.source
        converted.append(out)
    return converted


def totals(
    rows: Iterable[Mapping[str, Any]],
    rates: Iterable[FxRate],
    to: str,
    money: Sequence[str],
    *,
    counts: Sequence[str] = (),
    by: Sequence[str] = ("event_date",),
) -> list[dict[str, Any]]:
    """One row per `by` group: its `money` converted to `to` (`convert`) and then added,
    with its `counts` added as they are. The first column of `by` is the day whose rates
    apply. Averages are not added: compute them from these."""
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    date_column = by[0]
    for row in convert(rows, rates, to, money, date_column=date_column):
        key = tuple(row[c] for c in by)
        group = groups.setdefault(
            key,
            {**dict(zip(by, key, strict=True)), "currency": to,
             **{m: Decimal("0.00") for m in money}, **{c: 0 for c in counts}},
        )  # fmt: skip
        for m in money:
            if row[m] is not None:
                group[m] += row[m]
        for c in counts:
            group[c] += row[c] or 0
    return [groups[k] for k in sorted(groups)]
