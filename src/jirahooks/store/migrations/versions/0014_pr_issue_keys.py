"""The Jira issue keys of each pull-request evaluation (issue 16 §5, ``store.pr_keys``), so a
Jira change finds the open PRs to evaluate again through an index: table ``pr_issue_keys``
(``evaluation_id`` → ``evaluations`` ON DELETE CASCADE, ``workspace_id``, ``issue_key``; index
``(workspace_id, issue_key)``) and an index on ``pull_request_results.evaluation_id`` (the
join). The keys of the open PRs' current evaluations are filled in from the stored issues.

Revision ID: 0014_pr_issue_keys
Revises: 0010_connection_auth_kind
Create Date: 2026-12-02
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0014_pr_issue_keys"
down_revision = "0012_evaluation_chain"  # re-chained at the merge (after 0012)
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pr_issue_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "evaluation_id",
            sa.Integer(),
            sa.ForeignKey("evaluations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "workspace_id",
            sa.Integer(),
            sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("issue_key", sa.String(length=100), nullable=False),
    )
    op.create_index("ix_pr_issue_keys_evaluation_id", "pr_issue_keys", ["evaluation_id"])
    op.create_index(
        "ix_pr_issue_keys_workspace_key", "pr_issue_keys", ["workspace_id", "issue_key"]
    )
    op.create_index(
        "ix_pull_request_results_evaluation_id", "pull_request_results", ["evaluation_id"]
    )
    _backfill()


def _backfill() -> None:
    """The open PRs' current evaluations: their stored issues' keys."""
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT e.id, e.workspace_id, e.issues FROM evaluations e "
            "JOIN pull_request_results p ON p.evaluation_id = e.id WHERE p.open"
        )
    ).fetchall()
    table = sa.table(
        "pr_issue_keys",
        sa.column("evaluation_id", sa.Integer()),
        sa.column("workspace_id", sa.Integer()),
        sa.column("issue_key", sa.String()),
    )
    values = []
    for evaluation_id, workspace_id, issues in rows:
        data = json.loads(issues) if isinstance(issues, str) else issues
        keys = set()
        for key, issue in (data or {}).items() if isinstance(data, dict) else ():
            keys.add(str(key).upper()[:100])
            current = issue.get("currentKey") if isinstance(issue, dict) else None
            if isinstance(current, str) and current:
                keys.add(current.upper()[:100])
        values += [
            {"evaluation_id": evaluation_id, "workspace_id": workspace_id, "issue_key": k}
            for k in sorted(keys)
        ]
    if values:
        op.bulk_insert(table, values)


def downgrade() -> None:
    op.drop_index("ix_pull_request_results_evaluation_id", table_name="pull_request_results")
    op.drop_index("ix_pr_issue_keys_workspace_key", table_name="pr_issue_keys")
    op.drop_index("ix_pr_issue_keys_evaluation_id", table_name="pr_issue_keys")
    op.drop_table("pr_issue_keys")
