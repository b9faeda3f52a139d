"""The store on SQLite and PostgreSQL: migrations, transactions, retention, backups."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Select, case, func, or_, select, text
from sqlalchemy.orm import Session

from stockade.console.config import ConsoleConfig
from stockade.console.documents import CheckDocument, ScanDocument
from stockade.console.errors import BackupError, NotFound
from stockade.console.store import migrate, queries, summaries
from stockade.console.store.backup import backup, restore
from stockade.console.store.engine import Store
from stockade.console.store.ingest import (
    KIND_COMPLIANCE,
    delete_image,
    delete_scan,
    severity_rank,
    store_check,
    store_scan,
)
from stockade.console.store.models import (
    Base,
    CheckSummary,
    ComplianceResult,
    FindingRow,
    Image,
    LatestCompliance,
    PackageRow,
    PackageSummary,
    Scan,
    VulnerabilitySummary,
)
from stockade.console.store.queries import severity_word
from stockade.console.store.retention import RetentionPolicy, prune
from stockade.console.testing import synthetic_check_document, synthetic_scan_document
from stockade.core.advisory import Severity

NOW = dt.datetime(2026, 1, 15, 12, tzinfo=dt.UTC)
_TABLES = Base.metadata.tables


def _count(store: Store, model: type[Base]) -> int:
    with store.read() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_migrations_run_from_empty_to_the_models(database_url: str) -> None:
    store = Store(database_url)
    try:
        assert migrate.current_revision(store) is None
        migrate.upgrade(store)
        migrate.upgrade(store)  # a second start changes nothing
        assert migrate.is_at_head(store)
        with store.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    finally:
        store.close()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'c.sqlite'}")
    with store.read() as session:
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1
    store.close()


def _publish(store: Store, seed: int, when: dt.datetime, **kwargs: object) -> Scan:
    document = ScanDocument.model_validate(synthetic_scan_document(seed, **kwargs))  # type: ignore[arg-type]
    with store.write() as session:
        return store_scan(session, document, publisher="test", now=when)


def test_a_failure_inside_the_transaction_stores_nothing(store: Store) -> None:
    document = ScanDocument.model_validate(synthetic_scan_document(1))

    def publish_then_fail() -> None:
        with store.write() as session:
            store_scan(session, document, publisher="test", now=NOW)
            raise RuntimeError("half-way")

    with pytest.raises(RuntimeError, match="half-way"):
        publish_then_fail()
    assert (_count(store, Scan), _count(store, FindingRow), _count(store, Image)) == (0, 0, 0)


def test_each_image_points_at_its_latest_scan(store: Store) -> None:
    first = _publish(store, 7, NOW)
    second = _publish(store, 7, NOW + dt.timedelta(hours=1))
    with store.read() as session:
        image = session.scalars(select(Image)).one()
    assert image.latest_scan_id == second.id != first.id
    assert _count(store, Scan) == 2
    assert _count(store, PackageRow) == 600


def test_retention_keeps_n_scans_and_always_the_newest(store: Store) -> None:
    for hour in range(5):
        _publish(store, 1, NOW + dt.timedelta(hours=hour))
    old = _publish(store, 2, NOW - dt.timedelta(days=400))
    with store.write() as session:
        report = prune(session, RetentionPolicy(keep_scans=2, max_age_days=30), NOW)
    assert report.scans == 3
    with store.read() as session:
        kept = session.scalars(select(Scan.id).order_by(Scan.id)).all()
        assert old.id in kept  # the only scan of its image, however old
        assert len(kept) == 3
        assert session.scalar(select(func.count()).select_from(FindingRow)) == 300


def test_backup_and_restore_round_trip(store: Store, config: ConsoleConfig, tmp_path: Path) -> None:
    _publish(store, 1, NOW)
    _publish(store, 2, NOW)
    file = tmp_path / "backup.bin"
    kind = backup(store, file)
    assert kind == ("sqlite" if store.dialect == "sqlite" else "jsonl")
    with pytest.raises(BackupError, match="exists already"):
        backup(store, file)
    _publish(store, 3, NOW)  # made after the backup: gone once restored
    with store.write() as session:
        session.execute(text("DELETE FROM users"))
    restore(store, file)
    assert _count(store, Image) == 2
    assert _count(store, FindingRow) == 200
    with store.read() as session:
        assert session.scalar(text("SELECT username FROM users")) == "admin"
    _publish(store, 4, NOW)  # ids continue past the restored rows
    assert _count(store, Image) == 3


def test_a_logical_backup_restores_into_either_store(store: Store, tmp_path: Path) -> None:
    _publish(store, 1, NOW)
    file = tmp_path / "backup.jsonl"
    from stockade.console.store import backup as backup_module

    with file.open("x", encoding="utf-8") as out:
        backup_module._export(store, out)
    target = Store(f"sqlite:///{tmp_path / 'other.sqlite'}")
    migrate.upgrade(target)
    assert restore(target, file) == "jsonl"
    assert _count(target, FindingRow) == 100
    target.close()


def test_restore_refuses_what_is_not_a_backup(store: Store, tmp_path: Path) -> None:
    file = tmp_path / "nope.json"
    file.write_text('{"hello": 1}\n')
    with pytest.raises(BackupError, match="not a Stockade Console backup"):
        restore(store, file)


# --- summaries: the fast lists equal straightforward queries over the raw rows ---------


def _varied_scan(seed: int, *, image: int | None = None, pool: int = 60) -> ScanDocument:
    """A scan whose vulnerabilities overlap other images' (a small pool), some of them at
    a severity other than their usual one, some suppressed; ``image`` publishes it as
    that image (same digest), so it replaces the image's latest scan."""
    document = synthetic_scan_document(seed, findings=40, packages=60, vulnerability_pool=pool)
    for i, finding in enumerate(document["findings"]):
        if i % 7 == 3:
            finding["severity"] = "critical"
        if i % 11 == 5:
            finding["severity"] = "negligible"
    for package in document["packages"][::4]:  # packages shared between images
        package["name"] = f"Shared-{seed % 3}-{package['type']}"
        package["version"] = "1.0"
    if image is not None:
        document["artifact"] = synthetic_scan_document(image, findings=0)["artifact"]
    return ScanDocument.model_validate(document)


