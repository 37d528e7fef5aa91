"""Send raw records to Kafka with kafka-python: acks=all, idempotent, failures reported."""

from __future__ import annotations

from collections.abc import Sequence

from rapport.runtime.processes import ServiceError
from rapport.settings import Settings


def send_lines(settings: Settings, topic: str, lines: Sequence[str], key: str | None) -> int:
    """Send each line as one record and wait for every acknowledgement; returns the count."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    try:
        producer = KafkaProducer(
            **settings.kafka.python_client_config(),
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            # Fail fast (10 s, not 30) when nothing listens: the user is waiting at a prompt.
            bootstrap_timeout_ms=int(settings.kafka.connect_timeout_s * 1000),
        )
    except KafkaError as exc:
        raise ServiceError(
            f"cannot reach Kafka at {settings.kafka.bootstrap_servers} ({exc}). "
            "Is it running? Start it with `make up` or `uv run rapport kafka start`."
        ) from exc
    try:
        futures = [
            producer.send(topic, value=line.encode(), key=key.encode() if key else None)
            for line in lines
        ]
        producer.flush(timeout=30)
        for future in futures:
            future.get(timeout=30)  # raises on a failed delivery
    except KafkaError as exc:
        raise ServiceError(f"sending to {topic} failed: {exc}") from exc
    finally:
        producer.close(timeout=10)
    return len(futures)
