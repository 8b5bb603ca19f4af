"""How stored connections authenticate (issue 15, decision 0010): ``auth_kind`` (api_token,
scoped_api_token, oauth_client_credentials, pat, basic; ``auto`` keeps the reference's
behaviour), the OAuth client (``client_id``, ``client_secret_encrypted``, ``scopes``,
``token_url``), the gateway (``gateway_url``, ``cloud_id``); and on the last test the runtime
health: ``last_success_at`` and ``source`` (a test, or evaluations that hit a rejected token).

Revision ID: 0010_connection_auth_kind
Revises: 0009_connection_budget
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_connection_auth_kind"
down_revision = "0009_connection_budget"  # re-chained at the merge
branch_labels = None
depends_on = None

CONNECTION_COLUMNS = (
    ("auth_kind", sa.String(40), "auto"),
    ("client_id", sa.String(300), ""),
    ("client_secret_encrypted", sa.Text(), ""),
    ("scopes", sa.String(1000), ""),
    ("token_url", sa.String(500), ""),
    ("gateway_url", sa.String(500), ""),
    ("cloud_id", sa.String(100), ""),
)


def upgrade() -> None:
    with op.batch_alter_table("connections", schema=None) as batch_op:
        for name, kind, default in CONNECTION_COLUMNS:
            batch_op.add_column(sa.Column(name, kind, server_default=default, nullable=False))
    with op.batch_alter_table("connection_tests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("source", sa.String(20), server_default="test", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("connection_tests", schema=None) as batch_op:
        batch_op.drop_column("source")
        batch_op.drop_column("last_success_at")
    with op.batch_alter_table("connections", schema=None) as batch_op:
        for name, _kind, _default in reversed(CONNECTION_COLUMNS):
            batch_op.drop_column(name)
