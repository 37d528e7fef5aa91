"""Table upkeep on real Delta tables: compaction, VACUUM and orphaned checkpoint cleanup."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql.types import DateType, LongType, StructField, StructType

from jobs.maintenance import (
    LISTING_PARALLELISM_CONF,
    RETENTION_CHECK_CONF,
    checkpoint_report,
    clean_checkpoints,
    compact,
    vacuum,
    vacuum_retention,
)
from rapport.lakehouse.tables import TableDef
from rapport.settings import Settings
from tests.helpers.settings import SettingsFactory

#: A small partitioned table of the tests' own, in a lakehouse of their own.
PROBE = TableDef(
    layer="ops",
    name="maintenance_probe",
    description="Rows written in many small appends, for the maintenance tests.",
    schema=StructType(
        [StructField("id", LongType(), False), StructField("day", DateType(), False)]
    ),
    partition_by=("day",),
)
#: In the catalog's shape but never written: maintenance must skip it, not create it.
NEVER_WRITTEN = TableDef(
    layer="ops", name="never_written", description="absent", schema=PROBE.schema
)
DAYS = (date(2024, 1, 1), date(2024, 1, 2))
APPENDS = 5


# --- fixtures and helpers -------------------------------------------------------------------


@pytest.fixture
def lake(make_settings: SettingsFactory, spark: Any) -> Settings:
    """Settings of a fresh lakehouse holding PROBE, written in APPENDS small appends."""
    own = make_settings("maintenance")
    for batch in range(APPENDS):
        rows = [(batch * 10 + i, DAYS[i % 2]) for i in range(10)]
        (
            spark.createDataFrame(rows, PROBE.schema)
            .write.format("delta")
            .mode("append")
            .partitionBy(*PROBE.partition_by)
            .save(PROBE.location(own))
        )
    return own


def rows(spark: Any, settings: Settings) -> list[tuple[int, date]]:
    frame = spark.read.format("delta").load(PROBE.location(settings))
    return sorted((r.id, r.day) for r in frame.collect())


def snapshot_files(spark: Any, settings: Settings) -> int:
    """Files the current table version references."""
    return int(spark.sql(f"DESCRIBE DETAIL delta.`{PROBE.location(settings)}`").first().numFiles)


def files_on_disk(settings: Settings) -> int:
    """Data files on storage, referenced or not (the log's own checkpoints excluded)."""
    root = Path(PROBE.location(settings))
    return sum(1 for f in root.rglob("*.parquet") if "_delta_log" not in f.parts)


EXPECTED_ROWS = sorted((b * 10 + i, DAYS[i % 2]) for b in range(APPENDS) for i in range(10))


# --- compaction -----------------------------------------------------------------------------


@pytest.mark.spark
def test_compaction_leaves_one_file_per_partition_and_the_same_rows(
    spark: Any, lake: Settings
) -> None:
    before = snapshot_files(spark, lake)
    assert before >= APPENDS * len(DAYS)  # each append wrote a file per partition at least

    results = compact(spark, lake, tables=(PROBE, NEVER_WRITTEN))

    assert [r.table for r in results] == ["ops.maintenance_probe"]
    assert results[0].files_removed == before
    assert results[0].files_added == len(DAYS)
    assert snapshot_files(spark, lake) == len(DAYS)
    assert rows(spark, lake) == EXPECTED_ROWS
    assert not Path(NEVER_WRITTEN.location(lake)).exists()


@pytest.mark.spark
def test_compacting_a_compact_table_changes_nothing(spark: Any, lake: Settings) -> None:
    compact(spark, lake, tables=(PROBE,))
    [again] = compact(spark, lake, tables=(PROBE,))
    assert (again.files_removed, again.files_added) == (0, 0)


# --- VACUUM ---------------------------------------------------------------------------------


@pytest.mark.unit
def test_retention_below_the_minimum_is_refused_naming_the_setting_and_force(
    tmp_path: Path,
) -> None:
    settings = Settings(state_dir=tmp_path)
    with pytest.raises(ValueError, match="--force") as refused:
        vacuum_retention(settings, 1, force=False)
    assert "maintenance.min_vacuum_retention_hours" in str(refused.value)
    assert vacuum_retention(settings, 1, force=True) == 1
    assert vacuum_retention(settings, None, force=False) == 168
    with pytest.raises(ValueError, match="0 hours or more"):
        vacuum_retention(settings, -1, force=True)


@pytest.mark.spark
def test_vacuum_refuses_a_short_retention_and_deletes_nothing(spark: Any, lake: Settings) -> None:
    compact(spark, lake, tables=(PROBE,))
    on_disk = files_on_disk(lake)
    with pytest.raises(ValueError, match="--force"):
        vacuum(spark, lake, tables=(PROBE,), retention_hours=0)
    assert files_on_disk(lake) == on_disk


@pytest.mark.spark
def test_vacuum_with_the_default_retention_keeps_recently_replaced_files(
    spark: Any, lake: Settings
) -> None:
    compact(spark, lake, tables=(PROBE,))
    on_disk = files_on_disk(lake)
    [result] = vacuum(spark, lake, tables=(PROBE,))
    assert result.retention_hours == 168
    assert result.files_deleted == 0
    assert files_on_disk(lake) == on_disk


@pytest.mark.spark
def test_forced_vacuum_deletes_the_files_compaction_replaced(spark: Any, lake: Settings) -> None:
    conf_before = {
        k: spark.conf.get(k, None) for k in (RETENTION_CHECK_CONF, LISTING_PARALLELISM_CONF)
    }
    [compacted] = compact(spark, lake, tables=(PROBE,))
    assert files_on_disk(lake) == compacted.files_removed + compacted.files_added

    results = vacuum(spark, lake, tables=(PROBE, NEVER_WRITTEN), retention_hours=0, force=True)

    assert [(r.table, r.retention_hours) for r in results] == [("ops.maintenance_probe", 0)]
    assert results[0].files_deleted == compacted.files_removed
    assert files_on_disk(lake) == compacted.files_added
    assert rows(spark, lake) == EXPECTED_ROWS
    # Delta's safety check was off (and the listing resized) for that call only.
    assert {k: spark.conf.get(k, None) for k in conf_before} == conf_before


# --- checkpoints ----------------------------------------------------------------------------


def make_checkpoint(root: Path, layer: str, table: str, query: str, batches: int) -> Path:
    """A checkpoint folder as Spark lays it out: metadata, offsets/<batch> with .crc files."""
    folder = root / layer / table / query
    (folder / "offsets").mkdir(parents=True)
    (folder / "commits").mkdir()
    (folder / "metadata").write_text('{"id":"q"}')
    for batch in range(batches):
        (folder / "offsets" / str(batch)).write_text("v1\n{}")
        (folder / "offsets" / f".{batch}.crc").write_bytes(b"crc")
        (folder / "commits" / str(batch)).write_text("v1\n{}")
    return folder


@pytest.fixture
def checkpoints(tmp_path: Path) -> Settings:
    settings = Settings(state_dir=tmp_path)
    root = Path(settings.checkpoints)
    make_checkpoint(root, "bronze", "events", "bronze_events", batches=3)
    make_checkpoint(root, "silver", "orders", "renamed_long_ago", batches=1)
    return settings


@pytest.mark.unit
def test_the_report_finds_every_checkpoint_with_its_batches_size_and_state(
    checkpoints: Settings,
) -> None:
    report = checkpoint_report(checkpoints, ["bronze_events"])
    by_query = {f.query: f for f in report.folders}
    assert set(by_query) == {"bronze_events", "renamed_long_ago"}
    active, orphan = by_query["bronze_events"], by_query["renamed_long_ago"]
    assert (active.table, active.active, active.batches) == ("bronze.events", True, 3)
    assert (orphan.table, orphan.active, orphan.batches) == ("silver.orders", False, 1)
    assert active.size_bytes == len('{"id":"q"}') + 3 * (2 * len("v1\n{}") + len(b"crc"))
    assert report.orphaned == (orphan,)
    assert report.batches_kept_by_spark == checkpoints.maintenance.checkpoint_batches_to_retain


@pytest.mark.unit
def test_orphaned_checkpoints_are_deleted_only_when_applied(checkpoints: Settings) -> None:
    root = Path(checkpoints.checkpoints)
    active, orphan = root / "bronze/events/bronze_events", root / "silver/orders/renamed_long_ago"

    dry = clean_checkpoints(checkpoints, ["bronze_events"])
    assert dry.deleted == ()
    assert active.is_dir()
    assert orphan.is_dir()

    applied = clean_checkpoints(checkpoints, ["bronze_events"], apply=True)
    assert applied.deleted == (orphan,)
    assert active.is_dir()
    assert not orphan.exists()
    assert len(list((active / "offsets").iterdir())) == 6  # the active one is untouched


@pytest.mark.unit
def test_checkpoints_off_the_local_disk_are_not_walked(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, checkpoint_root="s3a://bucket/checkpoints")
    with pytest.raises(NotImplementedError, match="local folders only"):
        checkpoint_report(settings, [])


@pytest.mark.spark
def test_a_table_delta_rs_writes_is_compacted_and_vacuumed_by_delta_rs(
    spark: Any, make_settings: SettingsFactory
) -> None:
    """gold.signups_per_hour belongs to delta-rs: maintenance must not commit to it with Spark."""
    from datetime import UTC, datetime

    import pyarrow as pa

    from rapport.lakehouse import delta_rs
    from rapport.lakehouse.spark_catalog import ensure_table
    from rapport.lakehouse.tables import GOLD_SIGNUPS_PER_HOUR

    own = make_settings("maintenance-delta-rs")
    ensure_table(spark, own, GOLD_SIGNUPS_PER_HOUR, register_name=False)
    hour = datetime(2024, 1, 1, 10, tzinfo=UTC)
    for n in range(APPENDS):
        row = {"hour": hour.replace(hour=10 + n), "signups": n, "complete_up_to": hour,
               "updated_at": hour, "event_date": hour.date()}  # fmt: skip
        table = pa.Table.from_pylist([row], schema=delta_rs.arrow_schema(GOLD_SIGNUPS_PER_HOUR))
        delta_rs.append(own, GOLD_SIGNUPS_PER_HOUR, table, delta_rs.Txn("maintenance", n))

    (compacted,) = compact(spark, own, tables=(GOLD_SIGNUPS_PER_HOUR,))
    assert (compacted.files_removed, compacted.files_added) == (APPENDS, 1)
    (vacuumed,) = vacuum(spark, own, tables=(GOLD_SIGNUPS_PER_HOUR,), retention_hours=0,
                         force=True)  # fmt: skip
    assert vacuumed.files_deleted == APPENDS  # the small files compaction replaced
    history = delta_rs.open_table(own, GOLD_SIGNUPS_PER_HOUR).history()
    assert {h["operation"] for h in history} >= {"OPTIMIZE", "VACUUM END"}
    assert not any("Apache-Spark" in str(h.get("engineInfo", "")) for h in history[:3])
    assert sorted(r["signups"] for r in delta_rs.read(own, GOLD_SIGNUPS_PER_HOUR).to_pylist()) == [
        0, 1, 2, 3, 4,
    ]  # fmt: skip
