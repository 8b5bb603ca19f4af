"""Alembic migrations (env.py + versions/), shipped inside the package."""
