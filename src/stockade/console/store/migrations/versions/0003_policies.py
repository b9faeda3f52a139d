"""Console schema: policies and collections.

Collections, the ordered vulnerability and compliance rules, the namespace and labels
publishers give artifacts, when a fix was first seen (grace periods), and one verdict
per published result.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "policy_collections",
        sa.Column("id", _ID, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=1024), nullable=False),
        sa.Column("images", sa.JSON(), nullable=False),
        sa.Column("hosts", sa.JSON(), nullable=False),
        sa.Column("namespaces", sa.JSON(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.Column("updated_by", sa.String(length=160), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_collections")),
        sa.UniqueConstraint("name", name=op.f("uq_policy_collections_name")),
    )
    op.create_table(
        "policy_contexts",
        sa.Column("id", _ID, nullable=False),
        sa.Column("artifact_key", sa.String(length=600), nullable=False),
        sa.Column("namespace", sa.String(length=253), nullable=True),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.Column("updated_by", sa.String(length=160), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_contexts")),
        sa.UniqueConstraint("artifact_key", name=op.f("uq_policy_contexts_artifact_key")),
    )
    op.create_table(
        "policy_fix_seen",
        sa.Column("id", _ID, nullable=False),
        sa.Column("vuln_id", sa.String(length=128), nullable=False),
        sa.Column("package_type", sa.String(length=32), nullable=False),
        sa.Column("package_name", sa.String(length=512), nullable=False),
        sa.Column("first_seen", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_fix_seen")),
        sa.UniqueConstraint(
            "vuln_id",
            "package_type",
            "package_name",
            name=op.f("uq_policy_fix_seen_vuln_id_package_type_package_name"),
        ),
    )
    op.create_table(
        "policy_rules",
        sa.Column("id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=1024), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("collections", sa.JSON(), nullable=False),
        sa.Column("alert_severity", sa.SmallInteger(), nullable=True),
        sa.Column("block_severity", sa.SmallInteger(), nullable=True),
        sa.Column("only_fixed", sa.Boolean(), nullable=False),
        sa.Column("grace_days", sa.Integer(), nullable=False),
        sa.Column("count_suppressed", sa.Boolean(), nullable=False),
        sa.Column("checks", sa.JSON(), nullable=False),
        sa.Column("exceptions", sa.JSON(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.Column("updated_by", sa.String(length=160), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_rules")),
        sa.UniqueConstraint("kind", "name", name=op.f("uq_policy_rules_kind_name")),
    )
    with op.batch_alter_table("policy_rules", schema=None) as batch_op:
        batch_op.create_index("ix_policy_rules_kind_position", ["kind", "position"], unique=False)

    op.create_table(
        "policy_verdicts",
        sa.Column("id", _ID, nullable=False),
        sa.Column("scan_id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=8), nullable=False),
        sa.Column("rule_name", sa.String(length=64), nullable=True),
        sa.Column("collection", sa.String(length=64), nullable=True),
        sa.Column("severity", sa.SmallInteger(), nullable=False),
        sa.Column("evaluated_at", _TIME, nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["scan_id"],
            ["scans.id"],
            name=op.f("fk_policy_verdicts_scan_id_scans"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_verdicts")),
        sa.UniqueConstraint("scan_id", name=op.f("uq_policy_verdicts_scan_id")),
    )
    with op.batch_alter_table("policy_verdicts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_policy_verdicts_outcome_evaluated_at", ["outcome", "evaluated_at"], unique=False
        )
        batch_op.create_index("ix_policy_verdicts_evaluated_at", ["evaluated_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("policy_verdicts", schema=None) as batch_op:
        batch_op.drop_index("ix_policy_verdicts_evaluated_at")
        batch_op.drop_index("ix_policy_verdicts_outcome_evaluated_at")
    op.drop_table("policy_verdicts")
    with op.batch_alter_table("policy_rules", schema=None) as batch_op:
        batch_op.drop_index("ix_policy_rules_kind_position")
    op.drop_table("policy_rules")
    op.drop_table("policy_fix_seen")
    op.drop_table("policy_contexts")
    op.drop_table("policy_collections")
