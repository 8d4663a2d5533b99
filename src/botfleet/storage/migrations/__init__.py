"""Alembic migrations of the state database (run through `botfleet.storage.db.upgrade`)."""