def _raw_vulnerabilities(
    session: Session, *, min_severity: int | None, q: str | None, sort: str
) -> list[dict[str, object]]:
    """The vulnerability list grouped from the latest findings, as before summaries."""
    images = func.count(func.distinct(Image.id))
    severity = func.max(FindingRow.severity)
    fixable = func.sum(case((FindingRow.fix_state == "fixed", 1), else_=0))
    query = (
        select(FindingRow.vuln_id, func.max(FindingRow.cve), severity, images, fixable)
        .join(Image, Image.latest_scan_id == FindingRow.scan_id)
        .where(FindingRow.suppressed.is_(False))
        .group_by(FindingRow.vuln_id)
    )
    if min_severity is not None:
        query = query.where(FindingRow.severity >= min_severity)
    if q:
        pattern = f"%{q}%"
        query = query.where(or_(FindingRow.vuln_id.ilike(pattern), FindingRow.cve.ilike(pattern)))
    order = (
        (severity.desc(), images.desc(), FindingRow.vuln_id)
        if sort == "severity"
        else (images.desc(), severity.desc(), FindingRow.vuln_id)
    )
    return [
        {
            "id": v,
            "cve": c,
            "severity": severity_word(s),
            "images": n,
            "fixableFindings": int(f),
        }
        for v, c, s, n, f in session.execute(query.order_by(*order))
    ]


def _raw_packages(session: Session) -> dict[tuple[str, str], int]:
    rows = session.execute(
        select(PackageRow.name, PackageRow.version, func.count(func.distinct(Image.id)))
        .join(Image, Image.latest_scan_id == PackageRow.scan_id)
        .group_by(PackageRow.name, PackageRow.version)
    )
    return {(n, v): c for n, v, c in rows}


def _latest_check_scans() -> Select[tuple[int]]:
    return select(func.max(Scan.id)).where(Scan.kind == KIND_COMPLIANCE).group_by(Scan.artifact_key)


