"""The refine query on a real broker, registry, Spark and Delta: every table equals the ledger."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from rapport.contracts.catalog import default_catalog
from rapport.lakehouse.tables import OPS_LATE_EVENTS, OPS_STREAM_BATCHES, SILVER_ORDERS
from rapport.settings import Settings
from rapport.simulator.ledger import Ledger
from rapport.simulator.wire import ChaosConfig
from registry.producer import EventProducer
from streaming.ingest import start_bronze_query, start_refine_query
from streaming.refine import Refiner
from tests.helpers.ledger_checks import assert_tables_match, rows
from tests.helpers.privacy import assert_personal_values_pseudonymised
from tests.helpers.streams import START, run_stream, send, shop_records

pytestmark = [pytest.mark.spark, pytest.mark.kafka]

CHAOS = ChaosConfig(
    duplicates=0.05,
    duplicate_max_delay=400,
    out_of_order=0.1,
    late=0.03,
    late_by=timedelta(hours=2),
    malformed=0.03,
    unknown_types=0.02,
)


def test_every_table_equals_the_ledger_with_chaos_and_replays(
    spark: Any, isolated: Any, schema_registry: Any
) -> None:
    settings = isolated(watermark_delay_s=600.0)
    records = shop_records(seed=41, actions=2400, start=START, chaos=CHAOS)
    ledger = Ledger()
    half = len(records) // 2
    send(settings, records[:half], ledger)
    run_stream(spark, settings)
    assert_tables_match(spark, settings, ledger)
    # Typed from the contract: both versions of OrderPlaced land in one silver.orders.
    orders = rows(spark, settings, SILVER_ORDERS)
    assert {o.contract_version for o in orders} == {1, 2}
    assert all(o.line_count >= 1 and o.ingest_time >= o.event_time for o in orders)
    # Personal fields reach silver as pseudonyms only (issue 18; docs/security.md).
    assert_personal_values_pseudonymised(spark, settings)

    # Second round: later events, with the late ones now behind the first round's watermark.
    send(settings, records[half:], ledger)
    run_stream(spark, settings)
    assert_tables_match(spark, settings, ledger)

    late_ids = {r.event_id for r in rows(spark, settings, OPS_LATE_EVENTS)}
    second_round_late = {
        r.event.event_id
        for r in records[half:]
        if r.late and r.kind == "event" and r.event is not None
        and r.event.event_id not in {x.event.event_id for x in records[:half] if x.event}
    }  # fmt: skip
    assert second_round_late, "the chaos should have produced late events"
    assert second_round_late <= late_ids
    batches = rows(spark, settings, OPS_STREAM_BATCHES)
    assert sum(b.late_rows for b in batches) == len(late_ids)
    assert max(b.batch_id for b in batches) >= 1
    last = max(batches, key=lambda b: b.finished_at)
    assert last.total_lag == 0  # everything in Kafka has been refined
    assert {lag.topic for lag in last.kafka_lag} == set(settings.kafka.event_topics)

    # A replay of everything from bronze (a lost checkpoint: a new query id) counts nothing
    # twice: silver's appends deduplicate by event id. A lost gold checkpoint rebuilds gold
    # from bronze and goes on from Kafka right after it: the same figures again.
    import shutil

    from streaming.hot import gold_checkpoint
    from streaming.metrics import query_of
    from streaming.refine import refine_checkpoint

    shutil.rmtree(refine_checkpoint(settings))
    shutil.rmtree(gold_checkpoint(settings))
    run_stream(spark, settings)
    assert_tables_match(spark, settings, ledger)
    apps = Counter(query_of(b.app_id) for b in rows(spark, settings, OPS_STREAM_BATCHES))
    assert set(apps) == {"refine_events", "gold_events"}
    assert len({b.app_id for b in rows(spark, settings, OPS_STREAM_BATCHES)}) == 4


def test_a_new_compatible_version_lands_in_silver_without_a_restart(
    spark: Any, isolated: Any, kafka_broker: Any
) -> None:
    """v3 of OrderPlaced is registered mid-run; its events reach silver.orders, no restart."""
    import copy
    import uuid

    import orjson

    from rapport.contracts.envelope import envelope
    from rapport.runtime.ports import free_port
    from rapport.runtime.processes import wait_until
    from registry.client import RegistryClient
    from registry.deploy import register_all
    from registry.registry_service import RegistryService

    base = isolated()
    # A registry of the test's own: v3 must not leak into the session's shared one.
    settings = base.model_copy(
        update={
            "registry": base.registry.model_copy(
                update={"port": free_port(), "url": "", "topic": f"_schemas_{uuid.uuid4().hex}"}
            )
        }
    )
    settings = Settings.model_validate(settings.model_dump())  # derive the registry URL again
    registry = RegistryService(settings)
    registry.start()
    refiner = Refiner(settings)
    queries = []
    try:
        client = RegistryClient(settings.registry)
        register_all(client, default_catalog())
        queries = [start_bronze_query(spark, settings), start_refine_query(spark, refiner)]
        ledger = Ledger()
        send(settings, shop_records(seed=43, actions=100, start=START, chaos=ChaosConfig()), ledger)

        def silver_orders() -> list[Any]:
            return rows(spark, settings, SILVER_ORDERS)

        assert wait_until(
            lambda: len(silver_orders()) == ledger.events_by_type["OrderPlaced"], timeout_s=600
        )

        v2 = default_catalog().get("OrderPlaced", 2)
        v3_schema = copy.deepcopy(dict(v2.schema))
        v3_schema["$id"] = "urn:rapport:contracts:orders:OrderPlaced:v3"
        v3_schema["x-rapport"] = {**v3_schema["x-rapport"], "version": 3}
        v3_schema["properties"]["gift_wrap"] = {"type": "boolean", "description": "Gift wrap."}
        v3_id = client.register(v2.subject, v3_schema)

        order = orjson.loads(
            next(r for r in shop_records(44, 50, START, ChaosConfig()) if r.event
                 and r.event.contract.event_type == "OrderPlaced").value
        )["data"]  # fmt: skip
        order = {k: v for k, v in order.items() if k != "coupon_code"} | {"gift_wrap": True}
        doc = envelope(v2, order, event_id=f"v3-{uuid.uuid4()}", time=START, schema_id=v3_id)
        doc["dataschema"] = v3_schema["$id"]
        with EventProducer(settings, transport="librdkafka") as producer:
            producer.send_raw(
                settings.kafka.topics["orders"].name,
                order["order_id"].encode(),
                orjson.dumps(doc),
                "v3",
            )

        def v3_rows() -> list[Any]:
            return [o for o in silver_orders() if o.event_id == doc["id"]]

        assert wait_until(lambda: len(v3_rows()) == 1, timeout_s=300), "v3 event never landed"
        assert v3_rows()[0].contract_version == 3
        assert all(q.isActive for q in queries)  # the same queries: no restart
    finally:
        for q in queries:
            q.stop()
        refiner.close()
        registry.stop()
