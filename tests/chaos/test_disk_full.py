"""The lakehouse's disk fills up: the stream stops with a clear error, and resumes exactly
once when space is back.

The lakehouse and the checkpoints live on a small tmpfs of their own (mounting it needs
root, as CI has; the test says so otherwise). The disk is filled while events wait in
Kafka; the batch that needs space fails before its commit, and after the space comes back
the stream runs it again and every figure equals the ledger.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rapport.lakehouse.spark_catalog import ensure_table
from rapport.lakehouse.tables import TABLES
from rapport.simulator.ledger import Ledger
from rapport.simulator.wire import ChaosConfig
from streaming.runner import explain_failure
from tests.helpers.chaos import Report, scale
from tests.helpers.ledger_checks import assert_tables_match, tally
from tests.helpers.streams import START, run_stream, send, shop_records

pytestmark = [pytest.mark.kafka, pytest.mark.spark, pytest.mark.chaos]


@contextlib.contextmanager
def small_disk(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted at `folder`: a disk that can really fill up."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                             capture_output=True, text=True, check=False)  # fmt: skip
    if mounted.returncode != 0:
        pytest.fail(f"the disk-full scenario mounts a tmpfs and needs root: {mounted.stderr}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _write_until_full(path: Path, chunk: bytes) -> None:
    with path.open("ab", buffering=0) as out:
        while True:
            try:
                out.write(chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                return


def fill(disk: Path) -> Path:
    """Write a ballast file until the disk says ENOSPC; returns it (delete it to free space)."""
    ballast = disk / "ballast"
    _write_until_full(ballast, b"\0" * (1 << 20))
    _write_until_full(ballast, b"\0" * 4096)  # the last few kilobytes too
    free = os.statvfs(disk)
    assert free.f_bavail * free.f_frsize < 64 * 1024
    return ballast


def test_a_full_disk_stops_the_stream_clearly_and_it_resumes_exactly_once(
    spark: Any, isolated: Any, schema_registry: Any, tmp_path: Path, chaos_report: Report
) -> None:
    with small_disk(tmp_path / "disk", "128m") as disk:
        settings = isolated(watermark_delay_s=600.0).model_copy(
            update={
                "lakehouse_root": str(disk / "lakehouse"),
                "checkpoint_root": str(disk / "checkpoints"),
            }
        )
        for table in TABLES:
            ensure_table(spark, settings, table, register_name=False)
        chaos = ChaosConfig(duplicates=0.03, malformed=0.02)
        records = shop_records(seed=53, actions=scale(600, 3000), start=START, chaos=chaos)
        first, second = records[: len(records) // 2], records[len(records) // 2 :]
        ledger = Ledger()
        send(settings, first, ledger)
        run_stream(spark, settings)

        ballast = fill(disk)
        send(settings, second, ledger)
        with pytest.raises(Exception, match="No space left on device") as failure:
            run_stream(spark, settings)
        advice = explain_failure(str(failure.value))
        assert advice is not None
        assert "Free space" in advice

        os.unlink(ballast)
        run_stream(spark, settings)
        counts = tally(spark, settings, ledger)
        chaos_report("lakehouse disk full", counts, failed_with="No space left on device")
        assert (counts.lost, counts.duplicated) == (0, 0), counts
        assert counts.quarantined == counts.to_quarantine
        assert_tables_match(spark, settings, ledger)
