"""The stream processes' own JVM settings (pure: no JVM started)."""

from __future__ import annotations

import pytest

from rapport.settings import Settings
from streaming.runner import BACKGROUND, TIERED_CODE_CACHE, stream_java_options, stream_spark

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("-XX:TieredStopAtLevel=1", f"-XX:TieredStopAtLevel=1 {TIERED_CODE_CACHE}"),
        ("-Xss4m -XX:TieredStopAtLevel=1", f"-Xss4m -XX:TieredStopAtLevel=1 {TIERED_CODE_CACHE}"),
        # An operator's own size wins, and the JVM's defaults (both tiers) need none.
        ("-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=128m",
         "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=128m"),
        ("", ""),
        ("-XX:TieredStopAtLevel=4", "-XX:TieredStopAtLevel=4"),
    ],
)  # fmt: skip
def test_c1_alone_gets_the_tiered_code_cache(given: str, expected: str) -> None:
    assert stream_java_options(given) == expected


def test_stream_drivers_take_the_stream_heap_and_options(tmp_path: object) -> None:
    settings = Settings(
        state_dir=tmp_path,
        spark={"driver_memory": "6g", "driver_java_options": "-Dother=1"},
        stream={"driver_memory": "1500m", "background_driver_memory": "700m",
                "driver_java_options": "-XX:TieredStopAtLevel=1"},
    )  # fmt: skip
    spark = stream_spark(settings).spark
    assert spark.driver_memory == "1500m"
    assert spark.driver_java_options == f"-XX:TieredStopAtLevel=1 {TIERED_CODE_CACHE}"
    background = stream_spark(settings, BACKGROUND).spark
    assert background.driver_memory == "700m"
    assert background.driver_java_options == spark.driver_java_options
    assert settings.spark.driver_memory == "6g"  # every other driver keeps its own
