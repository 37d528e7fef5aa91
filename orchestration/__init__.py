"""The Dagster code location: stream and batch as one asset graph (see definitions.py)."""
