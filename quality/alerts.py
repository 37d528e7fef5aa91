"""Alerts: one notice when an SLA breaks or a gate fails, one more when it recovers.

An incident is keyed by what broke ("sla:gold.sales_by_day", "gate:silver.orders:2026-11-26",
"deadline:gold.daily_sales:2026-11-26"). `advance` compares the breaches seen now with the
incidents already open and yields only the changes, so a breach that lasts an hour alerts
once. The state is plain JSON, kept by the caller (the Dagster sensor's cursor), and a
notice that could not be delivered stays pending and is retried on the next evaluation.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

log = logging.getLogger("rapport.alerts")

Kind = Literal["sla", "gate", "deadline"]
Status = Literal["breach", "recovered"]


@dataclass(frozen=True)
class Breach:
    """Something broken right now: which promise, about what, and a sentence for people."""

    key: str
    kind: Kind
    subject: str
    message: str


@dataclass(frozen=True)
class Notice:
    """What goes out: the breach or its recovery, once each."""

    status: Status
    key: str
    kind: Kind
    subject: str
    message: str
    since: str
    at: str

    def payload(self) -> dict[str, Any]:
        """The webhook's JSON body; `text` makes it a valid Slack incoming-webhook message."""
        icon = ":red_circle:" if self.status == "breach" else ":large_green_circle:"
        verb = "BREACH" if self.status == "breach" else "RECOVERED"
        return {
            "source": "rapport",
            **asdict(self),
            "text": f"{icon} Rapport {self.kind} {verb}: {self.subject}. {self.message}",
        }


@dataclass
class AlertState:
    """Open incidents (key -> what was said and since when) and undelivered notices."""

    open: dict[str, dict[str, str]] = field(default_factory=dict)
    pending: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps({"open": self.open, "pending": self.pending}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> AlertState:
        if not text:
            return cls()
        data = json.loads(text)
        return cls(open=dict(data.get("open", {})), pending=list(data.get("pending", [])))


def advance(
    state: AlertState,
    breaches: Iterable[Breach],
    observed: Iterable[str],
    now: datetime | None = None,
) -> list[Notice]:
    """Open incidents for new breaches and close those that recovered; returns the notices.

    `observed` are the incident keys whose state was actually measured this time (those
    breached and those seen healthy): an open incident whose key was not measured (Kafka
    unreachable, say) is neither re-alerted nor declared recovered.
    """
    stamp = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    current = {b.key: b for b in breaches}
    seen = set(observed) | set(current)
    notices: list[Notice] = []
    for key, breach in current.items():
        if key not in state.open:
            state.open[key] = {
                "kind": breach.kind,
                "subject": breach.subject,
                "message": breach.message,
                "since": stamp,
            }
            notices.append(
                Notice("breach", key, breach.kind, breach.subject, breach.message, stamp, stamp)
            )
    for key in [k for k in state.open if k in seen and k not in current]:
        incident = state.open.pop(key)
        notices.append(
            Notice(
                "recovered",
                key,
                incident["kind"],  # type: ignore[arg-type]
                incident["subject"],
                f"was: {incident['message']}",
                incident["since"],
                stamp,
            )
        )
    return notices


class Notifier:
    """Sends notices to the log, and to a webhook when one is configured."""

    def __init__(self, webhook_url: str | None, timeout_s: float = 10.0) -> None:
        self.webhook_url = webhook_url
        self.timeout_s = timeout_s

    def deliver(self, state: AlertState, notices: Iterable[Notice]) -> list[Notice]:
        """Send the pending notices and `notices`; those that fail stay pending. Returns sent."""
        queue = [Notice(**p) for p in state.pending] + list(notices)  # type: ignore[arg-type]
        state.pending = []
        sent = []
        for notice in queue:
            level = logging.WARNING if notice.status == "breach" else logging.INFO
            log.log(level, "%s", notice.payload()["text"])
            if self.webhook_url is None or self._post(notice):
                sent.append(notice)
            else:
                state.pending.append(asdict(notice))
        return sent

    def _post(self, notice: Notice) -> bool:
        import requests

        assert self.webhook_url is not None
        try:
            response = requests.post(
                self.webhook_url, json=notice.payload(), timeout=self.timeout_s
            )
        except requests.RequestException as exc:
            # requests names the URL in its message, and a webhook URL is a credential:
            # say which host failed and how, never the path.
            log.error(
                "alert webhook at %s unreachable (%s); will retry: %s",
                _host_of(self.webhook_url), type(exc).__name__, notice.key,
            )  # fmt: skip
            return False
        if response.status_code >= 300:
            log.error("alert webhook answered %s; will retry: %s", response.status_code, notice.key)
            return False
        return True


def _host_of(url: str) -> str:
    """scheme://host:port of a URL: what an error may show of a secret webhook URL."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
