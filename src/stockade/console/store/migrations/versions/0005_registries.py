"""Console schema: registries and their scans.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "registries",
        sa.Column("id", _ID, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=512), nullable=False),
        sa.Column("repositories", sa.JSON(), nullable=False),
        sa.Column("include", sa.JSON(), nullable=False),
        sa.Column("exclude", sa.JSON(), nullable=False),
        sa.Column("tag_limit", sa.Integer(), nullable=False),
        sa.Column("interval_minutes", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("credentials", sa.Text(), nullable=True),
        sa.Column("next_scan_at", _TIME, nullable=True),
        sa.Column("advisory_version", sa.String(length=64), nullable=True),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column("lease_until", _TIME, nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.Column("updated_by", sa.String(length=160), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registries")),
        sa.UniqueConstraint("name", name=op.f("uq_registries_name")),
    )
    op.create_table(
        "registry_scan_runs",
        sa.Column("id", _ID, nullable=False),
        sa.Column("registry_id", _ID, nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=160), nullable=False),
        sa.Column("queued_at", _TIME, nullable=False),
        sa.Column("started_at", _TIME, nullable=True),
        sa.Column("finished_at", _TIME, nullable=True),
        sa.Column("worker", sa.String(length=128), nullable=True),
        sa.Column("advisory_version", sa.String(length=64), nullable=True),
        sa.Column("repositories", sa.Integer(), nullable=False),
        sa.Column("images_found", sa.Integer(), nullable=False),
        sa.Column("images_scanned", sa.Integer(), nullable=False),
        sa.Column("images_skipped", sa.Integer(), nullable=False),
        sa.Column("images_failed", sa.Integer(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["registry_id"],
            ["registries.id"],
            name=op.f("fk_registry_scan_runs_registry_id_registries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_scan_runs")),
    )
    with op.batch_alter_table("registry_scan_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_registry_scan_runs_registry_id_id", ["registry_id", "id"], unique=False
        )
        batch_op.create_index("ix_registry_scan_runs_status", ["status"], unique=False)

    op.create_table(
        "registry_images",
        sa.Column("id", _ID, nullable=False),
        sa.Column("registry_id", _ID, nullable=False),
        sa.Column("repository", sa.String(length=256), nullable=False),
        sa.Column("tag", sa.String(length=128), nullable=False),
        sa.Column("digest", sa.String(length=256), nullable=False),
        sa.Column("image_digest", sa.String(length=256), nullable=True),
        sa.Column("created", _TIME, nullable=True),
        sa.Column("advisory_version", sa.String(length=64), nullable=True),
        sa.Column("scan_id", _ID, nullable=True),
        sa.Column("scanned_at", _TIME, nullable=True),
        sa.Column("last_seen_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["registry_id"],
            ["registries.id"],
            name=op.f("fk_registry_images_registry_id_registries"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["scan_id"],
            ["scans.id"],
            name=op.f("fk_registry_images_scan_id_scans"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_images")),
        sa.UniqueConstraint(
            "registry_id",
            "repository",
            "tag",
            name=op.f("uq_registry_images_registry_id_repository_tag"),
        ),
    )
    with op.batch_alter_table("registry_images", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_registry_images_digest"), ["digest"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("registry_images", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_registry_images_digest"))
    op.drop_table("registry_images")
    with op.batch_alter_table("registry_scan_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_registry_scan_runs_status")
        batch_op.drop_index("ix_registry_scan_runs_registry_id_id")
    op.drop_table("registry_scan_runs")
    op.drop_table("registries")
