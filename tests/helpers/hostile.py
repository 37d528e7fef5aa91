"""Hostile Kafka records, generated: each a mutation of a valid event, with the verdict it needs.

The hypothesis strategies here feed two tests: the parse-and-validate path alone
(`tests/rapport/contracts/test_hostile.py`, thousands of records) and a sample sent through
the real broker and stream (`tests/chaos/test_stream_kills.py`). Every record is rejected
for a known reason; none may stop the stream, and none may take a valid event with it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from hypothesis import strategies as st

from rapport.contracts.catalog import default_catalog
from rapport.simulator.shop import Shop, ShopConfig
from rapport.simulator.wire import WireRecord, encode
from tests.helpers.streams import START, times

#: When the broker is taken to have received a generated record.
RECEIVED_AT = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Hostile:
    """One hostile record: its bytes, what was done to it, the reason prefix it must get."""

    domain: str
    key: bytes
    value: bytes
    kind: str
    reasons: tuple[str, ...]

    def wire(self) -> WireRecord:
        """As the simulator's record, which the ledger counts as one to quarantine."""
        return WireRecord(self.domain, self.key, self.value, "malformed", reason=self.kind)


@functools.cache
def _bases() -> tuple[Any, ...]:
    """Valid shop events of every type, the material every mutation starts from."""
    shop = Shop(ShopConfig(seed=5, run_tag="hostile", v2_share=0.3), default_catalog())
    events = shop.events(times(START, 500))
    found: dict[str, list[Any]] = {}
    for _, event in zip(range(600), events, strict=False):
        found.setdefault(event.contract.event_type, []).append(event)
    return tuple(e for group in found.values() for e in group[:8])


def _doc(event: Any) -> dict[str, Any]:
    return dict(orjson.loads(encode(event, {})))


def _dumps(doc: Any) -> bytes:
    """JSON as any producer may write it: integers beyond 64 bits and all."""
    return json.dumps(doc, separators=(",", ":")).encode()


_JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
_WRONG = st.one_of(_JSON_SCALARS, st.lists(_JSON_SCALARS, max_size=3), st.just({"x": 1}))


def _json_type(value: Any) -> str:
    """The JSON type of a value (a bool is not a number, an int is one)."""
    if isinstance(value, bool) or value is None:
        return repr(value) if value is None else "boolean"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def _mutations(
    event: Any, received_at: datetime
) -> st.SearchStrategy[tuple[str, bytes, tuple[str, ...]]]:
    """(kind, bytes, accepted reason prefixes) for every way of breaking `event`; a time
    "ahead" is ahead of `received_at`, when the broker is taken to receive the record."""
    doc = _doc(event)
    contract = event.contract
    fields = sorted(doc["data"])
    money = [
        n
        for n, s in contract.schema["properties"].items()
        if s.get("x-rapport-type") and n in fields
    ]

    def with_data(change: Callable[[dict[str, Any]], None]) -> bytes:
        copy = json.loads(_dumps(doc))
        change(copy["data"])
        return _dumps(copy)

    def set_field(name: str, value: Any) -> Callable[[dict[str, Any]], None]:
        return lambda data: data.__setitem__(name, value)

    random_bytes = st.binary(min_size=0, max_size=300).map(
        lambda b: (
            "random_bytes",
            b,
            ("not_json", "not_a_json_object", "missing_envelope", "empty_value"),
        )
    )
    huge = st.integers(min_value=200_000, max_value=900_000).map(
        lambda n: ("huge_payload", with_data(set_field("padding", "x" * n)), ("invalid_payload",))
    )
    deep_doc = st.integers(min_value=1100, max_value=3000).map(
        lambda n: ("deep_nesting", b"[" * n + b"]" * n, ("not_json",))
    )
    # orjson writes at most 255 levels: the nesting goes in as text, up to past what it reads.
    deep_data = st.integers(min_value=50, max_value=1100).map(
        lambda n: (
            "deep_nesting",
            with_data(set_field(fields[0], "__deep__")).replace(
                b'"__deep__"', b"[" * n + b"1" + b"]" * n
            ),
            ("invalid_payload", "not_json"),
        )
    )
    raw = _dumps(doc)
    invalid_utf8 = st.integers(min_value=1, max_value=len(raw) - 2).map(
        lambda i: ("invalid_utf8", raw[:i] + b"\xff\xfe" + raw[i:], ("not_json",))
    )
    wrong_type = (
        st.tuples(st.sampled_from(fields), _WRONG)
        .filter(lambda fv: _json_type(fv[1]) != _json_type(doc["data"][fv[0]]))
        .map(lambda fv: ("wrong_type", with_data(set_field(*fv)), ("invalid_payload",)))
    )
    unknown_type = st.text(
        alphabet=st.characters(min_codepoint=65, max_codepoint=122), min_size=1, max_size=20
    ).map(
        lambda name: (
            "unknown_type",
            _dumps(
                {
                    **doc,
                    "type": f"rapport.{contract.domain}.X{name}",
                    "dataschema": f"urn:rapport:contracts:{contract.domain}:X{name}:v1",
                }
            ),
            ("unknown_event_type", "schema_mismatch"),
        )
    )
    options = [random_bytes, huge, deep_doc, deep_data, invalid_utf8, wrong_type, unknown_type]
    if money:
        bad_money = st.sampled_from(["NaN", "nan", "Infinity", "-Infinity", "1e3", "", "1.5"])
        options.append(
            st.tuples(st.sampled_from(money), bad_money).map(
                lambda fv: ("bad_money", with_data(set_field(*fv)), ("invalid_payload",))
            )
        )
        options.append(
            st.just(
                (
                    "nan_literal",
                    raw.replace(f'"{doc["data"][money[0]]}"'.encode(), b"NaN", 1),
                    ("not_json",),
                )
            )
        )
    past = st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(1999, 12, 31), timezones=st.just(UTC)
    ).map(
        lambda t: (
            "time_far_past",
            _dumps({**doc, "time": t.isoformat()}),
            ("event_time_too_old",),
        )
    )
    future = st.timedeltas(min_value=timedelta(minutes=10), max_value=timedelta(days=3000)).map(
        lambda ahead: (
            "time_far_future",
            _dumps({**doc, "time": (received_at + ahead).isoformat()}),
            ("event_time_ahead",),
        )
    )
    options += [past, future]
    return st.one_of(*options)


@st.composite
def hostile_records(draw: st.DrawFn, received_at: datetime = RECEIVED_AT) -> Hostile:
    """One hostile record built from a valid event of any type (`received_at`: see above)."""
    event = draw(st.sampled_from(_bases()))
    kind, value, reasons = draw(_mutations(event, received_at))
    return Hostile(event.contract.domain, event.key.encode(), value, kind, reasons)


def valid_records() -> list[Any]:
    """The unmutated events the mutations start from (each must stay valid)."""
    return list(_bases())


def sample(size: int, seed: int, received_at: datetime) -> list[Hostile]:
    """A reproducible sample of about `size` hostile records, to send through a real stream.

    Times "ahead" are ahead of `received_at`: draw the sample just before sending it.
    """
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as seeded

    drawn: list[Hostile] = []

    @seeded(seed)
    @settings(max_examples=size, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(hostile_records(received_at))
    def collect(record: Hostile) -> None:
        drawn.append(record)

    collect()
    return drawn