def _raw_checks(session: Session) -> list[dict[str, object]]:
    failed = func.sum(case((ComplianceResult.status == "failed", 1), else_=0))
    rows = session.execute(
        select(
            ComplianceResult.check_id,
            func.max(ComplianceResult.title),
            func.max(ComplianceResult.severity),
            failed,
            func.sum(case((ComplianceResult.status == "passed", 1), else_=0)),
            func.count(
                func.distinct(case((ComplianceResult.status == "failed", ComplianceResult.scan_id)))
            ),
        )
        .where(ComplianceResult.scan_id.in_(_latest_check_scans()))
        .group_by(ComplianceResult.check_id)
        .order_by(failed.desc(), ComplianceResult.check_id)
    )
    return [
        {
            "check": c,
            "title": t,
            "severity": severity_word(s),
            "failed": int(f),
            "passed": int(p),
            "failingTargets": n,
        }
        for c, t, s, f, p, n in rows
    ]


def _raw_check_results(
    session: Session, check_id: str, status: str | None
) -> list[tuple[int, str]]:
    query = select(ComplianceResult.scan_id, ComplianceResult.status).where(
        ComplianceResult.scan_id.in_(_latest_check_scans()),
        ComplianceResult.check_id == check_id,
    )
    if status is not None:
        query = query.where(ComplianceResult.status == status)
    order = (ComplianceResult.severity.desc(), ComplianceResult.id.desc())
    return [(scan, state) for scan, state in session.execute(query.order_by(*order))]


def _summary_rows(session: Session) -> list[list[object]]:
    tables = (VulnerabilitySummary, PackageSummary, CheckSummary, LatestCompliance)
    return [
        sorted(tuple(row) for row in session.execute(select(*t.__table__.columns))) for t in tables
    ]


def _assert_summaries_match_raw_rows(store: Store) -> None:
    with store.read() as session:
        for min_severity in (None, *range(6)):
            for q in (None, "cve-2024-1001", "00", "3\x1fcve"):  # \x1f: search_key's separator
                for sort in ("impact", "severity"):
                    page = queries.list_vulnerabilities(
                        session, limit=1000, offset=0, min_severity=min_severity, q=q, sort=sort
                    )
                    raw = _raw_vulnerabilities(session, min_severity=min_severity, q=q, sort=sort)
                    assert page.items == raw, (min_severity, q, sort)
                    assert page.total == len(raw)
        second = queries.list_vulnerabilities(session, limit=5, offset=5)
        assert (
            second.items == _raw_vulnerabilities(session, min_severity=None, q=None, sort="")[5:10]
        )
        summary = {(p.name, p.version): p.images for p in session.scalars(select(PackageSummary))}
        assert summary == _raw_packages(session)
        checks = queries.compliance_by_check(session, limit=1000, offset=0)
        assert checks.items == _raw_checks(session)
        for check_id in ("STK-K8S-000", "STK-K8S-001", "STK-K8S-002", "nothing"):
            for status in (None, "failed", "passed", "skipped"):
                page = queries.compliance_results(
                    session, limit=3, offset=1, check_id=check_id, status=status
                )
                raw_results = _raw_check_results(session, check_id, status)
                assert page.total == len(raw_results)
                assert [(r["scanId"], r["status"]) for r in page.items] == raw_results[1:4]
        risks = queries.top_risks(session, limit=10)
        assert (
            risks["vulnerabilities"]
            == _raw_vulnerabilities(
                session, min_severity=int(Severity.HIGH), q=None, sort="severity"
            )[:10]
        )
        incremental = _summary_rows(session)
    with store.write() as session:
        summaries.rebuild(session.connection())
    with store.read() as session:
        assert _summary_rows(session) == incremental  # increments = recomputing from rows


def _check(store: Store, seed: int, target: str, when: dt.datetime) -> None:
    raw = synthetic_check_document(seed, results=12)
    raw["target"] = target
    raw["results"].append({**raw["results"][0], "status": "skipped"})
    with store.write() as session:
        store_check(session, CheckDocument.model_validate(raw), publisher="test", now=when)


