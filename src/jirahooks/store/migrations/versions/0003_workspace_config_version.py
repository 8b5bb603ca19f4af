"""Workspaces get ``config_version``, bumped by every configuration change, so server processes
can keep the Validation API's configuration in memory and notice a change with one read.

Revision ID: 0003_workspace_config_version
Revises: 0002_platform_webhooks
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_workspace_config_version"
down_revision = "0002_platform_webhooks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("config_version", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.drop_column("config_version")
