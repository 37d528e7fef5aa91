"""The one SparkSession factory: Delta, the Kafka connector by path, and sizes for this machine.

Every process (the stream, Dagster, the CLI, the tests) gets its session here, so they all
see the same extensions, the same jars and the same table names.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rapport.settings import Settings, get_settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: Folder (under var/jars) that `make setup` fills from infra/jvm/spark-runtime/pom.xml.
SPARK_RUNTIME_JARS = "spark-runtime"
#: Folder of Hadoop's S3A and the AWS SDK (infra/jvm/object-store/pom.xml), for s3a:// roots.
OBJECT_STORE_JARS = "object-store"

#: Spark's FAIR scheduler pools, one per query (`rapport.lakehouse.ownership`): gold's goes first.
SCHEDULER_POOLS = Path(__file__).with_name("fairscheduler.xml")

#: Jars without which a session is useless: the Delta and Kafka connector entry points.
REQUIRED_JAR_PREFIXES = (
    "delta-spark_",
    "delta-storage-",
    "spark-sql-kafka-0-10_",
    "kafka-clients-",
)


class MissingJarsError(RuntimeError):
    """The JVM artifacts are not there: setup has not run (or var/ was wiped)."""


def _checked_jars(
    settings: Settings, name: str, required: tuple[str, ...], what: str
) -> list[Path]:
    """The jars `make setup` put in var/jars/<name>, or a clear error naming the next step."""
    folder = settings.jars_dir / name
    jars = sorted(folder.glob("*.jar")) if folder.is_dir() else []
    names = [jar.name for jar in jars]
    missing = [p for p in required if not any(n.startswith(p) for n in names)]
    if missing:
        raise MissingJarsError(
            f"{what} are missing from {folder} ({', '.join(missing)}*). "
            "Run `make setup` to fetch them from Maven Central."
        )
    return jars


def runtime_jars(settings: Settings) -> list[Path]:
    """The Delta and Kafka connector jars, checked so a missing one fails with a next step."""
    return _checked_jars(
        settings, SPARK_RUNTIME_JARS, REQUIRED_JAR_PREFIXES, "Spark's runtime jars"
    )


def object_store_jars(settings: Settings) -> list[Path]:
    """S3A's jars when a root (lakehouse, checkpoints, landing) is s3a://, else none: the
    other sessions need not load (or ship to every executor) 16 MB they never call."""
    roots = (settings.lakehouse, settings.checkpoints, settings.landing)
    if not any(root.startswith("s3a://") for root in roots):
        return []
    return _checked_jars(
        settings,
        OBJECT_STORE_JARS,
        ("hadoop-aws-",),
        "An s3a:// root needs Hadoop's S3A jars; they",
    )


def spark_conf(settings: Settings, app_name: str) -> dict[str, str]:
    """Every Spark setting Rapport applies, as plain strings (pure: tested without a JVM)."""
    spark = settings.spark
    conf = {
        "spark.app.name": app_name,
        "spark.master": spark.master,
        "spark.jars": ",".join(
            str(j) for j in (*runtime_jars(settings), *object_store_jars(settings))
        ),
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.shuffle.partitions": str(spark.shuffle_partitions),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.warehouse.dir": f"{settings.lakehouse}/_warehouse",
        "spark.driver.memory": spark.driver_memory,
        "spark.ui.enabled": str(spark.ui_enabled).lower(),
        "spark.ui.port": str(spark.ui_port),
        "spark.ui.showConsoleProgress": "false",
        # Streaming state survives restarts in the checkpoint; RocksDB keeps it off the heap.
        "spark.sql.streaming.stateStore.providerClass": (
            "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider"
        ),
        "spark.sql.streaming.metricsEnabled": "true",
        # Checkpoint cleanup: Spark deletes offsets/commits/state older than this many batches.
        "spark.sql.streaming.minBatchesToRetain": str(
            settings.maintenance.checkpoint_batches_to_retain
        ),
        # A Delta log replay fans out to 50 tasks by default: far too many for small tables.
        # One task rebuilds a table's state fastest here (docs/decisions/0011-hot-path.md).
        "spark.databricks.delta.snapshotPartitions": str(spark.snapshot_partitions),
        # No extra micro-batch just to move a watermark: the hot query's dedup state is then
        # evicted with the next batch that has data, instead of costing a batch of its own.
        "spark.sql.streaming.noDataMicroBatches.enabled": "false",
        # RocksDB uploads only the changed keys of the dedup state per batch.
        "spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled": "true",
        # Counting the state's rows makes RocksDB read each key before it writes or removes
        # it. Nothing reads the count (numRowsTotal, then 0), and without it the dedup
        # state's share of a 400,000-event batch fell from 7.3-7.9 to 4.0-6.2 s of CPU
        # (docs/decisions/0018-dedup-state-cost.md).
        "spark.sql.streaming.stateStore.rocksdb.trackTotalNumberOfRows": "false",
        # File listings (VACUUM among them) fan out to 10,000 tasks by default.
        "spark.sql.sources.parallelPartitionDiscovery.parallelism": str(
            max(2, spark.shuffle_partitions)
        ),
        # A driver that runs several queries (the stream's background one: bronze and silver;
        # a test session: all three) gives a core that comes free to the pool furthest below
        # its share, so a small batch never queues behind another query's long one.
        "spark.scheduler.mode": "FAIR",
        "spark.scheduler.allocation.file": str(SCHEDULER_POOLS),
        # One from_json per value, however many of its fields are used: Spark's JSON
        # optimisation prunes a parse to one field per use, so bronze's four envelope
        # attributes (and silver's payload fields) each parsed the whole record again.
        "spark.sql.optimizer.enableJsonExpressionOptimization": "false",
        # Keep the catalog's tables readable by delta-rs (tables.COMMON_PROPERTIES).
        "spark.databricks.delta.properties.defaults.enableDeletionVectors": "false",
    }
    conf.update(
        {
            "spark.driver.maxResultSize": "1g",
            # Where executors call the driver back, and what it binds: loopback on one
            # machine (the local cluster's workers too), the host's address on a cluster.
            "spark.driver.bindAddress": spark.driver_host,
            "spark.driver.host": spark.driver_host,
            # Executors' size; local mode runs every task in the driver and ignores them.
            "spark.executor.memory": spark.executor_memory,
            "spark.executor.cores": str(spark.executor_cores),
            # Python workers must run this environment's interpreter (with pyarrow and the
            # project), not whatever `python3` is first on PATH. Where executors keep it
            # elsewhere (a container image), set spark.pyspark.python in `spark.conf`.
            "spark.pyspark.python": sys.executable,
        }
    )
    if spark.cores_max is not None:
        conf["spark.cores.max"] = str(spark.cores_max)
    if spark.driver_java_options:
        conf["spark.driver.extraJavaOptions"] = spark.driver_java_options
    if settings.lakehouse.startswith("s3a://"):
        # S3 has no atomic rename: Delta's S3 log store keeps one driver's commits safe, not
        # two drivers' at once. Writers in several drivers need a DynamoDB log store, set
        # in `spark.conf` (docs/deployment.md, object storage).
        conf["spark.delta.logStore.s3a.impl"] = "io.delta.storage.S3SingleDriverLogStore"
    conf.update(spark.conf)
    return conf


def get_spark(
    settings: Settings | None = None,
    app_name: str = "rapport",
    *,
    register_tables: bool = True,
) -> SparkSession:
    """The process's SparkSession (created on first call) with the catalog's tables registered."""
    from pyspark.sql import SparkSession

    settings = settings or get_settings()
    # The web UI binds to SPARK_LOCAL_IP (else every interface): the driver's own address.
    os.environ.setdefault("SPARK_LOCAL_IP", settings.spark.driver_host)
    # PySpark takes its workers' interpreter from here; `python3` on PATH may lack pyarrow.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder
    for key, value in spark_conf(settings, app_name).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel(settings.spark.log_level)
    if register_tables:
        from rapport.lakehouse.spark_catalog import register_tables as register

        register(session, settings)
    return session


def codegen_compiles(spark: SparkSession) -> int:
    """How many classes Spark's code generator has compiled in this JVM so far.

    A steady streaming query compiles nothing per batch; one that does (a per-batch constant
    in its plan, such as `current_timestamp()`) also runs its new code cold every batch.
    """
    metrics = java_class(spark, "org.apache.spark.metrics.source.CodegenMetrics")
    return int(metrics.METRIC_COMPILATION_TIME().getCount())


def use_pool(spark: SparkSession, pool: str) -> None:
    """Run the Spark jobs this thread starts in scheduler pool `pool` (fairscheduler.xml).

    A thread-local property: a streaming query inherits it from the thread that starts it,
    and each thread that runs a batch's writes must set it again.
    """
    spark.sparkContext.setLocalProperty("spark.scheduler.pool", pool)


def java_class(spark: SparkSession, name: str) -> Any:
    """A JVM class by its full name, without py4j's guessing.

    `jvm.org.apache...` makes py4j try each dotted prefix as a class first, and every miss
    searches the whole class path: a measurable share of a one-second micro-batch.
    """
    from py4j.java_gateway import JavaClass

    gateway = spark.sparkContext._gateway
    assert gateway is not None
    return JavaClass(name, gateway._gateway_client)


def hadoop_path(spark: SparkSession, path: str) -> tuple[Any, Any]:
    """(file system, path) through Hadoop's FileSystem API, so that local folders and
    s3a:// locations (checkpoints, the landing zone) are read alike."""
    found = java_class(spark, "org.apache.hadoop.fs.Path")(path)
    return found.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), found


def read_checkpoint_file(spark: SparkSession, path: str) -> str | None:
    """A small checkpoint file's text through Hadoop's FileSystem (local or s3a alike)."""
    fs, found = hadoop_path(spark, path)
    if not fs.exists(found):
        return None
    stream = fs.open(found)
    try:
        return str(java_class(spark, "org.apache.commons.io.IOUtils").toString(stream, "UTF-8"))
    finally:
        stream.close()
