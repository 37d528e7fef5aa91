"""The first end-to-end slice, as a user runs it: `make run`, send an event, query it, Ctrl-C.

Everything is real and out of process: the CLI, the Kafka broker, the stream's own Spark
JVM and the Delta table. Only the state folder and ports are the test's own.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rapport.cli.stack_cmd import Stack
from rapport.lakehouse.layout import existing_delta
from rapport.lakehouse.tables import BRONZE_EVENTS, GOLD_SALES_BY_DAY
from rapport.runtime.ports import free_port
from rapport.runtime.processes import wait_until
from rapport.settings import Settings
from tests.helpers.settings import SettingsFactory, rapport_bin, run_rapport

pytestmark = pytest.mark.e2e


#: Everything the CLI printed in this module's tests: no secret may be in it.
PRINTED: list[str] = []


def rapport(
    env: dict[str, str], *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`run_rapport`, keeping what it printed for the secrets check."""
    done = run_rapport(env, *args, timeout=timeout)
    PRINTED.extend((done.stdout, done.stderr))
    return done


def secret_settings() -> tuple[dict[str, Any], list[str]]:
    """Settings overrides with a known, unique value in every secret, and those values."""
    token = uuid.uuid4().hex
    secrets = {
        "pseudonym": f"pk-{token}",
        "registry": f"rp-{token}",
        "webhook": f"hook-{token}",
    }
    overrides = {
        "privacy": {"pseudonym_key": secrets["pseudonym"]},
        "registry": {"username": "rapport", "password": secrets["registry"]},
        # A closed port: an alert's failed POST must not print the URL's secret path either.
        "quality": {"alert_webhook_url": f"http://127.0.0.1:9/{secrets['webhook']}"},
    }
    return overrides, list(secrets.values())


def files_holding(root: Path, values: list[str]) -> list[str]:
    """Files under `root` (logs, Dagster's run storage, pid and status files) holding one of
    the values, in any encoding a log or SQLite would store text in."""
    found = []
    needles = [v.encode() for v in values]
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            if any(n in data for n in needles):
                found.append(str(path.relative_to(root)))
    return found


def bronze_values(spark: Any, settings: Settings) -> list[str]:
    path = BRONZE_EVENTS.location(settings)
    rows = spark.read.format("delta").load(path).selectExpr("cast(value as string) v").collect()
    return [r.v for r in rows]


def port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


#: What the SQL server must answer exactly as `rapport sql` does: a gold table, a join of two
#: silver tables and a Delta time-travel read. Money is cast to text so that every client
#: prints it alike.
SERVED_QUERIES = (
    "SELECT CAST(event_date AS STRING) AS day, currency, orders, "
    "CAST(order_value AS STRING) AS order_value FROM gold.sales_by_day ORDER BY day, currency",
    "SELECT o.currency, count(*) AS lines, CAST(sum(l.line_amount) AS STRING) AS amount "
    "FROM silver.orders o JOIN silver.order_lines l ON o.event_id = l.event_id "
    "GROUP BY o.currency ORDER BY o.currency",
    "SELECT count(*) AS groups, CAST(sum(orders) AS BIGINT) AS orders "
    "FROM gold.sales_by_day VERSION AS OF {version}",
)

CONNECT_CLIENT = """
import json, sys
from pyspark.sql import SparkSession
spark = SparkSession.builder.remote(sys.argv[1]).getOrCreate()
print(json.dumps([[list(map(str, r)) for r in spark.sql(q).collect()] for q in sys.argv[2:]]))
"""


