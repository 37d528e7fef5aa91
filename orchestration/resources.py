"""Dagster resources: Rapport's settings and the SparkSession, both built on first use.

Nothing is read at import or definition-load time: the webserver loads the code location
without a JVM, and a run starts Spark only when an asset asks for it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import dagster as dg

from lakehouse.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class RapportResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Settings (from the environment, like every Rapport process) and a lazy SparkSession.

    `settings_json` overrides the environment, as a JSON object of Settings fields; tests
    use it to point a run at their own lakehouse.
    """

    settings_json: str = "{}"
    app_name: str = "rapport-dagster"

    def settings(self) -> Settings:
        overrides = json.loads(self.settings_json)
        return Settings.model_validate(overrides) if overrides else Settings()

    def spark(self) -> SparkSession:
        from lakehouse.spark import get_spark

        # Assets address tables by path; the catalog's names are for SQL users and the stream.
        return get_spark(self.settings(), app_name=self.app_name, register_tables=False)
