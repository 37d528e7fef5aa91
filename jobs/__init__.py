"""Batch jobs on the lakehouse (historical loads, aggregates, maintenance); Dagster calls them."""
