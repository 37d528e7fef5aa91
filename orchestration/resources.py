"""Dagster resources: Rapport's settings and the SparkSession, both built on first use.

Nothing is read at import or definition-load time: the webserver loads the code location
without a JVM, and a run starts Spark only when an asset asks for it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import dagster as dg

from rapport.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class RapportResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Settings (from the environment, like every Rapport process) and a lazy SparkSession.

    `settings_json` overrides the environment, as a JSON object of Settings fields; tests
    use it to point a run at their own lakehouse.
    """

    settings_json: str = "{}"
    app_name: str = "rapport-dagster"
    #: Register the catalog's names (bronze.events, ...) in the run's session, as every Rapport
    #: process does. Tests sharing one session between lakehouses turn it off.
    register_names: bool = True

    def settings(self) -> Settings:
        overrides = json.loads(self.settings_json)
        return Settings.model_validate(overrides) if overrides else Settings()

    def spark(self, driver_memory: str | None = None) -> SparkSession:
        """The run's session, with every catalog table created (a run may come before the
        stream ever wrote one: a history load on a new lakehouse).

        `driver_memory` (else `spark.driver_memory`) is the heap if this call starts the
        run's JVM; a run has one JVM, so a later call gets the session as it is.
        """
        from rapport.lakehouse.spark import get_spark
        from rapport.lakehouse.spark_catalog import ensure_table
        from rapport.lakehouse.tables import TABLES

        settings = self.settings()
        if driver_memory is not None:
            settings = settings.with_spark(driver_memory=driver_memory)
        if settings.lakehouse in _READY:
            return get_spark(settings, app_name=self.app_name, register_tables=False)
        session = get_spark(settings, app_name=self.app_name, register_tables=self.register_names)
        if not self.register_names:
            for table in TABLES:
                ensure_table(session, settings, table, register_name=False)
        _READY.add(settings.lakehouse)
        return session

    def checks_spark(self) -> SparkSession:
        """The session of a run of quality checks alone (`stream_quality`).

        Through the SQL server's Spark Connect when `quality.through_sql_server` and the
        server is on: the checks' scans run in a JVM that is up anyway, and the stack keeps
        one JVM fewer during the run. Otherwise a JVM of the run's own, with the quality heap.
        """
        settings = self.settings()
        serving = settings.serving
        if settings.quality.through_sql_server and serving.enabled and serving.connect_port:
            from serving.sql_server_service import SqlServerService

            return SqlServerService(settings).connect_session()
        return self.spark(settings.quality.driver_memory)


#: Lakehouses whose tables this process has created or found (once per run process).
_READY: set[str] = set()
