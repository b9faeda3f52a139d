"""``stockade db update|import|status`` through the real CLI (``main([...])``): exit codes
0 and 2, what is printed, and the store each run leaves."""

from __future__ import annotations

import json
import re
import socket
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.vulndb.test_update import DEBIAN, PYPI, FeedServer, Status, serve_feeds

from stockade.cli.main import main
from stockade.vulndb import AdvisoryStore
from stockade.vulndb.bundle import read_manifest
from stockade.vulndb.update import read_state

DATA = Path(__file__).resolve().parent.parent / "data" / "advisories"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The default store and cache in a temporary home, and none of the user's settings."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "home-data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home-cache"))
    for name in ("STOCKADE_DB", "STOCKADE_DB_MIRRORS", "NO_COLOR", "STOCKADE_DEBUG", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[FeedServer]:
    running = serve_feeds(FeedServer())
    yield running
    running.close()


def default_store(tmp_path: Path) -> Path:
    return tmp_path / "home-data" / "stockade" / "vulndb.sqlite"


def status_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    capsys.readouterr()
    assert main(["db", *args, "status", "-f", "json"]) == 0
    document: dict[str, object] = json.loads(capsys.readouterr().out)
    return document


def sources_of(document: dict[str, object]) -> dict[str, dict[str, object]]:
    entries = document["sources"]
    assert isinstance(entries, list)
    return {entry["name"]: entry for entry in entries}


# --- status ----------------------------------------------------------------------------


def test_status_installs_the_bundle_on_first_use_and_says_how_old_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "status"]) == 0
    out, err = capsys.readouterr()
    assert "installed the advisory data shipped with Stockade" in err
    assert f"store: {default_store(tmp_path)}" in out
    manifest = read_manifest()
    assert manifest is not None
    for source in manifest.sources:
        assert source.name in out
    assert "bundle" in out
    assert "2024-10-10" in out  # the PyPI snapshot's date
    assert "run `stockade db update` for current data" in out
    assert main(["db", "status"]) == 0
    assert "installed" not in capsys.readouterr().err


def test_status_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    document = status_json(capsys)
    sources = sources_of(document)
    pypi = sources["osv-pypi"]
    assert pypi["origin"] == "bundle"
    assert pypi["as_of"] == "2024-10-10T00:00:00+00:00"
    assert isinstance(pypi["age_seconds"], int)
    assert pypi["age_seconds"] > 0
    assert pypi["ecosystems"] == {"PyPI": pypi["advisories"]}
    assert document["advisories"] == sum(int(str(s["advisories"])) for s in sources.values())
    bundle = document["bundle"]
    assert isinstance(bundle, dict)
    assert set(bundle["sources"]) == set(sources)


