"""``stockade console`` commands that need no server: migrate, token create, backup,
restore (serving is tested in tests/console/test_serve.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from stockade.cli.main import main
from stockade.console.config import ConsoleConfig, database_url
from stockade.console.identity.credentials import digest
from stockade.console.service import open_store
from stockade.console.store.models import ApiToken, AuditEntry


def _store(data: Path):  # type: ignore[no-untyped-def]
    return open_store(ConsoleConfig(database_url=database_url(data, None), data_dir=data))


def test_migrate_creates_the_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["console", "migrate", "--data-dir", str(tmp_path)]) == 0
    from stockade.console.store.migrate import head_revision

    assert f"schema empty -> {head_revision()}" in capsys.readouterr().err
    assert (tmp_path / "console.sqlite").exists()


def test_token_create_prints_the_token_once_and_stores_its_digest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["console", "token", "create", "--data-dir", str(tmp_path), "--role", "ci", "--name", "gl"]
    )
    assert code == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("stk_")
    store = _store(tmp_path)
    with store.read() as session:
        row = session.scalars(select(ApiToken)).one()
        assert (row.name, row.role, row.token_hash) == ("gl", "ci", digest(token))
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 1
    store.close()


def test_defender_enrol_binds_a_token_to_the_host(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from stockade.console.store.models import Defender

    assert main(["console", "defender", "enrol", "--data-dir", str(tmp_path), "node-7"]) == 0
    token = capsys.readouterr().out.strip()
    store = _store(tmp_path)
    with store.read() as session:
        defender = session.scalars(select(Defender)).one()
        row = session.get(ApiToken, defender.token_id)
        assert row is not None
        assert (defender.name, row.role, row.token_hash) == ("node-7", "defender", digest(token))
    store.close()
    # enrolling the same host twice is refused with a clear error, not a traceback
    assert main(["console", "defender", "enrol", "--data-dir", str(tmp_path), "node-7"]) != 0
    assert "already enrolled" in capsys.readouterr().err


def test_backup_then_restore(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    args = ["--data-dir", str(data)]
    main(["console", "token", "create", *args, "--role", "ci", "--name", "one"])
    backup = tmp_path / "console.backup"
    assert main(["console", "backup", *args, str(backup)]) == 0
    main(["console", "token", "create", *args, "--role", "ci", "--name", "two"])
    assert main(["console", "restore", *args, str(backup)]) == 2  # asks first; no terminal
    assert main(["console", "restore", *args, "--yes", str(backup)]) == 0
    store = _store(data)
    with store.read() as session:
        assert session.scalars(select(ApiToken.name)).all() == ["one"]
    store.close()
    assert main(["console", "backup", *args, str(backup)]) == 2  # never overwrites
    assert "exists already" in capsys.readouterr().err


def test_serve_rejects_half_a_tls_pair(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cert = tmp_path / "c.pem"
    cert.write_text("x")
    assert main(["console", "serve", "--data-dir", str(tmp_path), "--tls-cert", str(cert)]) == 2
    assert "both --tls-cert and --tls-key" in capsys.readouterr().err
