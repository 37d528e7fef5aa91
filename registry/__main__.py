"""`python -m registry --state-dir=DIR`: the schema registry process (store + REST API).

Run in the background by `rapport registry start` (see `registry.registry_service`). Settings
come from the environment (`rapport.settings.settings_env` puts them there); `--state-dir` is
repeated on the command line so the process can be told apart from another project's.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from rapport.settings import Settings

log = logging.getLogger("rapport.registry")


def serve(settings: Settings) -> int:
    """Replay the registry topic, then serve the API until SIGTERM/SIGINT; returns an exit code."""
    import uvicorn

    from rapport.runtime.processes import reachable_host
    from registry.api import create_app
    from registry.auth import load_users
    from registry.store import KafkaSchemaStore, StoreError

    store = KafkaSchemaStore(settings)
    registry = settings.registry
    try:
        # Instances on one topic elect one writer; the others forward writes to this URL.
        store.open(advertise=f"http://{reachable_host(registry.host)}:{registry.port}")
    except StoreError as exc:
        log.error("%s", exc)
        return 1
    try:
        users = load_users(registry.users_file) if registry.users_file else None
        app = create_app(store, settings.registry.default_compatibility, users)
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=settings.registry.host,
                port=settings.registry.port,
                log_level="info",
                access_log=False,
                lifespan="off",
            )
        )
        log.info(
            "schema registry on http://%s:%s (topic %s)",
            settings.registry.host,
            settings.registry.port,
            settings.registry.topic,
        )
        # uvicorn handles SIGTERM/SIGINT: it stops accepting, finishes requests, returns.
        server.run()
        return 0 if server.started else 1
    finally:
        store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m registry")
    parser.add_argument("--state-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # kafka-python logs every connection at INFO and every retry at WARNING; the store
    # reports what matters (a topic it cannot open, a reader that falls behind) itself.
    logging.getLogger("kafka").setLevel(logging.ERROR)
    settings = Settings(state_dir=args.state_dir) if args.state_dir else Settings()
    return serve(settings)


if __name__ == "__main__":
    raise SystemExit(main())
