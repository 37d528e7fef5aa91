"""Spark Structured Streaming from Kafka into the Delta lakehouse (bronze, then silver and gold)."""
