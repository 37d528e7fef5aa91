"""Settings: defaults, environment overrides, validation and secret handling."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from rapport.settings import PROJECT_ROOT, Settings, settings_env

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No RAPPORT_* from the developer's shell and no .env file leak into these tests."""
    for key in list(os.environ):
        if key.startswith("RAPPORT_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def test_defaults_are_local_and_under_var() -> None:
    s = Settings()
    assert s.state_dir == PROJECT_ROOT / "var"
    assert s.lakehouse == str(PROJECT_ROOT / "var" / "lakehouse")
    assert s.checkpoints == str(PROJECT_ROOT / "var" / "checkpoints")
    assert s.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert s.spark.master == "local[*]"
    assert all(t.partitions >= 3 for t in s.kafka.topics.values())


def test_environment_overrides_nested_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAPPORT_KAFKA__BOOTSTRAP_SERVERS", "broker-1:9092,broker-2:9092")
    monkeypatch.setenv("RAPPORT_SPARK__MASTER", "spark://spark-master:7077")
    monkeypatch.setenv("RAPPORT_LAKEHOUSE_ROOT", "s3a://lake/rapport/")
    s = Settings()
    assert s.kafka.python_client_config()["bootstrap_servers"] == ["broker-1:9092", "broker-2:9092"]
    assert s.spark.master == "spark://spark-master:7077"
    assert s.lakehouse == "s3a://lake/rapport"


def test_the_cluster_profile_points_every_driver_at_the_local_master(tmp_path: Path) -> None:
    """`rapport up --cluster` lays the profile over the settings; later commands find it."""
    from rapport.settings import get_settings, profile_file, settings_env, with_profile

    base = Settings(state_dir=tmp_path, spark={"master": "local[2]", "local_master_port": 17077})
    cluster = with_profile(base, "cluster")
    assert cluster.spark.master == "spark://127.0.0.1:17077"
    assert cluster.spark.local_workers == 2
    assert cluster.kafka.local_nodes == 3
    assert cluster.kafka.bootstrap_servers == "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096"
    assert cluster.spark.cores_max == 2
    assert cluster.lakehouse == base.lakehouse  # the profile moves engines, not data
    # A child process gets the profile's values through its environment alone.
    env = settings_env(cluster)
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        assert Settings().spark.master == "spark://127.0.0.1:17077"
    # A command run later, with the base settings, finds the profile the stack recorded.
    profile_file(base).parent.mkdir(parents=True)
    profile_file(base).write_text("cluster\n")
    get_settings.cache_clear()
    try:
        with pytest.MonkeyPatch.context() as mp:
            for key, value in settings_env(base).items():
                mp.setenv(key, value)
            assert get_settings().spark.local_workers == 2
    finally:
        get_settings.cache_clear()
    with pytest.raises(ValueError, match="known: cluster"):
        with_profile(base, "galaxy")


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("RAPPORT_STREAM__TRIGGER_INTERVAL=5 seconds\n")
    assert Settings().stream.trigger_interval == "5 seconds"


def test_local_broker_port_moves_the_default_bootstrap() -> None:
    assert Settings(kafka={"broker_port": 19092}).kafka.bootstrap_servers == "127.0.0.1:19092"


@pytest.mark.parametrize(
    "master", ["local", "local[2]", "local[*]", "spark://h:7077", "k8s://https://k:6443", "yarn"]
)
def test_known_spark_masters_accepted(master: str) -> None:
    assert Settings(spark={"master": master}).spark.master == master


def test_unknown_spark_master_rejected_with_the_options() -> None:
    with pytest.raises(ValidationError, match=r"spark://host:port"):
        Settings(spark={"master": "mesos://x"})


@pytest.mark.parametrize("root", ["s3a://b/p", "abfss://c@a.dfs.core.windows.net/p", "hdfs://nn/p"])
def test_hadoop_uris_accepted_as_lakehouse(root: str) -> None:
    assert Settings(lakehouse_root=root).lakehouse == root


def test_relative_lakehouse_becomes_absolute(tmp_path: Path) -> None:
    assert Settings(lakehouse_root="lake").lakehouse == str(tmp_path / "lake")
    assert Settings(lakehouse_root="file:///data/lake").lakehouse == "/data/lake"


def test_unsupported_scheme_rejected() -> None:
    with pytest.raises(ValidationError, match="uses the scheme 'ftp'"):
        Settings(lakehouse_root="ftp://x/y")


def test_sasl_without_credentials_is_a_clear_error() -> None:
    with pytest.raises(ValidationError, match="RAPPORT_KAFKA__SASL_PASSWORD"):
        Settings(kafka={"security_protocol": "SASL_SSL"})


def sasl_settings() -> Settings:
    return Settings(
        kafka={
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_username": "svc",
            "sasl_password": "s3cr3t",
        }
    )


def test_secrets_never_show_in_repr_or_dump() -> None:
    s = sasl_settings()
    assert "s3cr3t" not in repr(s)
    assert "s3cr3t" not in s.model_dump_json()


def test_secret_reaches_the_clients_that_need_it() -> None:
    s = sasl_settings()
    assert s.kafka.python_client_config()["sasl_plain_password"] == "s3cr3t"
    jaas = s.kafka.spark_source_options()["kafka.sasl.jaas.config"]
    assert "ScramLoginModule" in jaas
    assert 'password="s3cr3t"' in jaas


def test_settings_env_rebuilds_identical_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    original = sasl_settings().model_copy()
    for key, value in settings_env(original).items():
        monkeypatch.setenv(key, value)
    rebuilt = Settings()
    assert rebuilt == original
    assert rebuilt.kafka.sasl_password is not None
    assert rebuilt.kafka.sasl_password.get_secret_value() == "s3cr3t"


def test_dagster_defaults_to_loopback_3000_and_a_home_under_var() -> None:
    s = Settings()
    assert s.dagster.url == "http://127.0.0.1:3000"
    assert s.dagster_home == PROJECT_ROOT / "var" / "dagster"
    assert s.dagster.workspace == PROJECT_ROOT / "workspace.yaml"


def test_dagster_home_follows_the_state_dir_unless_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert Settings(state_dir=tmp_path).dagster_home == tmp_path / "dagster"
    monkeypatch.setenv("RAPPORT_DAGSTER__HOME", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("RAPPORT_DAGSTER__PORT", "3300")
    s = Settings(state_dir=tmp_path)
    assert s.dagster_home == tmp_path / "elsewhere"
    assert s.dagster.url == "http://127.0.0.1:3300"


def test_the_pseudonym_key_is_made_once_private_and_the_setting_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = Settings(state_dir=tmp_path)
    key = settings.pseudonym_key().get_secret_value()
    path = tmp_path / "secrets" / "pseudonym.key"
    assert len(key) == 64
    assert path.read_text().strip() == key
    assert path.stat().st_mode & 0o777 == 0o600
    assert Settings(state_dir=tmp_path).pseudonym_key().get_secret_value() == key
    assert list(path.parent.iterdir()) == [path]  # no draft left behind
    monkeypatch.setenv("RAPPORT_PRIVACY__PSEUDONYM_KEY", "from-env")
    assert Settings(state_dir=tmp_path).pseudonym_key().get_secret_value() == "from-env"
    assert "from-env" not in repr(Settings(state_dir=tmp_path))
