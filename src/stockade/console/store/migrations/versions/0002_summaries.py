"""Console schema: vulnerability summaries for fast lists.

Summaries of every image's latest scan (per vulnerability, per package name and
version) and of every compliance target's latest check result (per check), kept up to
date by each publish. Upgrading fills them from the rows already stored. Also: an index
for a check's results in list order, and no index on package names any more (search
reads the package summary).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_LEVELS = ("", "_negligible", "_low", "_medium", "_high", "_critical")


def upgrade() -> None:
    op.create_table(
        "vulnerability_summaries",
        sa.Column("vuln_id", sa.String(length=128), nullable=False),
        sa.Column("cve", sa.String(length=64), nullable=True),
        sa.Column("search_key", sa.String(length=200), nullable=False),
        sa.Column("severity", sa.SmallInteger(), nullable=False),
        *(sa.Column(f"images{w}", sa.Integer(), nullable=False) for w in _LEVELS),
        *(sa.Column(f"fixable{w}", sa.Integer(), nullable=False) for w in _LEVELS),
        sa.PrimaryKeyConstraint("vuln_id", name=op.f("pk_vulnerability_summaries")),
    )
    op.create_table(
        "package_summaries",
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("version", sa.String(length=256), nullable=False),
        sa.Column("name_key", sa.String(length=512), nullable=False),
        sa.Column("images", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", "version", name=op.f("pk_package_summaries")),
    )
    op.create_table(
        "latest_compliance",
        sa.Column("artifact_key", sa.String(length=600), nullable=False),
        sa.Column("scan_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.ForeignKeyConstraint(
            ["scan_id"],
            ["scans.id"],
            name=op.f("fk_latest_compliance_scan_id_scans"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("artifact_key", name=op.f("pk_latest_compliance")),
    )
    with op.batch_alter_table("latest_compliance", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_latest_compliance_scan_id"), ["scan_id"], unique=False)
    op.create_table(
        "check_summaries",
        sa.Column("check_id", sa.String(length=160), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("severity", sa.SmallInteger(), nullable=False),
        sa.Column("results", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("passed", sa.Integer(), nullable=False),
        sa.Column("failing_targets", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("check_id", name=op.f("pk_check_summaries")),
    )
    with op.batch_alter_table("compliance_results", schema=None) as batch_op:
        batch_op.create_index(
            "ix_compliance_results_check_id_severity_id",
            ["check_id", "severity", "id"],
            unique=False,
        )
    # Package search reads package_summaries now; the name index over every stored
    # package (history included) only slowed each publish down.
    with op.batch_alter_table("packages", schema=None) as batch_op:
        batch_op.drop_index("ix_packages_name")
    _fill(op.get_bind())


def _fill(connection: sa.Connection) -> None:
    """The summaries of what is stored already (the same as the Console's rebuild)."""
    thresholds = ", ".join(
        f"sum(CASE WHEN worst >= {level} THEN 1 ELSE 0 END)" for level in range(1, 6)
    )
    fixable = ", ".join(
        f"sum(CASE WHEN f.fix_state = 'fixed' AND f.severity >= {level} THEN 1 ELSE 0 END)"
        f" AS fixable_{level}"
        for level in range(6)
    )
    columns = ", ".join(
        ["vuln_id", "cve", "search_key", "severity"]
        + [f"images{w}" for w in _LEVELS]
        + [f"fixable{w}" for w in _LEVELS]
    )
    fixable_sums = ", ".join(f"sum(fixable_{level})" for level in range(6))
    connection.execute(
        sa.text(
            f"INSERT INTO vulnerability_summaries ({columns}) "  # noqa: S608  # our names
            f"SELECT vuln_id, max(cve), '', max(worst), count(*), {thresholds}, {fixable_sums} "
            "FROM (SELECT f.vuln_id AS vuln_id, max(f.cve) AS cve, max(f.severity) AS worst, "
            f"{fixable} FROM findings f JOIN images i ON i.latest_scan_id = f.scan_id "
            "WHERE NOT f.suppressed GROUP BY f.vuln_id, i.id) per_image GROUP BY vuln_id"
        )
    )
    keys = connection.execute(sa.text("SELECT vuln_id, cve FROM vulnerability_summaries")).all()
    if keys:  # lowered here, not in SQL: SQLite's lower() knows ASCII only
        connection.execute(
            sa.text("UPDATE vulnerability_summaries SET search_key = :key WHERE vuln_id = :id"),
            [{"id": v, "key": f"{v}\x1f{c or ''}".lower()} for v, c in keys],
        )
    packages = connection.execute(
        sa.text(
            "SELECT p.name, p.version, count(DISTINCT i.id) FROM packages p "
            "JOIN images i ON i.latest_scan_id = p.scan_id GROUP BY p.name, p.version"
        )
    ).all()
    insert = sa.text(
        "INSERT INTO package_summaries (name, version, name_key, images) "
        "VALUES (:name, :version, :key, :images)"
    )
    for start in range(0, len(packages), 10_000):
        connection.execute(
            insert,
            [
                {"name": n, "version": v, "key": n.lower(), "images": c}
                for n, v, c in packages[start : start + 10_000]
            ],
        )
    connection.execute(
        sa.text(
            "INSERT INTO latest_compliance (artifact_key, scan_id) "
            "SELECT artifact_key, max(id) FROM scans WHERE kind = 'compliance' "
            "GROUP BY artifact_key"
        )
    )
    connection.execute(
        sa.text(
            "INSERT INTO check_summaries "
            "(check_id, title, severity, results, failed, passed, failing_targets) "
            "SELECT r.check_id, max(r.title), max(r.severity), count(*), "
            "sum(CASE WHEN r.status = 'failed' THEN 1 ELSE 0 END), "
            "sum(CASE WHEN r.status = 'passed' THEN 1 ELSE 0 END), "
            "count(DISTINCT CASE WHEN r.status = 'failed' THEN r.scan_id END) "
            "FROM compliance_results r JOIN latest_compliance l ON l.scan_id = r.scan_id "
            "GROUP BY r.check_id"
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("packages", schema=None) as batch_op:
        batch_op.create_index("ix_packages_name", ["name"], unique=False)
    with op.batch_alter_table("compliance_results", schema=None) as batch_op:
        batch_op.drop_index("ix_compliance_results_check_id_severity_id")
    op.drop_table("check_summaries")
    with op.batch_alter_table("latest_compliance", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_latest_compliance_scan_id"))
    op.drop_table("latest_compliance")
    op.drop_table("package_summaries")
    op.drop_table("vulnerability_summaries")
