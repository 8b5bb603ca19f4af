"""Per-host settings of a platform configuration (issue 17): ``platform_configs.settings``, a JSON
object of the host's non-secret fields that the shared columns do not hold (GitHub: the App id,
the installation id, the private key's fingerprint). Secrets stay in the encrypted columns
``token_encrypted`` and ``webhook_secret_encrypted``; see ``jirahooks.server.host_settings``.

Revision ID: 0015_platform_settings
Revises: 0013_delivery_queue_index
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_platform_settings"
down_revision = "0013_delivery_queue_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("platform_configs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("settings", sa.JSON(), server_default="{}", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("platform_configs", schema=None) as batch_op:
        batch_op.drop_column("settings")
