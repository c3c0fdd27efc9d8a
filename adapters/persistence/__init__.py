"""Persistence: SQLAlchemy 2.x (async) on PostgreSQL or SQLite, the ports' storage adapters."""
