"""The freshness SLAs, read from the one file users edit (quality/slas.yaml), per table.

The stream's tables get a bound on how long an event may wait before it is in them; the
daily tables a time of day by which each day's partition must be ready. Patterns are
resolved against the table catalog here, once, so a typo fails loudly instead of leaving a
table without its SLA.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rapport.lakehouse.tables import (
    DAILY_TABLES,
    GOLD_TABLES,
    OPS_RECONCILIATION,
    SILVER_TABLES,
    TableDef,
)

#: Tables the stream writes (bronze has no SLA: it is written by its own, simpler query).
STREAM_SLA_TABLES: tuple[TableDef, ...] = (*SILVER_TABLES, *GOLD_TABLES)
#: Tables of the batch side, one partition per day.
DAILY_SLA_TABLES: tuple[TableDef, ...] = (*DAILY_TABLES, OPS_RECONCILIATION)


class SlaFileError(ValueError):
    """The SLA file is missing, not YAML, or names no table; the message says which line."""


class _StreamEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tables: str
    max_behind_s: float = Field(gt=0)


class _DailyEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tables: str
    ready_by: time

    @field_validator("ready_by", mode="before")
    @classmethod
    def _hh_mm(cls, value: object) -> object:
        if isinstance(value, int):  # YAML 1.1 reads 01:00 unquoted as 60 (sexagesimal)
            return time(value // 60, value % 60)
        return value


class _SlaFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stream: list[_StreamEntry] = []
    daily: list[_DailyEntry] = []


@dataclass(frozen=True)
class StreamSla:
    """An event waits at most `max_behind_s` before it is in `table`."""

    table: str
    max_behind_s: float
    pattern: str


@dataclass(frozen=True)
class DailySla:
    """Day D's partition of `table` is ready by `ready_by` UTC on day D + 1."""

    table: str
    ready_by: time
    pattern: str

    def deadline(self, day: date) -> datetime:

        return datetime.combine(day + timedelta(days=1), self.ready_by, tzinfo=UTC)

    def last_due_day(self, now: datetime) -> date:
        """The newest day whose deadline has passed at `now`."""
        day = now.date() - timedelta(days=1)
        return day if self.deadline(day) <= now else day - timedelta(days=1)


@dataclass(frozen=True)
class Slas:
    stream: tuple[StreamSla, ...]
    daily: tuple[DailySla, ...]

    def stream_sla(self, table: str) -> StreamSla | None:
        return next((s for s in self.stream if s.table == table), None)

    def daily_sla(self, table: str) -> DailySla | None:
        return next((s for s in self.daily if s.table == table), None)


def _resolve(pattern: str, tables: tuple[TableDef, ...], section: str) -> list[str]:
    names = [t.qualified_name for t in tables if fnmatch.fnmatchcase(t.qualified_name, pattern)]
    if not names:
        known = ", ".join(t.qualified_name for t in tables)
        raise SlaFileError(f"{section}: {pattern!r} matches no table; it can name: {known}")
    return names


def parse_slas(text: str, source: str = "<text>") -> Slas:
    """The SLAs of a YAML text; the first entry matching a table wins."""
    try:
        raw = yaml.safe_load(text) or {}
        parsed = _SlaFile.model_validate(raw)
    except (yaml.YAMLError, ValidationError) as exc:
        raise SlaFileError(f"{source} is not a valid SLA file: {exc}") from exc
    stream: dict[str, StreamSla] = {}
    for s_entry in parsed.stream:
        for name in _resolve(s_entry.tables, STREAM_SLA_TABLES, f"{source} stream"):
            stream.setdefault(name, StreamSla(name, s_entry.max_behind_s, s_entry.tables))
    daily: dict[str, DailySla] = {}
    for d_entry in parsed.daily:
        for name in _resolve(d_entry.tables, DAILY_SLA_TABLES, f"{source} daily"):
            daily.setdefault(name, DailySla(name, d_entry.ready_by, d_entry.tables))
    return Slas(stream=tuple(stream.values()), daily=tuple(daily.values()))


def load_slas(path: Path) -> Slas:
    """The SLAs of the file at `path` (settings.quality.sla_file)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise SlaFileError(
            f"cannot read the SLA file {path}: {exc.strerror}; set RAPPORT_QUALITY__SLA_FILE "
            "or restore quality/slas.yaml"
        ) from exc
    return parse_slas(text, str(path))
