"""Serving: read-only SQL over the Delta tables for people and the dashboard."""
