"""Incidents alert once, recover once, survive a restart (JSON state), and retry delivery."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from quality.alerts import AlertState, Breach, Notifier, advance
from tests.helpers.webhook import WebhookReceiver

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
LATE = Breach("sla:gold.sales_by_day", "sla", "gold.sales_by_day", "75 s behind")


def test_a_breach_alerts_once_and_recovers_once() -> None:
    state = AlertState()
    first = advance(state, [LATE], [LATE.key], NOW)
    assert [(n.status, n.key) for n in first] == [("breach", LATE.key)]
    again = advance(AlertState.from_json(state.to_json()), [LATE], [LATE.key], NOW)
    assert again == []
    state = AlertState.from_json(state.to_json())
    assert advance(state, [LATE], [LATE.key], NOW) == []
    recovered = advance(state, [], [LATE.key], NOW)
    assert [(n.status, n.since) for n in recovered] == [("recovered", NOW.isoformat())]
    assert state.open == {}


def test_an_unmeasured_incident_neither_repeats_nor_recovers() -> None:
    state = AlertState()
    advance(state, [LATE], [LATE.key], NOW)
    assert advance(state, [], [], NOW) == []
    assert LATE.key in state.open


def test_webhook_gets_json_with_slack_text_and_failed_deliveries_retry(
    webhook: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    state = AlertState()
    notices = advance(state, [LATE], [LATE.key], NOW)
    secret_url = "http://127.0.0.1:9/services/T0/B0/secret-token"
    assert Notifier(secret_url, timeout_s=2).deliver(state, notices) == []
    assert len(state.pending) == 1
    # A webhook URL is a credential: the failure names the host, never the path.
    assert "http://127.0.0.1:9 unreachable" in caplog.text
    assert "secret-token" not in caplog.text
    sent = Notifier(webhook.url).deliver(state, [])
    assert [n.key for n in sent] == [LATE.key]
    assert state.pending == []
    body = webhook.wait_for(5, key=LATE.key)
    assert body["status"] == "breach"
    assert body["kind"] == "sla"
    assert body["text"] == ":red_circle: Rapport sla BREACH: gold.sales_by_day. 75 s behind"
