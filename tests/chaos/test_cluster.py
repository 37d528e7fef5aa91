"""Scale-out: the stack on the cluster profile, with a Spark worker killed under load.

`rapport up --cluster` starts a Spark standalone master and two workers (from the pyspark
wheel) and three Kafka brokers; the stream's drivers run on that master by settings alone.
While the simulator's shop traffic flows, one worker is SIGKILLed with every executor it
started, then started again with `rapport spark-cluster start`. Gold must equal the ledger,
exactly as in local mode. The bounded run (`make test`) checks gold, the hot path; the full
one (`make chaos`) also runs the SQL server on the cluster, sends five times as much,
checks silver and quarantine too, and runs a Dagster backfill whose Spark session is one
more application of the master; the scenario's counts go to the chaos report.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from rapport.cli.stack_cmd import Stack
from rapport.lakehouse.tables import GOLD_SALES_BY_DAY
from rapport.runtime.ports import free_port, free_port_block
from rapport.runtime.processes import port_taken, wait_until
from rapport.runtime.spark_cluster import LocalSparkCluster
from rapport.settings import Settings, with_profile
from rapport.simulator.ledger import Ledger
from rapport.simulator.wire import ChaosConfig
from tests.helpers.chaos import FULL, Report, scale
from tests.helpers.ledger_checks import assert_gold_matches, assert_tables_match, rows, tally
from tests.helpers.settings import SettingsFactory
from tests.helpers.settings import run_rapport as rapport
from tests.helpers.streams import START, send, shop_records

pytestmark = [pytest.mark.chaos, pytest.mark.e2e]


def master_state(settings: Settings) -> dict[str, Any]:
    """The master's own account (its UI's JSON): workers, and the applications it runs."""
    url = f"http://127.0.0.1:{settings.spark.local_ui_port}/json/"
    with urllib.request.urlopen(url, timeout=10) as response:
        state: dict[str, Any] = json.load(response)
    return state


def holds(check: Callable[[], None]) -> Callable[[], bool]:
    """A check that raises AssertionError, as a condition to poll."""

    def condition() -> bool:
        try:
            check()
        except AssertionError:
            return False
        return True

    return condition


def test_the_cluster_profile_keeps_gold_exact_through_a_killed_worker(
    make_settings: SettingsFactory,
    spark: Any,
    child_env: Callable[[Settings], dict[str, str]],
    chaos_report: Report,
) -> None:
    first = free_port_block(6)  # three brokers, a broker and a controller port each
    settings = make_settings(
        "cluster-up",
        kafka={"broker_port": first, "controller_port": first + 1, "broker_heap": "384m"},
        # The SQL server is one more driver with two executors: the full run's alone.
        serving={"enabled": FULL},
        spark={
            "local_master_port": free_port(),
            "local_ui_port": free_port(),
            "local_worker_ui_port": free_port_block(2),
        },
    )
    cluster = with_profile(settings, "cluster")
    env = child_env(settings)
    try:
        up = rapport(env, "up", "--cluster", timeout=600)
        assert up.returncode == 0, up.stdout + up.stderr
        assert f"Kafka started on {cluster.kafka.bootstrap_servers} (3 brokers)" in up.stdout
        assert f"Spark cluster started: master {cluster.spark.master}, 2 workers" in up.stdout
        assert "stream started" in up.stdout

        # Every broker, the master and each worker, from the recorded profile: no flag.
        status = rapport(env, "status").stdout
        assert f"profile  cluster (Spark master {cluster.spark.master})" in status
        for member in ("kafka-1", "kafka-2", "kafka-3", "spark-master"):
            assert re.search(rf"^{member}\s+running", status, re.M), status
        for worker in ("spark-worker-1", "spark-worker-2"):
            assert re.search(rf"^{worker}\s+running .*, ALIVE", status, re.M), status
        drivers = {"rapport-stream-hot", "rapport-stream-background"}
        drivers |= {"rapport-sql-server"} if FULL else set()
        assert drivers <= {a["name"] for a in master_state(cluster)["activeapps"]}
        # The master, the workers and their executors listen on loopback alone.
        stack = Stack(cluster)
        listening = stack.listening()
        assert {"spark-master", "spark-worker-1", "spark-worker-2"} <= set(listening)
        assert stack.open_doors() == {}, listening

        records = shop_records(
            seed=61, actions=scale(1200, 6000), start=START, chaos=ChaosConfig(malformed=0.02)
        )
        half = len(records) // 2
        ledger = Ledger()
        send(cluster, records[:half], ledger)
        assert wait_until(lambda: rows(spark, cluster, GOLD_SALES_BY_DAY), timeout_s=300), (
            "gold stayed empty on the cluster"
        )
        victim = LocalSparkCluster(cluster).workers[0]
        pid = victim.process.pid()
        assert pid is not None
        os.killpg(pid, signal.SIGKILL)  # the worker and every executor it started
        send(cluster, records[half:], ledger)
        status = rapport(env, "status").stdout
        assert re.search(r"^spark-worker-1 stopped", status, re.M), status
        restarted = rapport(env, "spark-cluster", "start")
        assert restarted.returncode == 0, restarted.stderr
        assert "Spark cluster started" in restarted.stdout

        check = assert_tables_match if FULL else assert_gold_matches
        wait_until(holds(lambda: check(spark, cluster, ledger)), timeout_s=600, interval_s=5.0)
        check(spark, cluster, ledger)  # says what differs, if it ever does
        workers = master_state(cluster)["workers"]
        alive = {w["webuiaddress"] for w in workers if w["state"] == "ALIVE"}
        assert alive == {w.ui for w in LocalSparkCluster(cluster).workers}, workers
        if FULL:
            # The SQL server answers from its executors on the cluster as `rapport sql` does.
            query = "SELECT CAST(sum(orders) AS BIGINT) AS orders FROM gold.sales_by_day"
            embedded = json.loads(rapport(env, "sql", query, "--format", "json").stdout)
            from serving.sql_server_service import SqlServerService, beeline_command

            argv = beeline_command(
                SqlServerService(cluster).jdbc_url,
                ["--outputformat=csv2", "--silent=true", "-e", f"{query};"],
            )
            out = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
            assert out.returncode == 0, out.stderr
            assert out.stdout.split() == ["orders", str(embedded[0]["orders"])]
            # A Dagster backfill's run is one more application of the same master.
            days = ("--from", START.date().isoformat(), "--to", "2026-03-02")
            ran = rapport(
                env, "backfill", *days, "--aggregates-only", "--wait", "900", timeout=1000
            )
            assert ran.returncode == 0, ran.stdout + ran.stderr
            state = master_state(cluster)
            apps = [a["name"] for a in (*state["activeapps"], *state["completedapps"])]
            assert "rapport-dagster" in apps, apps
            chaos_report("Spark worker SIGKILL (cluster)", tally(spark, cluster, ledger),
                         workers_killed=1)  # fmt: skip
    finally:
        down = rapport(env, "down")
    assert down.returncode == 0, down.stderr
    assert "Spark cluster: stopped" in down.stdout
    assert "Kafka: stopped" in down.stdout
    ports = [cluster.spark.local_master_port, *(b for b, _ in cluster.kafka.node_ports())]
    assert not [p for p in ports if port_taken("127.0.0.1", p)]
    assert "profile" not in rapport(env, "status").stdout  # forgotten with the stack
