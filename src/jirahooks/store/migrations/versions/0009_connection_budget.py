"""The Jira budget of stored connections (issue 20, decisions 0005 and 0009):
``budget_per_minute`` (requests per minute for the technical user; 0: no ceiling), the cache
lifetimes ``cache_existence_seconds``, ``cache_negative_seconds``, ``cache_fields_seconds`` (0:
the cache's defaults) and ``index_max_issues`` (largest project given an existence index; 0:
none).

Revision ID: 0009_connection_budget
Revises: 0008_evaluation_request_id
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_connection_budget"
down_revision = "0008_evaluation_request_id"  # re-chained at the merge (0008 came first)
branch_labels = None
depends_on = None

COLUMNS = (
    ("budget_per_minute", sa.Integer(), "0"),
    ("cache_existence_seconds", sa.Float(), "0"),
    ("cache_negative_seconds", sa.Float(), "0"),
    ("cache_fields_seconds", sa.Float(), "0"),
    ("index_max_issues", sa.Integer(), "20000"),
)


def upgrade() -> None:
    with op.batch_alter_table("connections", schema=None) as batch_op:
        for name, kind, default in COLUMNS:
            batch_op.add_column(sa.Column(name, kind, server_default=default, nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("connections", schema=None) as batch_op:
        for name, _kind, _default in reversed(COLUMNS):
            batch_op.drop_column(name)
