"""An s3a:// lakehouse: the jars `make setup` pins (S3A and the AWS SDK) carry Rapport's own
table creation and writes, and the JVM-free readers (delta-rs) read what Spark wrote.

S3 is outside the project, so the test starts a stand-in of its own on loopback (moto's
server, S3's REST API). Spark runs in a process of its own: the session's jars are fixed at
its start, and the test session's lakehouse is local.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from rapport.runtime.ports import free_port
from rapport.runtime.processes import wait_until
from rapport.settings import Settings
from tests.helpers.settings import SettingsFactory, rapport_bin

pytestmark = pytest.mark.spark

BUCKET = "rapport-lake"

#: Rapport's table factory and the history load's bronze rows, twice (two Delta commits).
WRITE = """
import json
from datetime import date
from rapport.lakehouse.spark import get_spark
from rapport.lakehouse.spark_catalog import ensure_table
from rapport.lakehouse.tables import BRONZE_EVENTS
from rapport.settings import get_settings
from streaming.bronze import landing_to_bronze

settings = get_settings()
spark = get_spark(settings, "s3a-test", register_tables=False)
ensure_table(spark, settings, BRONZE_EVENTS, register_name=False)
for part in range(2):
    lines = spark.createDataFrame(
        [("f.jsonl", part * 10 + n, json.dumps({"id": f"e{part}-{n}", "type": "OrderPlaced",
          "source": "/orders", "specversion": "1.0", "time": "2026-03-01T10:00:00Z",
          "data": {}}).encode()) for n in range(10)],
        "file string, line long, value binary",
    )
    landing_to_bronze(lines, date(2026, 3, 1)).write.format("delta").mode("append").save(
        BRONZE_EVENTS.location(settings))
history = spark.sql(f"DESCRIBE HISTORY delta.`{BRONZE_EVENTS.location(settings)}`").collect()
jars = spark.conf.get("spark.jars")
print(json.dumps({"operations": sorted(r.operation for r in history),
                  "s3a_jar": "hadoop-aws-" in jars}))
"""


@pytest.fixture
def s3_endpoint(tmp_path: Any) -> Iterator[str]:
    """moto's S3 server on a free loopback port, with an empty bucket."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "moto.log").open("w"),
    )  # fmt: skip
    try:

        def answers() -> bool:
            try:
                return requests.put(f"{url}/{BUCKET}", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        assert wait_until(answers, timeout_s=60), (tmp_path / "moto.log").read_text()
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_an_s3a_lakehouse_is_written_by_spark_and_read_by_delta_rs(
    make_settings: SettingsFactory,
    s3_endpoint: str,
    child_env: Callable[[Settings], dict[str, str]],
) -> None:
    s3a = {
        "spark.hadoop.fs.s3a.endpoint": s3_endpoint,
        "spark.hadoop.fs.s3a.endpoint.region": "us-east-1",
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
        "spark.hadoop.fs.s3a.aws.credentials.provider": (
            "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"
        ),
        "spark.hadoop.fs.s3a.access.key": "test",
        "spark.hadoop.fs.s3a.secret.key": "test",
    }
    settings = make_settings(
        "s3a",
        lakehouse_root=f"s3a://{BUCKET}/lakehouse",
        checkpoint_root=f"s3a://{BUCKET}/checkpoints",
        spark={"conf": s3a},
    )
    # delta-rs (the dashboard, `rapport sql`, the gold writer) takes S3's address and keys
    # from the environment, as object_store documents.
    env = {
        **child_env(settings),
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ALLOW_HTTP": "true",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
    }
    wrote = subprocess.run(
        [sys.executable, "-c", WRITE], env=env, capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip
    assert wrote.returncode == 0, wrote.stderr[-3000:]
    result = json.loads(wrote.stdout.strip().splitlines()[-1])
    assert result["s3a_jar"] is True
    # Created with the catalog's properties, then two appends (bronze's auto-compaction may
    # add an OPTIMIZE commit).
    assert [op for op in result["operations"] if op != "OPTIMIZE"] == [
        "CREATE TABLE", "WRITE", "WRITE",
    ]  # fmt: skip
    # The files are in the bucket, under the lakehouse root: S3's own listing says so.
    listing = requests.get(f"{s3_endpoint}/{BUCKET}?list-type=2&prefix=lakehouse/", timeout=10)
    assert "lakehouse/bronze/events/_delta_log/00000000000000000002.json" in listing.text
    query = "SELECT count(*) AS n, count(DISTINCT event_id) AS ids FROM bronze.events"
    read = subprocess.run(
        [str(rapport_bin()), "sql", query, "--format", "json"], env=env,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert read.returncode == 0, read.stderr
    assert json.loads(read.stdout) == [{"n": 20, "ids": 20}]
