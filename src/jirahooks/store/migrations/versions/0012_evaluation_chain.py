"""The evaluation log as a hash chain (issue 16, decision 0012): ``evaluations.chain_seq`` and
``chain_hash`` (a link per workspace, ``store/chain.py``), ``evaluations.config_version`` (the
configuration the rules were read at; NULL for the rows stored before), and
``evaluation_chain_heads`` (each workspace's last link, the row writers lock to append). The
rows already stored are chained here, per workspace in id order, a batch at a time.

Revision ID: 0012_evaluation_chain
Revises: 0010_connection_auth_kind
Create Date: 2026-12-02
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0012_evaluation_chain"
down_revision = "0010_connection_auth_kind"  # re-chained at the merge (was 0009_connection_budget)
branch_labels = None
depends_on = None

BATCH = 500


def upgrade() -> None:
    with op.batch_alter_table("evaluations") as batch:
        batch.add_column(sa.Column("config_version", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("chain_seq", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("chain_hash", sa.String(length=64), nullable=True))
        batch.create_unique_constraint(
            op.f("uq_evaluations_workspace_id_chain_seq"), ["workspace_id", "chain_seq"]
        )
    op.create_table(
        "evaluation_chain_heads",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_evaluation_chain_heads_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", name=op.f("pk_evaluation_chain_heads")),
    )
    _chain_existing(op.get_bind())


def _chain_existing(bind: sa.engine.Connection) -> None:
    # The canonical form is the one the server uses (store/chain.py, form 1): a row chained
    # here verifies like a row chained by the writer.
    from jirahooks.store.chain import GENESIS, content_digests, link

    evaluations = sa.table(
        "evaluations",
        sa.column("id", sa.Integer),
        sa.column("workspace_id", sa.Integer),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("source", sa.String),
        sa.column("trigger", sa.String),
        sa.column("branch", sa.String),
        sa.column("result", sa.String),
        sa.column("duration_ms", sa.Float),
        sa.column("config_version", sa.Integer),
        sa.column("request_id", sa.String),
        sa.column("event", sa.JSON),
        sa.column("rules", sa.JSON),
        sa.column("document", sa.JSON),
        sa.column("issues", sa.JSON),
        sa.column("chain_seq", sa.Integer),
        sa.column("chain_hash", sa.String),
    )
    heads = sa.table(
        "evaluation_chain_heads",
        sa.column("workspace_id", sa.Integer),
        sa.column("seq", sa.Integer),
        sa.column("hash", sa.String),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    workspaces = [r[0] for r in bind.execute(sa.text("SELECT id FROM workspaces ORDER BY id"))]
    columns = [c for c in evaluations.c if c.name not in ("chain_seq", "chain_hash")]
    now = datetime.now(UTC)
    for workspace_id in workspaces:
        seq, prev, after = 0, GENESIS, 0
        while True:
            rows = [
                dict(r._mapping)
                for r in bind.execute(
                    sa.select(*columns)
                    .where(evaluations.c.workspace_id == workspace_id, evaluations.c.id > after)
                    .order_by(evaluations.c.id)
                    .limit(BATCH)
                )
            ]
            if not rows:
                break
            updates = []
            for row, digest in zip(rows, content_digests(rows), strict=True):
                seq += 1
                prev = link(prev, seq, digest)
                updates.append({"row_id": row["id"], "seq": seq, "hash": prev})
            bind.execute(
                evaluations.update()
                .where(evaluations.c.id == sa.bindparam("row_id"))
                .values(chain_seq=sa.bindparam("seq"), chain_hash=sa.bindparam("hash")),
                updates,
            )
            after = rows[-1]["id"]
        bind.execute(
            heads.insert().values(workspace_id=workspace_id, seq=seq, hash=prev, updated_at=now)
        )


def downgrade() -> None:
    op.drop_table("evaluation_chain_heads")
    with op.batch_alter_table("evaluations") as batch:
        batch.drop_constraint(op.f("uq_evaluations_workspace_id_chain_seq"), type_="unique")
        batch.drop_column("chain_hash")
        batch.drop_column("chain_seq")
        batch.drop_column("config_version")
