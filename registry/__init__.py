"""A Confluent-compatible schema registry for JSON Schema, stored in a compacted Kafka topic."""
