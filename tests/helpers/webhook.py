"""A webhook receiver the tests start themselves: it stands in for Slack or a pager."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from rapport.runtime.ports import free_port


class WebhookReceiver:
    """A local HTTP endpoint standing in for Slack or a pager: it keeps every JSON body."""

    def __init__(self) -> None:
        received: list[dict[str, Any]] = []
        self.received = received
        lock = threading.Lock()
        self.lock = lock

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with lock:
                    received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def notices(self, **match: str) -> list[dict[str, Any]]:
        with self.lock:
            return [n for n in self.received if all(n.get(k) == v for k, v in match.items())]

    def wait_for(self, timeout_s: float, **match: str) -> dict[str, Any]:
        """The first notice matching `match`, polling until the deadline."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = self.notices(**match)
            if found:
                return found[0]
            time.sleep(0.2)
        raise AssertionError(f"no notice {match} within {timeout_s} s; got {self.received}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
