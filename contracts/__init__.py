"""Event contracts: the JSON Schemas of every domain event, the single source of truth."""