def same_figures_through_jdbc_connect_and_rapport_sql(
    env: dict[str, str], settings: Settings
) -> None:
    """beeline (JDBC), a DB-API client and Spark Connect return what `rapport sql` returns."""
    import sys

    from serving.sql_server_service import SqlServerService, beeline_command

    sim = rapport(env, "simulate", "--rate", "200", "--events", "400", "--no-progress")
    assert sim.returncode == 0, sim.stderr

    columns: dict[str, list[str]] = {}

    def embedded(query: str) -> list[list[str]]:
        out = rapport(env, "sql", query, "--format", "json", "--limit", "1000")
        assert out.returncode == 0, out.stderr
        rows = json.loads(out.stdout)
        columns[query] = list(rows[0]) if rows else []
        return [[str(v) for v in row.values()] for row in rows]

    seen: dict[str, Any] = {}
    queries = list(SERVED_QUERIES)

    def filled() -> bool:
        """Gold and silver hold the simulated orders (silver runs on idle CPU: it may lag)."""
        # Time travel to the version gold has now: pinned, so later commits change nothing.
        gold = existing_delta(GOLD_SALES_BY_DAY.location(settings))
        version = gold.version() if gold is not None else 0
        queries[:] = [q.format(version=version) for q in SERVED_QUERIES]
        now = []
        for query in queries:
            out = rapport(env, "sql", query, "--format", "json")
            seen[query] = out.stdout[-300:] + out.stderr[-300:]
            rows = json.loads(out.stdout) if out.returncode == 0 else []
            if not rows or str(next(iter(rows[0].values()))) in {"0", "None"}:
                return False
            now.append(out.stdout)
        # Settled: silver holds every order gold counts and each order's lines (silver
        # commits an order before its lines, decision 0022), and the same answers came twice
        # in a row, so every client below reads what this did.
        counts = embedded(
            "SELECT (SELECT count(*) FROM silver.orders) AS silver, "
            "(SELECT CAST(sum(orders) AS BIGINT) FROM gold.sales_by_day) AS gold, "
            "(SELECT count(*) FROM silver.orders o WHERE NOT EXISTS (SELECT 1 FROM "
            "silver.order_lines l WHERE l.event_id = o.event_id)) AS without_lines"
        )
        in_silver, in_gold, without_lines = counts[0]
        settled = in_silver == in_gold and without_lines == "0" and now == seen.get("previous")
        seen["previous"] = now
        return settled

    assert wait_until(filled, timeout_s=480, interval_s=5.0), seen
    expected = [embedded(q) for q in queries]
    service = SqlServerService(settings)
    # One beeline for the three queries (a JVM each cost seconds): each answer is a header
    # line and its rows, one after the other.
    script = "".join(f"{q};\n" for q in queries)
    argv = beeline_command(service.jdbc_url, ["--outputformat=csv2", "--silent=true", "-e", script])
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False, env=env)
    assert out.returncode == 0, out.stderr
    answers = [ln.split(",") for ln in out.stdout.splitlines() if ln.strip()]
    wanted = [
        line for q, rows in zip(queries, expected, strict=True) for line in (columns[q], *rows)
    ]
    assert answers == wanted, out.stdout
    from pyhive import hive  # a DB-API client, as a BI tool's Python side uses the server

    connection = hive.connect(host="127.0.0.1", port=settings.serving.thrift_port)
    try:
        for query, rows in zip(queries, expected, strict=True):
            cursor = connection.cursor()
            cursor.execute(query)
            assert [[str(v) for v in row] for row in cursor.fetchall()] == rows, query
    finally:
        connection.close()
    assert service.connect_url is not None
    connect = subprocess.run(
        [sys.executable, "-c", CONNECT_CLIENT, service.connect_url, *queries],
        capture_output=True, text=True, timeout=180, check=False, env=env,
    )  # fmt: skip
    assert connect.returncode == 0, connect.stderr
    assert json.loads(connect.stdout.strip().splitlines()[-1]) == expected


#: A `stream_quality` run of one check, as the hourly schedule launches it (same job, same
#: resource); prints its verdict, its rows in ops.quality_results and whether it began a JVM.
QUALITY_RUN = """
import json
import dagster as dg
from pyspark import SparkContext
from orchestration.definitions import build_definitions
from orchestration.quality_gates import CHECK_NAME, STREAM_QUALITY
from orchestration.resources import RapportResource

key = dg.AssetCheckKey(dg.AssetKey(["silver", "orders"]), CHECK_NAME)
job = build_definitions().resolve_job_def(STREAM_QUALITY)
job = job.get_subset(asset_check_selection={key}, asset_selection=set())
run = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
(verdict,) = run.get_asset_check_evaluations()
spark = RapportResource().checks_spark()
recorded = spark.sql(
    "SELECT count(*) AS n, max(rows_checked) AS r FROM ops.quality_results "
    f"WHERE run_id = '{run.run_id}'"
).first()
print(json.dumps({
    "passed": verdict.passed, "recorded": recorded.n, "rows_checked": recorded.r,
    "own_jvm": SparkContext._active_spark_context is not None,
}))
"""


def quality_run_goes_through_the_sql_server(env: dict[str, str]) -> None:
    """The hourly quality run's checks run in the SQL server's JVM, not in one of its own."""
    import sys

    orders = json.loads(rapport(env, "sql", "SELECT count(*) AS n FROM silver.orders",
                                "--format", "json").stdout)[0]["n"]  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-c", QUALITY_RUN],
        capture_output=True, text=True, timeout=300, check=False, env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    run = json.loads(out.stdout.strip().splitlines()[-1])
    assert run["passed"] is True, out.stderr[-3000:]
    assert run["recorded"] > 0, run
    assert run["rows_checked"] == orders, run
    assert run["own_jvm"] is False, run


