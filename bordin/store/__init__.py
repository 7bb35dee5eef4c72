"""The data store: the only part of Bordin that speaks SQL.

- :mod:`bordin.store.base`: the declarative :class:`~bordin.store.base.Base`.
- :mod:`bordin.store.db`: :func:`~bordin.store.db.make_engine` (SQLite in WAL mode
  with ``synchronous=FULL`` and foreign keys on; PostgreSQL through psycopg 3),
  :func:`~bordin.store.db.session_factory`, :func:`~bordin.store.db.init_db`
  (Alembic migrations to head), :func:`~bordin.store.db.data_dir`.
- :mod:`bordin.store.models`: the tables (core, alerts, and the web app's).
- :mod:`bordin.store.submit`: :func:`~bordin.store.submit.submit_administration`,
  one questionnaire in one transaction, once per idempotency key.
- :mod:`bordin.store.bulk`: validated all-or-nothing bulk imports.
- :mod:`bordin.store.queries`: tidy pandas frames of DESIGN.md's contracts.
"""
