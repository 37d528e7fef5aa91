"""`python -m serving.sql_server --state-dir=DIR`: SQL for BI tools and notebooks over the catalog.

One Spark driver (local mode by default) with Rapport's catalog registered, serving two
protocols from the jars the pyspark wheel ships:

- Spark's Thrift server (HiveServer2 protocol): JDBC and ODBC tools, beeline, DB-API clients;
- Spark Connect (gRPC): `SparkSession.builder.remote("sc://host:port")` from Python.

Every client session of either protocol shares the driver's catalog, so the names bronze.*,
silver.*, gold.*, ops.* and ref.* resolve as in the stream, Dagster and `rapport sql --spark`
(the catalog is registered from `rapport.lakehouse.tables` at start; the Delta log on
storage is the shared truth). Clients read; the one writer through it is the hourly
`stream_quality` run, which appends its verdicts to ops.quality_results (Spark, as every
other writer of that table).
Run in the background by `rapport sql-server start` and `rapport up`
(`serving.sql_server_service`).
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path
from typing import Any

from rapport.settings import Settings

log = logging.getLogger("rapport.sql_server")

APP_NAME = "rapport-sql-server"


def server_settings(settings: Settings) -> Settings:
    """The settings of the server's own Spark driver: its memory, UI port and listeners."""
    from rapport.lakehouse.spark import runtime_jars

    serving = settings.serving
    conf = {
        **settings.spark.conf,
        # Delta on the driver's own classpath, not only in spark.jars: Spark Connect runs each
        # session's queries under a class loader of its own, and the closure cleaner cannot
        # read a class that only spark.jars' loader knows (Delta's state cache then fails).
        "spark.driver.extraClassPath": ":".join(str(j) for j in runtime_jars(settings)),
        # HiveServer2 reads its own settings from the Hadoop configuration.
        "spark.hadoop.hive.server2.thrift.bind.host": serving.host,
        "spark.hadoop.hive.server2.thrift.port": str(serving.thrift_port),
        "spark.hadoop.hive.server2.transport.mode": "binary",
        # Every JDBC session sees the same temporary views and current database.
        "spark.sql.hive.thriftServer.singleSession": "true",
        "spark.connect.grpc.binding.address": serving.host,
        "spark.connect.grpc.binding.port": str(serving.connect_port or 15002),
    }
    return settings.with_spark(
        driver_memory=serving.driver_memory,
        driver_java_options=serving.driver_java_options,
        ui_port=serving.ui_port,
        conf=conf,
    )


def start_servers(spark: Any, settings: Settings) -> None:
    """Start the Thrift server and (unless its port is 0) Spark Connect on `spark`'s driver."""
    jvm = spark.sparkContext._jvm
    thrift = jvm.org.apache.spark.sql.hive.thriftserver.HiveThriftServer2
    thrift.startWithSparkSession(spark._jsparkSession, False)
    if settings.serving.connect_port:
        connect = jvm.org.apache.spark.sql.connect.service.SparkConnectService
        connect.start(spark.sparkContext._jsc.sc())


def serve(settings: Settings) -> int:
    """Start both servers, then wait for SIGTERM/SIGINT; returns an exit code."""
    from rapport.lakehouse.spark import get_spark

    own = server_settings(settings)
    spark = get_spark(own, app_name=APP_NAME)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        start_servers(spark, own)
        serving = own.serving
        log.info(
            "SQL server: JDBC jdbc:hive2://%s:%s/default%s",
            serving.host,
            serving.thrift_port,
            f", Spark Connect sc://{serving.host}:{serving.connect_port}"
            if serving.connect_port
            else "",
        )
        stop.wait()
        return 0
    finally:
        spark.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving.sql_server")
    parser.add_argument("--state-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("py4j").setLevel(logging.WARNING)
    settings = Settings(state_dir=args.state_dir) if args.state_dir else Settings()
    return serve(settings)


if __name__ == "__main__":
    raise SystemExit(main())