def test_run_produce_query_then_ctrl_c_with_its_pipe_gone(
    make_settings: SettingsFactory, spark: Any, child_env: Callable[[Settings], dict[str, str]]
) -> None:
    overrides, secrets = secret_settings()
    # The Spark UIs on too: the stream's and the SQL server's must listen on loopback alone.
    settings = make_settings(
        "e2e-up",
        serving={"enabled": True},
        spark={"ui_enabled": True, "ui_port": free_port()},
        **overrides,
    )
    env = child_env(settings)
    # `make run | tee log`: the stack in the foreground, its output read through a pipe.
    errors = settings.state_dir / "run-stderr.log"
    with errors.open("w") as stderr:
        proc = subprocess.Popen(
            [str(rapport_bin()), "run"], env=env, stdout=subprocess.PIPE, stderr=stderr,
            text=True,
        )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 300
        for line in proc.stdout:
            lines.append(line)
            if "Press Ctrl-C" in line or time.monotonic() > deadline:
                break
        text = "".join(lines)
        PRINTED.append(text)
        assert "Press Ctrl-C" in text, text + errors.read_text()
        assert "Kafka started" in text
        assert "stream started" in text
        assert f"dashboard started on {settings.dashboard.url}" in text
        # It says what runs where.
        assert f"127.0.0.1:{settings.kafka.broker_port}" in text
        assert settings.lakehouse in text
        assert settings.registry.url in text

        again = rapport(env, "up")
        assert "already running" in again.stdout

        status = rapport(env, "status")
        assert "kafka    running" in status.stdout
        assert "registry running" in status.stdout
        assert "stream   running" in status.stdout
        assert "dashboard running" in status.stdout

        event_id = f"e2e-{uuid.uuid4().hex}"
        ce = {
            "specversion": "1.0",
            "id": event_id,
            "type": "OrderPlaced",
            "source": "/orders",
            "time": "2026-11-26T10:00:00Z",
            "data": {"order_id": "o-1"},
        }
        sent = rapport(env, "produce", "orders", json.dumps(ce), "--key", "o-1")
        assert sent.returncode == 0, sent.stderr
        assert rapport(env, "produce", "orders", "this is not an event").returncode == 0

        def landed() -> bool:
            values = bronze_values(spark, settings)
            return any(event_id in v for v in values) and "this is not an event" in values

        assert wait_until(landed, timeout_s=90, interval_s=1.0), "events did not reach bronze"

        # The documented query, through the CLI and the catalog name.
        out = rapport(
            env,
            "sql",
            f"SELECT event_id, event_type FROM bronze.events WHERE event_id = '{event_id}'",
            "--format",
            "json",
        )
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout.strip().splitlines()[-1]) == [
            {"event_id": event_id, "event_type": "OrderPlaced"}
        ]

        # The background process reports its queries' progress a moment after their commits.
        stream_status: list[str] = []

        def bronze_reported() -> bool:
            shown = rapport(env, "stream", "status")
            stream_status[:] = [shown.stdout]
            return shown.returncode == 0 and "bronze_events: batch" in shown.stdout

        assert wait_until(bronze_reported, timeout_s=60, interval_s=2.0), stream_status

        served = rapport(env, "status").stdout
        assert "sql      running" in served
        assert re.search(r"^total\s+RSS [\d,]+ MiB$", served, re.M), served
        # No open doors: every service listens, and on loopback alone.
        stack = Stack(settings)
        listening = stack.listening()
        assert set(listening) == {"kafka", "registry", "stream", "dagster", "dashboard", "sql"}
        assert all(listening.values()), listening
        assert stack.open_doors() == {}, listening
        assert "warning" not in served
        same_figures_through_jdbc_connect_and_rapport_sql(env, settings)
        quality_run_goes_through_the_sql_server(env)

        # Ctrl-C after `tee` died: every later write hits a broken pipe, and the shutdown
        # must still stop every service. (`rapport down`: tests/chaos/test_cluster.py.)
        proc.stdout.close()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=180)
        after = rapport(env, "status").stdout
        for service in ("kafka    stopped", "registry stopped", "stream   stopped",
                        "dagster  stopped", "dashboard stopped", "sql      stopped"):  # fmt: skip
            assert service in after, after
        assert not port_open(settings.serving.thrift_port)
        assert not port_open(settings.kafka.broker_port)
        assert rapport(env, "kafka", "status").returncode == 3
    finally:
        if proc.poll() is None:
            proc.kill()
        rapport(env, "down")  # never leave services behind, even when the test fails
    PRINTED.append(errors.read_text())
    # No secret in anything printed, logged or stored: CLI output, service logs, Dagster's
    # run records and event logs, pid and status files.
    assert not [s for s in secrets if any(s in text for text in PRINTED)]
    assert files_holding(settings.state_dir, secrets) == []


def test_bad_sql_is_a_clear_error(
    make_settings: SettingsFactory, child_env: Callable[[Settings], dict[str, str]]
) -> None:
    env = child_env(make_settings("e2e-sql"))
    out = rapport(env, "sql", "SELECT * FROM bronze.nope")
    assert out.returncode == 1
    assert "bronze.events" in out.stderr  # the known tables are listed
    assert "Traceback" not in out.stderr
    out = rapport(env, "sql", "SELEKT 1")
    assert out.returncode == 1
    assert "does not parse" in out.stderr
