"""An index for the delivery queue's per-pull-request look-ups (issue 11 §4, decision 0013):
``webhook_deliveries (workspace_id, repository, pull_request_id, id)``. The claim asks, for every
candidate, whether its pull request has an older claimable delivery or one under a live lease,
and processing asks whether a newer delivery of the PR exists; without it both read every
delivery of the workspace, a table that grows with every webhook (finished ones are purged
after ``JIRAHOOKS_DELIVERY_RETENTION_DAYS``).

Revision ID: 0013_delivery_queue_index
Revises: 0014_pr_issue_keys
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0013_delivery_queue_index"
down_revision = "0014_pr_issue_keys"  # re-chained at the merge (main's head)
branch_labels = None
depends_on = None

INDEX = "ix_webhook_deliveries_pull_request"


def upgrade() -> None:
    op.create_index(
        INDEX,
        "webhook_deliveries",
        ["workspace_id", "repository", "pull_request_id", "id"],
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="webhook_deliveries")
