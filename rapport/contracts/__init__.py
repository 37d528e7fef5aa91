"""Event contracts: the JSON Schemas of every domain event, the single source of truth.

The schemas live in rapport/contracts/schemas/<domain>/<EventType>.v<N>.json. Spark schemas
(`rapport.contracts.spark_schema`), payload validation (`rapport.contracts.validation`), the
event catalogue (docs/events.md, `rapport.contracts.docs`) and the registry subjects all derive
from these files.
"""
