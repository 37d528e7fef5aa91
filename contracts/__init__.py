"""Event contracts: the JSON Schemas of every domain event, the single source of truth.

The schemas live in contracts/schemas/<domain>/<EventType>.v<N>.json. Spark schemas
(`contracts.spark_schema`), payload validation (`contracts.validation`), the event catalogue
(docs/events.md, `contracts.docs`) and the registry subjects all derive from these files.
"""
