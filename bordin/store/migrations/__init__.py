"""Alembic migrations of the store (run with :func:`bordin.store.db.init_db`)."""
