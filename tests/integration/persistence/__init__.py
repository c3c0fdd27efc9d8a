"""Integration tests of the persistence adapter, each run on SQLite and on PostgreSQL."""
