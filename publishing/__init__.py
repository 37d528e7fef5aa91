"""The producer library services use to publish domain events to Kafka under their contracts."""
