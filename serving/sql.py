"""Embedded SQL over the Delta tables without a JVM: DuckDB on delta-rs, with the catalog's names.

`rapport sql` and the dashboard answer here in milliseconds instead of starting Spark. Each
query registers only the tables it names, each as a view over the table's current Delta
snapshot (read by delta-rs, handed to DuckDB as an Arrow dataset, so filters reach the
Parquet files). Delta time travel is written as in Spark SQL: `gold.sales_by_day VERSION AS
OF 3` or `TIMESTAMP AS OF '2026-11-26 10:00:00'`. The tables keep deletion vectors and
column mapping off (lakehouse.tables.COMMON_PROPERTIES), so delta-rs reads every one of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lakehouse.layout import LAYERS, delta_uri, table_location
from lakehouse.settings import Settings

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

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
        """The view DuckDB queries: the catalog name, or a name of its own for a past version."""
        if self.version is not None:
            return f"{self.qualified_name}__v{self.version}"
        if self.timestamp is not None:
            return f"{self.qualified_name}__t{int(self.timestamp.timestamp())}"
        return self.qualified_name


def catalog_names() -> list[str]:
    """Every table of the catalog (imports the table definitions: for error messages only,
    since they bring Spark's types along, which the fast path does without)."""
    from lakehouse.tables import TABLES

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


class EmbeddedSql:
    """One DuckDB connection with the catalog's schemas; tables are attached per query."""

    def __init__(self, settings: Settings) -> None:
        import duckdb

        self.settings = settings
        self.connection: duckdb.DuckDBPyConnection = duckdb.connect(":memory:")
        for layer in LAYERS:
            self.connection.execute(f"CREATE SCHEMA IF NOT EXISTS {layer}")

    def _attach(self, ref: _Reference) -> None:
        from deltalake import DeltaTable
        from deltalake.exceptions import DeltaError, TableNotFoundError

        uri = delta_uri(table_location(self.settings, ref.layer, ref.name))
        try:
            delta = DeltaTable(uri)
            if ref.version is not None:
                delta.load_as_version(ref.version)
            elif ref.timestamp is not None:
                delta.load_as_version(ref.timestamp)
        except TableNotFoundError as exc:
            if ref.qualified_name not in catalog_names():
                raise SqlError(
                    f"no table {ref.qualified_name} in the catalog; known tables: {_known()}"
                ) from exc
            raise SqlError(
                f"{ref.qualified_name} holds no data yet (no Delta table at {uri}): "
                "start the stack (`make up`) and send events, or run a backfill"
            ) from exc
        except (DeltaError, ValueError, OSError) as exc:
            raise SqlError(
                f"cannot read {ref.qualified_name} as asked ({exc}); "
                f"DESCRIBE HISTORY lists its versions: `rapport sql --spark "
                f'"DESCRIBE HISTORY {ref.qualified_name}"`'
            ) from exc
        hidden = "__" + ref.view.replace(".", "__")
        self.connection.register(hidden, delta.to_pyarrow_dataset())
        self.connection.execute(f"CREATE OR REPLACE VIEW {ref.view} AS SELECT * FROM {hidden}")

    def query(self, sql: str, limit: int | None = None) -> pa.Table:
        """Run one SQL statement over the current tables; the result (its first `limit`
        rows, when given, without computing more than DuckDB must) as an Arrow table."""
        import duckdb

        if _WRITES.match(sql):
            raise SqlError(
                "the embedded SQL only reads; run this on Spark SQL: "
                f'rapport sql --spark "{sql.strip()}"'
            )
        rewritten, refs = references(sql)
        for ref in {r.view: r for r in refs}.values():
            self._attach(ref)
        try:
            relation = self.connection.sql(rewritten)
            if relation is None:
                raise SqlError("the statement returned no rows; the embedded SQL only reads")
            if limit is not None:
                relation = relation.limit(limit)
            return relation.to_arrow_table()
        except duckdb.ParserException as exc:
            raise SqlError(f"the query does not parse: {exc}") from exc
        except duckdb.CatalogException as exc:
            raise SqlError(f"{exc}\nknown tables: {_known()}") from exc
        except duckdb.Error as exc:
            raise SqlError(str(exc)) from exc

    def rows(self, sql: str) -> list[dict[str, Any]]:
        """The result as dictionaries (small results: the dashboard's figures)."""
        rows: list[dict[str, Any]] = self.query(sql).to_pylist()
        return rows

    def close(self) -> None:
        self.connection.close()


def query(settings: Settings, sql: str, limit: int | None = None) -> pa.Table:
    """One query on a connection of its own."""
    engine = EmbeddedSql(settings)
    try:
        return engine.query(sql, limit)
    finally:
        engine.close()
