"""A broker dies under load: a local three-node KRaft cluster loses no event and doubles none.

The cluster runs with replication factor 3 and min.insync.replicas 2 (`kafka.local_nodes=3`);
producers send with acks=all and idempotence. While the shop produces and the stream reads,
one node is killed with SIGKILL at a random moment and started again. With two of three
down, a producer gets an error for every record, never a false success; sent again once
the cluster is back, as a producer that honours its errors does, each lands exactly once.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from rapport.lakehouse.spark_catalog import ensure_table
from rapport.lakehouse.tables import TABLES
from rapport.runtime.kafka_broker import KafkaNode, LocalKafkaBroker
from rapport.runtime.ports import free_port_block
from rapport.settings import Settings
from rapport.simulator.ledger import Ledger
from rapport.simulator.wire import ChaosConfig
from streaming.hot import GoldStream, start_gold_query
from streaming.ingest import start_bronze_query, start_refine_query
from streaming.refine import Refiner
from tests.helpers.chaos import Report, scale
from tests.helpers.ledger_checks import assert_tables_match, tally
from tests.helpers.streams import START, produce_paced, shop_records

#: Three more JVMs and two minutes: `make chaos` only (the suite's time budget, .ci/run).
pytestmark = [pytest.mark.kafka, pytest.mark.spark, pytest.mark.chaos, pytest.mark.full_chaos]


@pytest.fixture
def cluster(make_settings: Any, settings: Settings, spark: Any) -> Iterator[LocalKafkaBroker]:
    """Three nodes on ports of their own; the session's registry; a lakehouse of its own."""
    first = free_port_block(6)
    own = make_settings(
        "cluster",
        kafka={"local_nodes": 3, "broker_port": first, "controller_port": first + 1,
               "broker_heap": "384m"},
        registry={"port": settings.registry.port},
    )  # fmt: skip
    broker = LocalKafkaBroker(own)
    broker.start()
    for table in TABLES:
        ensure_table(spark, own, table, register_name=False)
    try:
        yield broker
    finally:
        broker.stop()


def kill(node: KafkaNode) -> None:
    pid = node.process.pid()
    assert pid is not None, f"node {node.node_id} is not running"
    os.kill(pid, signal.SIGKILL)
    assert node.process.pid() is None or _waited_gone(node)


def _waited_gone(node: KafkaNode) -> bool:
    deadline = time.monotonic() + 30
    while node.process.pid() is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    return node.process.pid() is None


def test_one_broker_of_three_dies_and_nothing_is_lost_or_doubled(
    spark: Any, cluster: LocalKafkaBroker, schema_registry: Any, chaos_report: Report
) -> None:
    settings = cluster.settings
    seed = int(os.environ.get("RAPPORT_KILL_SEED", time.time_ns() % 10_000))
    rng = random.Random(seed)
    print(f"broker kills drawn with RAPPORT_KILL_SEED={seed}")
    chaos = ChaosConfig(duplicates=0.03, out_of_order=0.03, malformed=0.02)
    records = shop_records(seed=61, actions=scale(3000, 12000), start=START, chaos=chaos)
    ledger = Ledger()
    kills = scale(1, 4)
    rate = scale(300, 400)

    gold = GoldStream(settings)
    queries = [start_gold_query(spark, gold), start_bronze_query(spark, settings)]
    refiner = Refiner(settings)
    queries.append(start_refine_query(spark, refiner))
    outcome: dict[str, Any] = {}

    def shop() -> None:
        outcome["acked"], outcome["failed"] = produce_paced(settings, records, per_second=rate)

    producer = threading.Thread(target=shop)
    producer.start()
    killed = []
    span = len(records) / rate
    for _ in range(kills):
        time.sleep(rng.uniform(1.0, span / kills * 0.6))
        node = rng.choice(cluster.nodes)
        kill(node)
        killed.append(node.node_id)
        time.sleep(rng.uniform(3.0, 8.0))
        cluster.start_node(node)
        cluster.wait_until_ready([node])
    producer.join()
    assert not outcome["failed"], outcome["failed"][:3]
    for r in outcome["acked"]:
        ledger.record(r)
    assert len(outcome["acked"]) == len(records)

    # Two of three down: every record fails; none is a false success.
    down = rng.sample(cluster.nodes, 2)
    for node in down:
        kill(node)
    # A second shop's events, but no stock: its (sku, warehouse) sequences would restart at
    # 1 and tie with the first shop's, which no real inventory service sends.
    shop2 = [
        r
        for r in shop_records(seed=62, actions=scale(40, 200), start=START, chaos=ChaosConfig())
        if r.domain != "inventory"
    ]
    acked, failed = produce_paced(settings, shop2, per_second=1000, timeout_ms=8000)
    for node in down:
        cluster.start_node(node)
    cluster.wait_until_ready(down)
    # The producer honours its errors: it sends them again, and each lands once.
    again, still = produce_paced(settings, [r for r, _ in failed], per_second=1000)
    for r in [*acked, *again]:
        ledger.record(r)

    try:
        for query in queries:
            query.processAllAvailable()
    finally:
        for query in queries:
            query.stop()
        gold.close()
        refiner.close()

    counts = tally(spark, settings, ledger)
    chaos_report(f"broker SIGKILL x{kills} (3 nodes)", counts, kill_seed=seed, killed=killed,
                 two_down_sent=len(shop2), two_down_acked=len(acked),
                 two_down_failed=len(failed), resent_acked=len(again))  # fmt: skip
    assert not acked, f"{len(acked)} records acknowledged with two of three brokers down"
    assert len(failed) == len(shop2)
    assert not still, still[:3]
    assert (counts.lost, counts.duplicated) == (0, 0), counts
    assert counts.quarantined == counts.to_quarantine
    assert_tables_match(spark, settings, ledger)
