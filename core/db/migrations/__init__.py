"""Alembic migration scripts (a package so that they ship with lippejob)."""
