"""Local services: the JVM artifacts' POM, the single-node Kafka broker, process supervision."""
