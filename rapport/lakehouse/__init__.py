"""Shared foundations: settings, the Spark session factory and the table catalog."""
