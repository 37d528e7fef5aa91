"""Rapport's foundation, which every other package may import.

`rapport.settings`, `rapport.contracts` (the event contracts), `rapport.lakehouse` (the table
catalog, Spark and delta-rs) and `rapport.runtime` (processes, the local Kafka broker) import
nothing above them. Two parts of this package sit apart: `rapport.cli`, the `rapport` command on
top of everything, and `rapport.simulator`, a tool. The allowed import directions are the
contracts in pyproject.toml ([tool.importlinter]), checked by `make lint`.
"""
