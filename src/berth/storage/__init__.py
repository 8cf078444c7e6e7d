"""Storage: the registry store (SQLite or PostgreSQL) and artifact stores (by URI scheme).

Open them with `berth.storage.sql_registry.open_registry_store(database_url)` and
`berth.storage.artifacts.local_artifact_store(uri)` (the wiring picks them by URI,
`berth.wiring.implementations`); the contracts are `RegistryStore` and
`ArtifactStore` in `berth.storage.protocols`. This package imports none of its modules, so that
importing one (say `berth.storage.queries`) never loads the others.
"""
