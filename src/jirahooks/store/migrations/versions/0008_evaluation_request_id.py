"""``evaluations.request_id``: the id of the HTTP request (or PR-worker job) that produced the
evaluation, also in the ``X-Request-Id`` answer header and on every log line of that request,
so "my push was blocked" leads from the hook's output to the log and the evaluation page.

Revision ID: 0008_evaluation_request_id
Revises: 0007_connection_test_results
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_evaluation_request_id"
down_revision = (
    "0007_connection_test_results"  # was 0005_server_meta: re-chained at the merge of main
)
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("evaluations") as batch:
        batch.add_column(
            sa.Column("request_id", sa.String(length=100), nullable=False, server_default="")
        )
        batch.create_index(op.f("ix_evaluations_request_id"), ["request_id"])


def downgrade() -> None:
    with op.batch_alter_table("evaluations") as batch:
        batch.drop_index(op.f("ix_evaluations_request_id"))
        batch.drop_column("request_id")
