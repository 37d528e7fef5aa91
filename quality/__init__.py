"""Data-quality suites (Great Expectations) and freshness SLAs; independent of Dagster."""
