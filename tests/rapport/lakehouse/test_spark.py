"""The Spark session factory: configuration (no JVM) and a real session with Delta."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rapport.lakehouse.spark import MissingJarsError, spark_conf
from rapport.settings import Settings


@pytest.mark.unit
def test_conf_wires_delta_and_the_connector_by_path(settings: Settings) -> None:
    conf = spark_conf(settings, "t")
    jars = conf["spark.jars"].split(",")
    assert any(Path(j).name.startswith("delta-spark_4.1_2.13-") for j in jars)
    assert any(Path(j).name.startswith("spark-sql-kafka-0-10_2.13-") for j in jars)
    assert all(Path(j).is_file() for j in jars)
    assert conf["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    assert conf["spark.sql.shuffle.partitions"] == "2"
    assert conf["spark.ui.enabled"] == "false"
    assert "spark.jars.packages" not in conf  # nothing is downloaded at start
    assert not any(Path(j).name.startswith("hadoop-aws-") for j in jars)  # no s3a root


@pytest.mark.unit
def test_an_s3a_lakehouse_brings_s3a_and_a_cluster_needs_no_code_only_settings(
    settings: Settings,
) -> None:
    """The same factory for local mode and a cluster: only the settings differ."""
    on_s3 = settings.model_copy(update={"checkpoint_root": "s3a://lake/cp"})
    jars = [Path(j).name for j in spark_conf(on_s3, "t")["spark.jars"].split(",")]
    assert "hadoop-aws-3.4.2.jar" in jars
    assert any(j.startswith("s3-2.") for j in jars)  # the SDK's S3 client
    cluster = settings.with_spark(
        master="spark://10.0.0.5:7077", driver_host="10.0.0.9", cores_max=8,
        executor_memory="4g", executor_cores=2,
    )  # fmt: skip
    conf = spark_conf(cluster, "t")
    assert conf["spark.master"] == "spark://10.0.0.5:7077"
    assert conf["spark.driver.host"] == conf["spark.driver.bindAddress"] == "10.0.0.9"
    assert (conf["spark.cores.max"], conf["spark.executor.memory"]) == ("8", "4g")
    assert conf["spark.executor.cores"] == "2"
    assert "spark.cores.max" not in spark_conf(settings, "t")


@pytest.mark.unit
def test_user_conf_wins(settings: Settings) -> None:
    custom = settings.model_copy(
        update={
            "spark": settings.spark.model_copy(
                update={"conf": {"spark.sql.shuffle.partitions": "64"}}
            )
        }
    )
    assert spark_conf(custom, "t")["spark.sql.shuffle.partitions"] == "64"


@pytest.mark.unit
def test_missing_jars_say_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(MissingJarsError, match="make setup"):
        spark_conf(Settings(state_dir=tmp_path), "t")


@pytest.mark.spark
def test_session_has_delta_and_registers_the_catalog(spark: Any, settings: Settings) -> None:
    assert spark.conf.get("spark.sql.extensions") == "io.delta.sql.DeltaSparkSessionExtension"
    schemas = {r[0] for r in spark.sql("SHOW SCHEMAS").collect()}
    assert {"bronze", "silver", "gold", "ops"} <= schemas
    detail = spark.sql("DESCRIBE DETAIL bronze.events").first()
    assert detail.format == "delta"
    assert detail.location.endswith("/bronze/events")
    assert detail.partitionColumns == ["event_date"]
    assert detail.properties["delta.appendOnly"] == "true"


@pytest.mark.unit
def test_driver_java_options_reach_the_conf_only_when_set(settings: Settings) -> None:
    assert settings.spark.driver_java_options == ""  # batch sessions: the JVM's defaults
    assert "spark.driver.extraJavaOptions" not in spark_conf(settings, "t")
    c1 = settings.spark.model_copy(update={"driver_java_options": "-XX:TieredStopAtLevel=1"})
    conf = spark_conf(settings.model_copy(update={"spark": c1}), "t")
    assert conf["spark.driver.extraJavaOptions"] == "-XX:TieredStopAtLevel=1"


@pytest.mark.spark
def test_registration_is_idempotent_and_sees_existing_data(spark: Any, settings: Settings) -> None:
    from rapport.lakehouse.spark_catalog import register_tables

    register_tables(spark, settings)
    version = spark.sql("DESCRIBE HISTORY bronze.events").agg({"version": "max"}).first()[0]
    register_tables(spark, settings)
    assert spark.sql("DESCRIBE HISTORY bronze.events").agg({"version": "max"}).first()[0] == version


@pytest.mark.spark
def test_bronze_refuses_deletes(spark: Any) -> None:
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    with pytest.raises((PySparkException, Py4JJavaError), match=r"(?i)append"):
        spark.sql("DELETE FROM bronze.events WHERE true")


@pytest.mark.unit
def test_each_query_has_a_scheduler_pool_and_gold_weighs_most(settings: Settings) -> None:
    import xml.etree.ElementTree as ET

    from streaming.ingest import ACTIVE_QUERIES

    conf = spark_conf(settings, "t")
    assert conf["spark.scheduler.mode"] == "FAIR"
    pools = {
        pool.get("name"): int(pool.findtext("weight") or 0)
        for pool in ET.parse(conf["spark.scheduler.allocation.file"]).getroot()
    }
    assert set(pools) == set(ACTIVE_QUERIES)  # a pool not defined would get weight 1
    assert max(pools, key=lambda name: pools[name]) == "gold_events"
