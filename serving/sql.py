"""Embedded SQL over the Delta tables without a JVM: delta-rs and its DataFusion engine.

`rapport sql` and the dashboard answer here in milliseconds instead of starting Spark, and
without importing pyarrow or numpy (a query takes milliseconds; docs/decisions/0009). Each
query registers only the tables it names, at their current Delta snapshot; the catalog names
(`gold.sales_by_day`) are rewritten to the registered ones, since DataFusion's default catalog
has no schemas. Delta time travel is written as in Spark SQL: `gold.sales_by_day VERSION AS
OF 3` or `TIMESTAMP AS OF '2026-11-26 10:00:00'`. The tables keep deletion vectors and
column mapping off (rapport.lakehouse.tables.COMMON_PROPERTIES), so delta-rs reads them all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rapport.lakehouse.layout import LAYERS, delta_uri, existing_delta, table_location
from rapport.settings import Settings

if TYPE_CHECKING:
    from deltalake import QueryBuilder

#: A catalog name in a query, with an optional time-travel clause after it.
_NAME = re.compile(
    r"\b(?P<layer>" + "|".join(LAYERS) + r")\.(?P<name>[A-Za-z_][A-Za-z0-9_]*)\b"
    r"(?P<travel>\s+(?:VERSION\s+AS\s+OF\s+(?P<version>\d+)"
    r"|TIMESTAMP\s+AS\s+OF\s+'(?P<timestamp>[^']+)'))?",
    re.IGNORECASE,
)


#: Statements the embedded SQL refuses: it reads; writes and table history go through Spark.
_WRITES = re.compile(
    r"^\s*(INSERT|UPDATE|DELETE|MERGE|CREATE|DROP|ALTER|TRUNCATE|COPY|DESCRIBE\s+HISTORY"
    r"|OPTIMIZE|VACUUM)\b",
    re.IGNORECASE,
)


class SqlError(ValueError):
    """A query that cannot be answered; the message says what to do next."""


@dataclass(frozen=True)
class _Reference:
    layer: str
    name: str
    version: int | None
    timestamp: datetime | None

    @property
    def qualified_name(self) -> str:
        return f"{self.layer}.{self.name}"

    @property
    def view(self) -> str:
        """The name the table is registered under: one per table and version read."""
        base = f"{self.layer}__{self.name}"
        if self.version is not None:
            return f"{base}__v{self.version}"
        if self.timestamp is not None:
            return f"{base}__t{int(self.timestamp.timestamp())}"
        return base


def catalog_names() -> list[str]:
    """Every table of the catalog (imports the table definitions: for error messages only,
    since they bring Spark's types along, which the fast path does without)."""
    from rapport.lakehouse.tables import TABLES

    return [t.qualified_name for t in TABLES]


def _known() -> str:
    return ", ".join(catalog_names())


def _timestamp(text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise SqlError(
            f"TIMESTAMP AS OF '{text}' is not a time; write 2026-11-26 10:00:00"
        ) from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def references(query: str) -> tuple[str, list[_Reference]]:
    """The query with time travel rewritten to view names, and the tables it reads."""
    found: list[_Reference] = []

    def replace(match: re.Match[str]) -> str:
        version = int(match["version"]) if match["version"] else None
        stamp = _timestamp(match["timestamp"]) if match["timestamp"] else None
        ref = _Reference(match["layer"].lower(), match["name"].lower(), version, stamp)
        found.append(ref)
        return ref.view

    return _NAME.sub(replace, query), found


@dataclass(frozen=True)
class Result:
    """A query's rows, column by column (Arrow underneath, readable without pyarrow)."""

    columns: list[str]
    data: Any  # an Arrow table (arro3); `pyarrow.table(result.data)` converts it for free

    @property
    def num_rows(self) -> int:
        return int(self.data.num_rows)

    def column(self, name: str) -> list[Any]:
        return list(self.data.column(name).to_pylist())

    def to_pylist(self) -> list[dict[str, Any]]:
        values = [self.column(c) for c in self.columns]
        return [dict(zip(self.columns, row, strict=True)) for row in zip(*values, strict=True)]

    def to_pandas(self) -> Any:
        import pyarrow as pa

        return pa.table(self.data).to_pandas()


class EmbeddedSql:
    """Queries over the lakehouse. Each query gets a DataFusion session of its own with the
    tables it names at their newest snapshot, so a long-lived caller (the dashboard) never
    reads a stale one."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _attach(self, builder: QueryBuilder, ref: _Reference) -> None:
        from deltalake.exceptions import DeltaError

        location = table_location(self.settings, ref.layer, ref.name)
        delta = existing_delta(location)
        if delta is None:
            if ref.qualified_name not in catalog_names():
                raise SqlError(
                    f"no table {ref.qualified_name} in the catalog; known tables: {_known()}"
                )
            raise SqlError(
                f"{ref.qualified_name} holds no data yet (no Delta table at "
                f"{delta_uri(location)}): start the stack (`make up`) and send events, "
                "or run a backfill"
            )
        try:
            if ref.version is not None:
                delta.load_as_version(ref.version)
            elif ref.timestamp is not None:
                delta.load_as_version(ref.timestamp)
        except (DeltaError, ValueError, OSError) as exc:
            raise SqlError(
                f"cannot read {ref.qualified_name} as asked ({exc}); "
                f"DESCRIBE HISTORY lists its versions: `rapport sql --spark "
                f'"DESCRIBE HISTORY {ref.qualified_name}"`'
            ) from exc
        builder.register(ref.view, delta)

    def query(self, sql: str, limit: int | None = None) -> Result:
        """Run one SQL statement over the current tables; its rows (the first `limit`, read
        as a stream and stopped there, when given)."""
        from deltalake.exceptions import DeltaError

        if _WRITES.match(sql):
            raise SqlError(
                "the embedded SQL only reads; run this on Spark SQL: "
                f'rapport sql --spark "{sql.strip()}"'
            )
        from deltalake import QueryBuilder

        rewritten, refs = references(sql)
        builder = QueryBuilder()
        for ref in {r.view: r for r in refs}.values():
            self._attach(builder, ref)
        try:
            reader = builder.execute(rewritten)
            if limit is None:
                data = reader.read_all()
            else:
                from arro3.core import Table

                batches, kept = [], 0
                for batch in reader:
                    if kept >= limit:
                        break
                    batches.append(batch.slice(0, min(batch.num_rows, limit - kept)))
                    kept += batches[-1].num_rows
                data = Table.from_batches(batches, schema=reader.schema)
        except DeltaError as exc:
            message = str(exc)
            if "ParserError" in message or "SQL error" in message:
                raise SqlError(f"the query does not parse: {message}") from exc
            if "not found" in message:
                raise SqlError(
                    f"{message}; name tables as layer.table; known tables: {_known()}"
                ) from exc
            raise SqlError(message) from exc
        return Result(list(data.column_names), data)

    def rows(self, sql: str) -> list[dict[str, Any]]:
        """The result as dictionaries (small results: the dashboard's figures)."""
        return self.query(sql).to_pylist()

    def close(self) -> None:
        """Nothing is held between queries; kept so callers can scope an engine."""


def query(settings: Settings, sql: str, limit: int | None = None) -> Result:
    """One query on a connection of its own."""
    engine = EmbeddedSql(settings)
    try:
        return engine.query(sql, limit)
    finally:
        engine.close()
