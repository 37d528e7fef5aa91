"""`rapport stream start|stop|status`: the stream process in the background, with a pid file."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

from rapport.runtime.processes import ManagedProcess, child_env
from rapport.settings import Settings, settings_env
from streaming.runner import BACKGROUND, HOT, ROLES, status_file

RUNNER_MODULE = "streaming.runner"


@dataclass(frozen=True)
class StreamStatus:
    running: bool
    pid: int | None
    state: str
    queries: dict[str, Any]
    #: The refine (silver) query's last ops.stream_batches row (lag, watermark, rows).
    last_batch: dict[str, Any]
    #: The hot query's last ops.stream_batches row: how far gold has read Kafka.
    last_gold_batch: dict[str, Any]
    #: What to do about the failure that stopped a query, when Rapport knows
    #: (`streaming.runner.explain_failure`); kept until the stream starts again.
    advice: str | None = None

    @property
    def caught_up(self) -> bool:
        """Gold and silver have both processed everything Kafka held at their last batch."""
        return all(b.get("total_lag") == 0 for b in (self.last_batch, self.last_gold_batch))


class StreamService:
    """Starts `python -m streaming.runner` detached, and finds it again by its pid file."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # Module and state dir in the command line tell this project's stream from any other
        # process, the registry included (it carries the same --state-dir).
        self.process = ManagedProcess(
            "stream", settings.run_dir, marker=f"{RUNNER_MODULE} --state-dir={settings.state_dir}"
        )

    def _board(self, role: str = HOT) -> dict[str, Any]:
        try:
            board: dict[str, Any] = json.loads(status_file(self.settings, role).read_text())
            return board
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def _state(self) -> str:
        """'running' once both processes run their queries; else the least advanced state."""
        states = [str(self._board(role).get("state", "starting")) for role in ROLES]
        if all(state == "running" for state in states):
            return "running"
        return next(state for state in states if state != "running")

    def start(self, timeout_s: float | None = None) -> bool:
        """Start the stream and wait until its queries run (`stream.start_timeout_s` unless
        given); False if it already ran."""
        if self.process.pid() is not None:
            return False
        for role in ROLES:
            status_file(self.settings, role).unlink(missing_ok=True)
        argv = [sys.executable, "-m", RUNNER_MODULE, f"--state-dir={self.settings.state_dir}"]
        self.process.launch(
            argv,
            # Gold's query runs: the background process may still be starting (niced, it
            # can take minutes on a busy machine); `status` shows its state.
            ready=lambda: self._board(HOT).get("state") == "running",
            timeout_s=timeout_s or self.settings.stream.start_timeout_s,
            what="The stream",
            # The child rebuilds exactly these settings, whatever this process was given.
            env=child_env(settings_env(self.settings)),
        )
        return True

    def stop(self) -> bool:
        """Graceful stop (SIGTERM lets the queries finish their commit); False if not running."""
        return self.process.stop(timeout_s=120)

    def status(self) -> StreamStatus:
        pid = self.process.pid()
        hot, background = self._board(HOT), self._board(BACKGROUND)
        return StreamStatus(
            running=pid is not None,
            pid=pid,
            state=self._state() if pid else "stopped",
            queries={**hot.get("queries", {}), **background.get("queries", {})},
            last_batch=background.get("last_batch") or {},
            last_gold_batch=hot.get("last_gold_batch") or {},
            advice=hot.get("advice") or background.get("advice"),
        )


def describe_batch(batch: dict[str, Any], query: str = "refine") -> list[str]:
    """Readable lines for a query's last batch: what freshness and lag look like."""
    if not batch:
        return [f"  no {query} batch yet"]
    lines = [
        f"  last {query} batch {batch.get('batch_id')} at {batch.get('finished_at')}: "
        f"{batch.get('input_rows')} rows ({batch.get('quarantined_rows')} quarantined, "
        f"{batch.get('duplicate_rows')} duplicate, {batch.get('late_rows')} late) in "
        f"{batch.get('duration_ms')} ms",
        f"  newest event {batch.get('max_event_time')}, watermark {batch.get('watermark')}",
        f"  Kafka lag {batch.get('total_lag')} records",
    ]
    for lag in batch.get("kafka_lag") or []:
        if lag.get("lag"):
            lines.append(
                f"    {lag['topic']}[{lag['partition']}]: {lag['lag']} behind "
                f"(end {lag['end_offset']}, processed {lag['processed_offset']})"
            )
    return lines
