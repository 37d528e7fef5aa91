"""The JVM artifacts agree with the Python pins; Spark's classpath holds one copy of each jar."""

from __future__ import annotations

import re
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from rapport.settings import PROJECT_ROOT

pytestmark = pytest.mark.unit

POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}
JARS = PROJECT_ROOT / "var" / "jars"


def pom_property(name: str) -> str:
    root = ET.parse(PROJECT_ROOT / "infra" / "jvm" / "pom.xml").getroot()
    node = root.find(f"m:properties/m:{name}", POM_NS)
    assert node is not None, f"property {name} missing from infra/jvm/pom.xml"
    assert node.text
    return node.text


def python_pin(package: str) -> str:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        # Extras do not change the pin: pyspark[connect]==4.1.1 pins pyspark 4.1.1.
        match = re.fullmatch(rf"{re.escape(package)}(?:\[[\w,-]+\])?==([\w.]+)", requirement)
        if match:
            return match.group(1)
    raise AssertionError(f"{package} is not pinned with == in pyproject.toml")


def artifact_id(jar: Path) -> str:
    return re.sub(r"-\d[\w.\-]*\.jar$", "", jar.name)


def test_kafka_connector_matches_pyspark_exactly() -> None:
    assert pom_property("spark.version") == python_pin("pyspark")
    assert (
        JARS / "spark-runtime" / f"spark-sql-kafka-0-10_2.13-{python_pin('pyspark')}.jar"
    ).is_file()


def test_delta_jvm_and_python_halves_match() -> None:
    assert pom_property("delta.version") == python_pin("delta-spark")
    assert (
        JARS / "spark-runtime" / f"delta-spark_4.1_2.13-{python_pin('delta-spark')}.jar"
    ).is_file()


def test_installed_pyspark_is_the_pinned_one() -> None:
    import pyspark

    assert pyspark.__version__ == python_pin("pyspark")


def test_no_jar_duplicates_one_that_pyspark_ships() -> None:
    import pyspark

    shipped = {artifact_id(j) for j in (Path(pyspark.__file__).parent / "jars").glob("*.jar")}
    for folder in ("spark-runtime", "object-store"):
        ours = {artifact_id(j) for j in (JARS / folder).glob("*.jar")}
        assert ours, f"no {folder} jars: run `make setup`"
        assert not ours & shipped, folder
    runtime = {artifact_id(j) for j in (JARS / "spark-runtime").glob("*.jar")}
    assert not runtime & {artifact_id(j) for j in (JARS / "object-store").glob("*.jar")}


def test_s3a_matches_pysparks_hadoop() -> None:
    """hadoop-aws must be the Hadoop version pyspark ships, or S3A fails at class loading."""
    import pyspark

    (client,) = (Path(pyspark.__file__).parent / "jars").glob("hadoop-client-api-*.jar")
    assert client.name == f"hadoop-client-api-{pom_property('hadoop.version')}.jar"
    assert (JARS / "object-store" / f"hadoop-aws-{pom_property('hadoop.version')}.jar").is_file()


def test_broker_is_kafka_4_with_a_log4j2_binding() -> None:
    version = pom_property("kafka.broker.version")
    assert version.startswith("4.")
    names = {j.name for j in (JARS / "kafka-broker").glob("*.jar")}
    assert f"kafka_2.13-{version}.jar" in names
    assert any(n.startswith("log4j-slf4j-impl-") for n in names)
    assert any(n.startswith("log4j-core-") for n in names)
