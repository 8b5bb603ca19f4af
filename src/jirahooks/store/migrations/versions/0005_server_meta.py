"""``server_meta``: facts about the store itself; ``secret_key_check`` holds a constant encrypted
with the server's secret key, so a command run with another key (or none) is refused before it
writes a secret the server cannot read.

Revision ID: 0005_server_meta
Revises: 0004_pr_publish_state
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_server_meta"
down_revision = "0004_pr_publish_state"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "server_meta",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_server_meta")),
    )


def downgrade() -> None:
    op.drop_table("server_meta")
