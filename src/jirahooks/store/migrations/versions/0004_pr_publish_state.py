"""Pull-request publishing made safe under races and crashes:

- ``webhook_deliveries.lease_owner``: which worker holds a claimed delivery (its lease is renewed
  by a heartbeat; a worker that lost its lease does not finish the delivery);
- ``pull_request_results``: a per-PR lease (``lease_owner``, ``lease_until``) so one evaluation of
  a PR publishes at a time across processes, the evaluation sequence (``seq``, ``published_seq``)
  for compare-and-set, and what the reviewer veto was last sent for (``review_head``,
  ``review_evaluation_id``).

Revision ID: 0004_pr_publish_state
Revises: 0003_workspace_config_version
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_pr_publish_state"
down_revision = "0003_workspace_config_version"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("lease_owner", sa.String(length=100), server_default="", nullable=False)
        )
    with op.batch_alter_table("pull_request_results", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("published_seq", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("review_head", sa.String(length=64), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("review_evaluation_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("lease_owner", sa.String(length=100), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pull_request_results", schema=None) as batch_op:
        for name in (
            "lease_until",
            "lease_owner",
            "review_evaluation_id",
            "review_head",
            "published_seq",
            "seq",
        ):
            batch_op.drop_column(name)
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_column("lease_owner")