def test_summaries_follow_publishes_retention_and_deletes(store: Store) -> None:
    def publish(document: ScanDocument, when: dt.datetime, host: str | None = None) -> Scan:
        with store.write() as session:
            return store_scan(session, document, publisher="test", now=when, host=host)

    for seed in range(8):
        publish(_varied_scan(seed), NOW)
    publish(_varied_scan(20), NOW, host="node-1")  # hosts are not in the image summaries
    for n in range(4):
        _check(store, n, f"deploy/app{n}.yaml", NOW)
    _assert_summaries_match_raw_rows(store)

    # Re-publishes: the same content again, different content for an image, a result
    # published with an older clock (it is still the latest), a check that changed.
    publish(_varied_scan(3), NOW + dt.timedelta(hours=1))
    replaced = publish(_varied_scan(30, image=5), NOW + dt.timedelta(hours=1))
    skewed = publish(_varied_scan(31, image=6), NOW - dt.timedelta(hours=5))
    _check(store, 9, "deploy/app1.yaml", NOW + dt.timedelta(hours=1))
    _check(store, 10, "deploy/app2.yaml", NOW - dt.timedelta(hours=5))
    _assert_summaries_match_raw_rows(store)

    # Retention keeps one scan per artifact: never the one an image points at.
    with store.write() as session:
        report = prune(session, RetentionPolicy(keep_scans=1, max_age_days=1), NOW)
    # Images 3 and 5 and target app1 lose their older scan. Image 6 and app2 keep both:
    # the newest by time always stays, and so does the latest (published last).
    assert report.scans == 3
    with store.read() as session:
        assert session.get(Scan, skewed.id) is not None
        assert session.scalar(select(Image.latest_scan_id).where(Image.id == skewed.image_id)) == (
            skewed.id
        )
    _assert_summaries_match_raw_rows(store)

    # Deletes: an image's latest scan (its previous one takes over, or none), an image,
    # a target's latest check result.
    publish(_varied_scan(40, image=1), NOW + dt.timedelta(hours=2))
    with store.write() as session:
        latest = session.scalar(select(Image.latest_scan_id).where(Image.id == replaced.image_id))
        assert latest == replaced.id
        delete_scan(session, replaced.id)
        assert (
            session.scalar(select(Image.latest_scan_id).where(Image.id == replaced.image_id))
            is None
        )
        one = session.scalar(select(Image.latest_scan_id).order_by(Image.id).offset(1).limit(1))
        assert one is not None
        delete_scan(session, one)  # image 1: its first scan is back
        delete_image(session, synthetic_scan_document(2)["artifact"]["digest"])
        checks = session.scalars(
            select(Scan.id).where(Scan.artifact_key == "target:deploy/app2.yaml")
        ).all()
        delete_scan(session, max(checks))
    with store.read() as session:
        assert session.scalar(select(func.count()).select_from(Image)) == 7
        image_one = session.scalar(select(Image).order_by(Image.id).offset(1).limit(1))
        assert image_one is not None
        assert image_one.latest_scan_id is not None
        assert image_one.critical == session.scalar(
            select(func.count()).where(
                FindingRow.scan_id == image_one.latest_scan_id,
                FindingRow.severity == int(Severity.CRITICAL),
                FindingRow.suppressed.is_(False),
            )
        )
    _assert_summaries_match_raw_rows(store)
    with store.write() as session, pytest.raises(NotFound):
        delete_scan(session, 10**9)


def test_search_finds_packages_by_any_part_of_the_name_ignoring_case(store: Store) -> None:
    with store.write() as session:
        for seed in range(3):
            store_scan(session, _varied_scan(seed), publisher="test", now=NOW)
    with store.read() as session:
        found = queries.search(session, "SHARED-1-D", limit=10)["packages"]
        assert found == [{"name": "Shared-1-deb", "version": "1.0", "images": 1}]
        found = queries.search(session, "ared-", limit=10)["packages"]
        assert {p["name"] for p in found} == {
            "Shared-0-deb",
            "Shared-0-pypi",
            "Shared-1-deb",
            "Shared-1-pypi",
            "Shared-2-deb",
            "Shared-2-pypi",
        }
        assert queries.search(session, "100%", limit=10)["packages"] == []


