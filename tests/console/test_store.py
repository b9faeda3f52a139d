"""The store on SQLite and PostgreSQL: migrations, transactions, retention, backups."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select, text

from stockade.console.config import ConsoleConfig
from stockade.console.documents import ScanDocument
from stockade.console.errors import BackupError
from stockade.console.store import migrate
from stockade.console.store.backup import backup, restore
from stockade.console.store.engine import Store
from stockade.console.store.ingest import store_scan
from stockade.console.store.models import Base, FindingRow, Image, PackageRow, Scan
from stockade.console.store.retention import RetentionPolicy, prune
from stockade.console.testing import synthetic_scan_document

NOW = dt.datetime(2026, 1, 15, 12, tzinfo=dt.UTC)


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
