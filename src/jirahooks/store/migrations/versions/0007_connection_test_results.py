"""Connections keep their last test (``connection_tests``: when, result, reason — never the
token) and an optional token expiry date (``connections.token_expires_on``).

Revision ID: 0007_connection_test_results
Revises: 0005_server_meta
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_connection_test_results"
down_revision = "0005_server_meta"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token_expires_on", sa.Date(), nullable=True))
    op.create_table(
        "connection_tests",
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("tested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("code", sa.String(length=100), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("hint", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_connection_tests_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("connection_id", name=op.f("pk_connection_tests")),
    )


def downgrade() -> None:
    op.drop_table("connection_tests")
    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.drop_column("token_expires_on")