def test_status_of_a_store_that_does_not_exist_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere.sqlite"
    assert main(["db", "--db", str(missing), "status"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: no advisory store at {missing}")
    assert "hint: create it with `stockade db update`" in err
    assert not missing.exists()


# --- import ----------------------------------------------------------------------------


def test_import_a_directory_into_a_new_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "mine.sqlite"
    go = DATA / "osv-go"
    assert main(["db", "import", "--db", str(store), "--no-bundle", str(go)]) == 0
    err = capsys.readouterr().err
    assert "imported 4 advisories (osv 4) from 4 documents, 0 skipped" in err
    sources = sources_of(status_json(capsys, "--db", str(store)))
    assert list(sources) == ["osv"]
    assert sources["osv"]["origin"] == "import"
    assert sources["osv"]["location"] == str(go)
    assert sources["osv"]["as_of"] == sources["osv"]["newest_advisory"]


def test_import_a_zip_under_a_feed_name_replacing_the_bundled_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = tmp_path / "PyPI-all.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for path in sorted((DATA / "osv-pypi").rglob("*.yaml")):
            out.write(path, path.name)
    argv = ["db", "import", "--source", "osv-pypi", "--replace", str(archive)]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "installed the advisory data" in err
    assert "imported 5 advisories (osv-pypi 5)" in err
    sources = sources_of(status_json(capsys))
    assert sources["osv-pypi"]["advisories"] == 5
    assert sources["osv-pypi"]["origin"] == "import"
    assert sources["osv-go"]["origin"] == "bundle"


def test_the_store_can_be_named_by_stockade_db(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "from-env.sqlite"
    monkeypatch.setenv("STOCKADE_DB", str(store))
    assert main(["db", "import", "--no-bundle", str(DATA / "rubysec")]) == 0
    assert store.is_file()
    assert not default_store(tmp_path).exists()
    assert set(sources_of(status_json(capsys))) == {"rubysec"}
    # --db wins over the variable, given to the group or to the subcommand.
    other = tmp_path / "other.sqlite"
    assert main(["db", "--db", str(other), "import", "--no-bundle", str(DATA / "osv-go")]) == 0
    assert set(sources_of(status_json(capsys, "--db", str(other)))) == {"osv"}
    capsys.readouterr()
    assert main(["db", "status", "--db", str(other), "-f", "json"]) == 0
    assert set(sources_of(json.loads(capsys.readouterr().out))) == {"osv"}


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "nowhere", "no such file or directory"),
        (lambda tmp: tmp, "no advisory document this Stockade can read"),
    ],
)
def test_import_errors_exit_2_with_a_hint(
    make: object, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = make(tmp_path / "input")  # type: ignore[operator]
    (tmp_path / "input").mkdir()
    (tmp_path / "input" / "notes.json").write_text('{"hello": "world"}')
    store = tmp_path / "store.sqlite"
    assert main(["db", "import", "--db", str(store), "--no-bundle", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert message in err
    assert "hint: " in err


# --- update ----------------------------------------------------------------------------


def update_argv(server: FeedServer, tmp_path: Path, *extra: str) -> list[str]:
    return [
        "db",
        "--db",
        str(tmp_path / "store.sqlite"),
        "update",
        "--no-bundle",
        "--source",
        "osv-pypi",
        "--source",
        "debian-tracker",
        "--mirror",
        f"osv={server.url}/osv/",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--retries",
        "0",
        *extra,
    ]


def test_update_from_a_mirror_then_nothing_to_do(
    server: FeedServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("STOCKADE_DB_MIRRORS", f"debian-tracker={server.url}{DEBIAN}")
    assert main(update_argv(server, tmp_path)) == 0
    err = capsys.readouterr().err
    assert re.search(rf"osv-pypi: downloaded [\d.]+ KiB from {server.url}{PYPI}\n", err)
    assert "updated 2 feeds (11 advisories), 0 unchanged" in err
    with AdvisoryStore.open(tmp_path / "store.sqlite", read_only=True) as store:
        assert {s.source: s.advisories for s in store.status()} == {
            "debian-tracker": 6,
            "osv-pypi": 5,
        }
    assert main(update_argv(server, tmp_path)) == 0
    assert "the store is up to date with 2 feeds" in capsys.readouterr().err
    sources = sources_of(status_json(capsys, "--db", str(tmp_path / "store.sqlite")))
    assert sources["osv-pypi"]["origin"] == "update"
    assert sources["osv-pypi"]["error"] is None
    assert sources["osv-pypi"]["checked"] is not None


def test_a_failed_update_exits_2_and_status_shows_it(
    server: FeedServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = update_argv(server, tmp_path, "--mirror", f"debian-tracker={server.url}{DEBIAN}")
    assert main(argv) == 0
    server.put(PYPI, server.files[PYPI].body + b"\0")  # changed, so downloaded again
    server.fail(PYPI, Status(500))
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"error: cannot download {server.url}{PYPI}: the server answered HTTP 500" in err
    assert "hint: " in err
    assert main(["db", "--db", str(tmp_path / "store.sqlite"), "status"]) == 0
    out = capsys.readouterr().out
    assert "failed" in out
    assert "osv-pypi: the last update failed at" in out
    with AdvisoryStore.open(tmp_path / "store.sqlite", read_only=True) as store:
        assert len(store.advisories_for("PyPI", "django")) == 1


def test_an_offline_update_points_at_db_import(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv = [
        "db",
        "update",
        "--source",
        "osv-go",
        "--mirror",
        f"osv=http://127.0.0.1:{port}/",
        "--retries",
        "0",
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "cannot connect" in err
    assert "use `stockade db import`" in err
    # The bundle installed on first use is still there, untouched.
    assert read_state(default_store(tmp_path))["osv-go"].origin == "bundle"
    assert read_state(default_store(tmp_path))["osv-go"].error is not None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--mirror", "osv"], "is not SOURCE=URL"),
        (["--mirror", "nosuch=https://m.example/"], "unknown feed 'nosuch'"),
        (["--source", "nosuch"], "unknown feed nosuch"),
        (["--retries", "-1"], "Invalid value"),
    ],
)
def test_update_usage_errors_exit_2(
    extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "update", *extra]) == 2
    out, err = capsys.readouterr()
    assert message in out + err


def test_db_help_lists_the_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "--help"]) == 0
    out = capsys.readouterr().out
    for command in ("update", "import", "status"):
        assert command in out
    assert main(["--help"]) == 0
    assert "db" in capsys.readouterr().out