def test_migration_0002_summarises_what_is_stored_already(database_url: str) -> None:
    store = Store(database_url)
    try:
        migrate.upgrade(store, "0001")
        images = _TABLES["images"]
        with store.write() as session:
            connection = session.connection()
            for seed in range(3):
                document = _varied_scan(seed)
                image_id = connection.execute(
                    images.insert().returning(images.c.id),
                    {
                        "digest": document.artifact.digest,
                        "name": document.artifact.name,
                        "first_seen": NOW,
                        "last_scanned": NOW,
                    },
                ).scalar_one()
                for scan_number in range(2):  # only the second is the image's latest
                    scan_id = connection.execute(
                        _TABLES["scans"].insert().returning(_TABLES["scans"].c.id),
                        {
                            "kind": "vulnerabilities",
                            "artifact_key": f"image:{document.artifact.digest}",
                            "artifact_name": document.artifact.name,
                            "artifact_type": "docker-archive",
                            "image_id": image_id,
                            "scanned_at": NOW,
                            "published_by": "test",
                            "summary": {},
                            "document": {},
                        },
                    ).scalar_one()
                    findings = document.findings[scan_number * 5 :]
                    connection.execute(
                        _TABLES["findings"].insert(),
                        [
                            {
                                "scan_id": scan_id,
                                "vuln_id": f.id,
                                "cve": f.cve,
                                "aliases": [],
                                "severity": severity_rank(f.severity),
                                "package_name": f.package.name,
                                "package_type": f.package.type,
                                "installed_version": f.installed_version,
                                "fixed_versions": [],
                                "fix_state": f.fix_state,
                                "suppressed": f.suppressed,
                            }
                            for f in findings
                        ],
                    )
                    connection.execute(
                        _TABLES["packages"].insert(),
                        [
                            {
                                "scan_id": scan_id,
                                "name": p.name,
                                "version": p.version,
                                "type": p.type,
                                "licenses": [],
                            }
                            for p in (document.packages or [])[scan_number * 7 :]
                        ],
                    )
                connection.execute(
                    images.update().where(images.c.id == image_id).values(latest_scan_id=scan_id)
                )
            for n in range(2):
                check = _TABLES["scans"].insert().returning(_TABLES["scans"].c.id)
                scan_id = connection.execute(
                    check,
                    {
                        "kind": "compliance",
                        "artifact_key": "target:deploy.yaml",
                        "artifact_name": "deploy.yaml",
                        "artifact_type": "check",
                        "scanned_at": NOW,
                        "published_by": "test",
                        "summary": {},
                        "document": {},
                    },
                ).scalar_one()
                raw = synthetic_check_document(n, results=10)
                connection.execute(
                    _TABLES["compliance_results"].insert(),
                    [
                        {
                            "scan_id": scan_id,
                            "check_id": r["check"]["id"],
                            "title": r["check"]["title"],
                            "severity": severity_rank(r["check"]["severity"]),
                            "status": r["status"],
                            "resource": r["resource"],
                            "suppressed": False,
                        }
                        for r in raw["results"]
                    ],
                )
        migrate.upgrade(store)
        with store.read() as session:
            assert session.scalar(select(func.count()).select_from(VulnerabilitySummary)) > 0
            assert session.scalar(select(LatestCompliance.scan_id)) == scan_id
        _assert_summaries_match_raw_rows(store)
    finally:
        store.close()


def test_concurrent_publishes_keep_the_summaries_exact(store: Store) -> None:
    """Publishers in parallel, sharing vulnerabilities, packages and images: no deadlock
    (summary rows are locked in key order) and no lost update."""
    documents = [_varied_scan(seed, image=seed % 5, pool=30) for seed in range(16)]
    failures: list[BaseException] = []

    def publish(share: list[ScanDocument]) -> None:
        try:
            for document in share:
                with store.write() as session:
                    store_scan(session, document, publisher="test", now=NOW)
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=publish, args=(documents[n::4],)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures
    assert not any(thread.is_alive() for thread in threads)
    with store.read() as session:
        assert session.scalar(select(func.count()).select_from(Image)) == 5
    _assert_summaries_match_raw_rows(store)
