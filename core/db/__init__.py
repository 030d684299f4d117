"""The relational database of durable records: tables, engine, migrations.

SQLAlchemy 2 Core (explicit tables, no ORM) over SQLite (`sqlite+aiosqlite:///path`, the
embedded default) or PostgreSQL (`postgresql+asyncpg://...`, production). The schema is made
and changed only by the Alembic migrations packaged in `core/db/migrations`.
"""
