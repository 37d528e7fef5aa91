"""Inserting absent rows beside other writers, on real Spark and Delta: each key lands once,
and each writer gets back exactly the rows it added."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from rapport.lakehouse import delta_insert
from rapport.lakehouse.delta_insert import insert_absent

pytestmark = pytest.mark.spark

DAY = date(2026, 11, 30)
SCHEMA = "event_id STRING, n INT, event_date DATE"


@pytest.fixture
def table(spark: Any, tmp_path: Path) -> str:
    location = str(tmp_path / "events")
    empty = spark.createDataFrame([], SCHEMA)
    empty.write.format("delta").partitionBy("event_date").save(location)
    return location


def _rows(spark: Any, ids: range) -> Any:
    return spark.createDataFrame([(f"e{i}", i, DAY) for i in ids], SCHEMA)


def _keys(spark: Any, location: str) -> Counter[str]:
    frame = spark.read.format("delta").load(location)
    return Counter(r.event_id for r in frame.collect())


def _insert(spark: Any, location: str, rows: Any) -> tuple[Any, int]:
    return insert_absent(spark, location, rows, ("event_id",), "event_date", [DAY.isoformat()])


def test_two_writers_adding_the_same_keys_at_once_land_each_once(spark: Any, table: str) -> None:
    """The race a read-then-append loses (both writers find a key absent and both append
    it), twice over: the MERGE's conflict makes the loser read again."""
    landed = 0
    for round_ in range(2):
        base = round_ * 4000
        frames = (
            _rows(spark, range(base, base + 3000)),
            _rows(spark, range(base + 1000, base + 4000)),
        )
        start = threading.Barrier(2)

        def write(frame: Any, start: threading.Barrier = start) -> tuple[set[str], int]:
            start.wait()
            fresh, inserted = _insert(spark, table, frame)
            return {r.event_id for r in fresh.collect()}, inserted

        with ThreadPoolExecutor(2) as pool:
            (ours, n_ours), (theirs, n_theirs) = pool.map(write, frames)
        landed += 4000
        keys = _keys(spark, table)
        assert len(keys) == landed, f"round {round_}: {len(keys)} keys, {landed} sent"
        assert max(keys.values()) == 1, f"round {round_}: {keys.most_common(3)} doubled"
        assert (len(ours), len(theirs)) == (n_ours, n_theirs)
        assert not ours & theirs, f"round {round_}: both writers claim {len(ours & theirs)} rows"
        assert len(ours | theirs) == 4000


def test_rows_another_writer_added_after_our_read_are_not_returned_as_ours(
    spark: Any, table: str
) -> None:
    """The narrow window: another writer commits some of our keys after our read and before
    our MERGE reads. The MERGE inserts the rest, and only those come back as ours."""
    _insert(spark, table, _rows(spark, range(0, 100)))
    before = delta_insert._version(spark, table)
    stale = spark.read.format("delta").option("versionAsOf", before).load(table)
    fresh = delta_insert._absent(_rows(spark, range(0, 1000)), stale, ("event_id",))
    fresh = fresh.localCheckpoint(eager=True)

    _insert(spark, table, _rows(spark, range(500, 700)))  # the other writer, in between
    inserted = delta_insert._merge_insert(
        spark, table, fresh, ("event_id",), "event_date", [DAY.isoformat()]
    )
    assert inserted == 700

    day = delta_insert._day_filter("event_date", [DAY.isoformat()])
    ours = delta_insert._rows_inserted_by(spark, table, fresh, day, ("event_id",), before, 700)
    expected = {f"e{i}" for i in [*range(100, 500), *range(700, 1000)]}
    assert {r.event_id for r in ours.collect()} == expected
    assert set(_keys(spark, table).values()) == {1}
