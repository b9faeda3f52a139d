"""``stockade db update`` against a real HTTP server on 127.0.0.1 serving real feed files.

The server (:class:`FeedServer`) speaks plain HTTP/1.0 from ``http.server``: ETag and
Last-Modified, conditional requests, ``Range``/``If-Range``, and faults on demand (an
error status, a connection dropped mid-body). The feeds are built from the real records
in ``tests/data/advisories``: OSV ``all.zip`` archives of the PyPI and Go records, the
Debian tracker JSON sample and Alpine's v3.15 secdb (the YAML samples as the JSON that
secdb.alpinelinux.org serves; the schema is the same).
"""

from __future__ import annotations

import base64
import dataclasses
import email.utils
import gzip
import hashlib
import io
import json
import logging
import re
import socket
import sqlite3
import threading
import urllib.parse
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockade.core.errors import UsageError
from stockade.vulndb import AdvisoryStore
from stockade.vulndb.update import (
    DownloadError,
    Feed,
    FeedIntegrityError,
    OfflineError,
    RetryPolicy,
    UpdateError,
    UpdateSettings,
    _content_range,
    _retry_after,
    _Transient,
    alpine_secdb_feed,
    debian_tracker_feed,
    default_feeds,
    describe_store,
    locate,
    osv_feed,
    parse_mirrors,
    read_state,
    redact_url,
    select_feeds,
    state_path,
    store_lock,
    update_store,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "advisories"
VUNNEL = DATA / "format-samples" / "vunnel" / "tests" / "unit" / "providers"

# --- the server ------------------------------------------------------------------------


@dataclass(frozen=True)
class Status:
    """Answer one request with this status and an empty body."""

    code: int
    retry_after: str | None = None


@dataclass(frozen=True)
class Drop:
    """Send the headers and ``after`` bytes of the body, then close the connection."""

    after: int


@dataclass
class Served:
    body: bytes
    etag: str
    last_modified: str


@dataclass(frozen=True)
class Seen:
    path: str
    headers: dict[str, str]
    status: int


@dataclass
class FeedServer:
    """Files served over HTTP on 127.0.0.1, with every request recorded."""

    ranges: bool = True
    gzipped: set[str] = field(default_factory=set)
    """Paths answered gzip-encoded whatever the client accepts (as some CDNs do)."""
    unprompted_206: set[str] = field(default_factory=set)
    """Paths answered 206 even to a request for the whole file (a broken server)."""
    files: dict[str, Served] = field(default_factory=dict)
    faults: dict[str, list[Status | Drop]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._version = 0
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def put(self, path: str, body: bytes) -> None:
        """Serve ``body`` at ``path`` with validators that change with the content."""
        self._version += 1
        self.files[path] = Served(
            body,
            etag=f'"{hashlib.sha256(body).hexdigest()[:16]}"',
            last_modified=email.utils.formatdate(1_790_000_000 + self._version, usegmt=True),
        )

    def fail(self, path: str, *faults: Status | Drop) -> None:
        self.faults.setdefault(path, []).extend(faults)

    def next_fault(self, path: str) -> Status | Drop | None:
        with self._lock:
            queue = self.faults.get(path)
            return queue.pop(0) if queue else None

    def record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    def requests_for(self, path: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.path == path]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


def _handler(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass  # quiet: the tests read FeedServer.seen instead

        def do_GET(self) -> None:
            path = urllib.parse.urlsplit(self.path).path
            headers = {k.lower(): v for k, v in self.headers.items()}
            fault = server.next_fault(path)
            if isinstance(fault, Status):
                extra = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                self._answer(path, headers, fault.code, b"", extra)
                return
            served = server.files.get(path)
            if served is None:
                self._answer(path, headers, 404, b"not found\n", {})
                return
            validators = {"ETag": served.etag, "Last-Modified": served.last_modified}
            if_none_match = headers.get("if-none-match")
            if (if_none_match and if_none_match == served.etag) or (
                not if_none_match and headers.get("if-modified-since") == served.last_modified
            ):
                self._answer(path, headers, 304, b"", validators)
                return
            if path in server.gzipped:
                validators["Content-Encoding"] = "gzip"
                self._answer(path, headers, 200, gzip.compress(served.body), validators)
                return
            if path in server.unprompted_206:
                validators["Content-Range"] = f"bytes 0-9/{len(served.body)}"
                self._answer(path, headers, 206, served.body[:10], validators)
                return
            status, start, body = 200, 0, served.body
            wanted = re.fullmatch(r"bytes=(\d+)-", headers.get("range", ""))
            if_range = headers.get("if-range")
            if (
                wanted
                and server.ranges
                and (if_range is None or if_range in (served.etag, served.last_modified))
            ):
                start = int(wanted.group(1))
                if start >= len(body):
                    self._answer(path, headers, 416, b"", {"Content-Range": f"bytes */{len(body)}"})
                    return
                status = 206
                validators["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
            self._answer(path, headers, status, body[start:], validators, fault=fault)

        def _answer(
            self,
            path: str,
            headers: dict[str, str],
            status: int,
            body: bytes,
            extra: dict[str, str],
            *,
            fault: Status | Drop | None = None,
        ) -> None:
            server.record(Seen(path, headers, status))
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            if status != 304:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if isinstance(fault, Drop):
                self.wfile.write(body[: fault.after])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if status != 304:
                self.wfile.write(body)

    return Handler


# --- real feed files -------------------------------------------------------------------


def osv_zip(directory: Path, *, leave_out: str = "") -> bytes:
    """An OSV ``all.zip``: one ``<id>.json`` per record (YAML records as JSON)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.suffix not in {".json", ".yaml"}:
                continue
            record = (
                yaml.safe_load(path.read_text())
                if path.suffix == ".yaml"
                else json.loads(path.read_text())
            )
            if record["id"] == leave_out:
                continue
            # PyYAML reads OSV's RFC 3339 times as datetimes; OSV's JSON spells them out.
            text = json.dumps(record, indent=2, default=lambda value: value.isoformat())
            archive.writestr(f"{record['id']}.json", text)
    return buffer.getvalue()


def secdb_json(path: Path) -> bytes:
    """Alpine's secdb JSON (the same schema as the YAML of the old git repository)."""
    return json.dumps(yaml.safe_load(path.read_text())).encode()


PYPI_ZIP = osv_zip(DATA / "osv-pypi")
GO_ZIP = osv_zip(DATA / "osv-go")
TRACKER = (VUNNEL / "debian/test-fixtures/input/debian.json").read_bytes()
ALPINE = VUNNEL / "alpine/test-fixtures/input/secdb/v3.15"

PYPI = "/osv/PyPI/all.zip"
GO = "/osv/Go/all.zip"
DEBIAN = "/debian/tracker.json"
ALPINE_MAIN = "/alpine/v3.15/main.json"
ALPINE_COMMUNITY = "/alpine/v3.15/community.json"

FEEDS = (osv_feed("PyPI"), osv_feed("Go"), debian_tracker_feed(), alpine_secdb_feed(["v3.15"]))
EXPECTED = {"osv-pypi": 5, "osv-go": 4, "debian-tracker": 6, "alpine-secdb": 16}
FAST = RetryPolicy(attempts=3, first_pause=0.01, max_pause=0.05)


def serve_feeds(server: FeedServer) -> FeedServer:
    server.put(PYPI, PYPI_ZIP)
    server.put(GO, GO_ZIP)
    server.put(DEBIAN, TRACKER)
    server.put(ALPINE_MAIN, secdb_json(ALPINE / "main.yaml"))
    server.put(ALPINE_COMMUNITY, secdb_json(ALPINE / "community.yaml"))
    return server


def mirrors_of(server: FeedServer) -> dict[str, str]:
    return {
        "osv": f"{server.url}/osv/",
        "debian-tracker": f"{server.url}{DEBIAN}",
        "alpine-secdb": f"{server.url}/alpine/",
    }


@pytest.fixture
def server() -> Iterator[FeedServer]:
    running = serve_feeds(FeedServer())
    yield running
    running.close()


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "store" / "vulndb.sqlite"


def run_update(
    server: FeedServer, store_path: Path, *, retry: RetryPolicy = FAST, **extra: object
) -> object:
    settings = UpdateSettings(
        cache_dir=store_path.parent.parent / "cache",
        mirrors=mirrors_of(server),
        retry=retry,
        timeout=5,
    )
    return update_store(store_path, settings=settings, feeds=FEEDS, **extra)  # type: ignore[arg-type]


def counts(store_path: Path) -> dict[str, int]:
    with AdvisoryStore.open(store_path, read_only=True) as store:
        return {status.source: status.advisories for status in store.status()}


def leftovers(store_path: Path) -> list[str]:
    """Files beside the store other than the store (with SQLite's own), its lock and its
    state: a staged store an update failed to remove, say."""
    expected = {"", "-wal", "-shm", ".lock", ".state.json"}
    return sorted(
        p.name
        for p in store_path.parent.iterdir()
        if p.name.removeprefix(store_path.name) not in expected
    )


def downloads(server: FeedServer, path: str) -> list[Seen]:
    """Requests for ``path`` answered with a body (200 or 206)."""
    return [s for s in server.requests_for(path) if s.status in (200, 206)]


# --- feeds, mirrors, URLs (no server) --------------------------------------------------


def test_the_feeds_point_at_the_real_upstream_urls() -> None:
    urls = {feed.name: [loc.url for loc in locate(feed, {})] for feed in default_feeds()}
    assert urls["osv-pypi"] == ["https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip"]
    assert urls["osv-crates.io"] == [
        "https://osv-vulnerabilities.storage.googleapis.com/crates.io/all.zip"
    ]
    assert urls["debian-tracker"] == ["https://security-tracker.debian.org/tracker/data/json"]
    assert "https://secdb.alpinelinux.org/v3.20/main.json" in urls["alpine-secdb"]
    assert "https://secdb.alpinelinux.org/v3.20/community.json" in urls["alpine-secdb"]
    assert {f"osv-{e.lower()}" for e in ("npm", "Go", "Maven", "NuGet", "Debian")} <= set(urls)
    assert not any(loc.mirrored for feed in default_feeds() for loc in locate(feed, {}))


def test_a_mirror_replaces_a_family_a_feed_or_one_file() -> None:
    pypi, tracker, alpine = osv_feed("PyPI"), debian_tracker_feed(), alpine_secdb_feed(["v3.19"])
    family = locate(pypi, {"osv": "https://m.example/osv"})
    assert [(loc.url, loc.mirrored) for loc in family] == [
        ("https://m.example/osv/PyPI/all.zip", True)
    ]
    own = locate(pypi, {"osv": "https://m.example/osv/", "osv-pypi": "https://p.example/x.zip"})
    assert [loc.url for loc in own] == ["https://p.example/x.zip"]
    assert [loc.url for loc in locate(tracker, {"debian-tracker": "https://d.example/t/"})] == [
        "https://d.example/t/json"
    ]
    assert [loc.url for loc in locate(alpine, {"alpine-secdb": "https://a.example/"})] == [
        "https://a.example/v3.19/main.json",
        "https://a.example/v3.19/community.json",
    ]
    with pytest.raises(UsageError, match="must be a directory"):
        locate(alpine, {"alpine-secdb": "https://a.example/secdb.json"})


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("osv", "is not SOURCE=URL"),
        ("=https://m.example/", "is not SOURCE=URL"),
        ("nosuch=https://m.example/", "unknown feed"),
        ("osv=ftp://m.example/", "not an http"),
        ("osv=/srv/mirror", "not an http"),
    ],
)
def test_bad_mirrors_are_usage_errors(entry: str, message: str) -> None:
    names = {f.name for f in default_feeds()} | {"osv"}
    with pytest.raises(UsageError, match=message) as caught:
        parse_mirrors([entry], known=names)
    assert caught.value.hint


def test_mirror_entries_and_feed_selection() -> None:
    mirrors = parse_mirrors(["osv=https://a.example/", "osv=https://b.example/"])
    assert mirrors == {"osv": "https://b.example/"}
    assert [f.name for f in select_feeds(default_feeds(), ["debian-tracker"])] == ["debian-tracker"]
    assert len(select_feeds(default_feeds(), ["osv"])) == 10
    with pytest.raises(UsageError, match="unknown feed nosuch"):
        select_feeds(default_feeds(), ["nosuch"])


def test_urls_are_shown_without_credentials() -> None:
    shown = redact_url("https://alice:s3cret@mirror.example:8443/osv/all.zip?sig=tok3n&x")
    assert shown == "https://***@mirror.example:8443/osv/all.zip?sig=***&x"
    assert redact_url("https://osv.example/PyPI/all.zip") == "https://osv.example/PyPI/all.zip"


def test_pauses_grow_and_respect_retry_after_within_a_cap() -> None:
    policy = RetryPolicy(attempts=5, first_pause=1, max_pause=10)
    assert [policy.pause(n) for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 8, 10]
    assert policy.pause(1, retry_after=7) == 7
    assert policy.pause(1, retry_after=3600) == 10


# --- updates ---------------------------------------------------------------------------


def test_a_full_update_fills_a_new_store(server: FeedServer, store_path: Path) -> None:
    lines: list[str] = []
    result = run_update(server, store_path, report=lines.append)
    assert counts(store_path) == EXPECTED
    assert all(feed.imported for feed in result.feeds)  # type: ignore[attr-defined]
    with AdvisoryStore.open(store_path, read_only=True) as store:
        assert [a.id for a in store.advisories_for("PyPI", "Django")] == ["PYSEC-2012-7"]
        assert store.advisories_for("Go", "golang.org/x/net")
        assert [a.id for a in store.advisories_for("Debian", "sope")] == ["CVE-2025-53603"]
        assert store.advisories_for("Alpine:v3.15", "xz")
    state = read_state(store_path)
    assert {name: entry.origin for name, entry in state.items()} == dict.fromkeys(
        EXPECTED, "update"
    )
    assert state["osv-pypi"].files["all.zip"].sha256 == hashlib.sha256(PYPI_ZIP).hexdigest()
    assert state["osv-pypi"].location == f"{server.url}{PYPI}"
    assert state["alpine-secdb"].location == f"{server.url}/alpine/"
    assert state["osv-pypi"].error is None
    assert any("osv-pypi: downloaded" in line for line in lines)
    # Each mirror file was offered a checksum look-up; none is published here.
    assert [s.status for s in server.requests_for(PYPI + ".sha256")] == [404]
    assert leftovers(store_path) == []


def test_a_second_update_downloads_nothing(server: FeedServer, store_path: Path) -> None:
    run_update(server, store_path)
    before = store_path.stat().st_mtime_ns
    lines: list[str] = []
    result = run_update(server, store_path, report=lines.append)
    assert not result.changed  # type: ignore[attr-defined]
    assert all(feed.downloaded == 0 for feed in result.feeds)  # type: ignore[attr-defined]
    for path in (PYPI, GO, DEBIAN, ALPINE_MAIN, ALPINE_COMMUNITY):
        first, second = server.requests_for(path)
        assert first.status == 200
        assert second.status == 304
        assert second.headers["if-none-match"] == server.files[path].etag
        assert second.headers["if-modified-since"] == server.files[path].last_modified
    assert store_path.stat().st_mtime_ns == before
    assert "osv-pypi: unchanged since the last download" in lines
    assert read_state(store_path)["osv-pypi"].checked is not None


def test_a_changed_feed_replaces_its_old_advisories(server: FeedServer, store_path: Path) -> None:
    run_update(server, store_path)
    server.put(PYPI, osv_zip(DATA / "osv-pypi", leave_out="PYSEC-2012-7"))
    result = run_update(server, store_path)
    imported = {f.name for f in result.feeds if f.imported}  # type: ignore[attr-defined]
    assert imported == {"osv-pypi"}
    assert counts(store_path) == {**EXPECTED, "osv-pypi": 4}
    with AdvisoryStore.open(store_path, read_only=True) as store:
        assert store.advisories_for("PyPI", "django") == []


def test_a_dropped_connection_is_resumed_with_range(server: FeedServer, store_path: Path) -> None:
    half = len(GO_ZIP) // 2
    server.fail(GO, Drop(after=half))
    run_update(server, store_path)
    first, second = downloads(server, GO)
    assert first.status == 200
    assert second.status == 206
    assert second.headers["range"] == f"bytes={half}-"
    assert second.headers["if-range"] == server.files[GO].etag
    assert counts(store_path)["osv-go"] == EXPECTED["osv-go"]


def test_a_download_cut_in_one_update_resumes_in_the_next(
    server: FeedServer, store_path: Path
) -> None:
    run_update(server, store_path)
    server.put(GO, osv_zip(DATA / "osv-go", leave_out="GO-2020-0001"))
    cut = len(server.files[GO].body) // 3
    server.fail(GO, Drop(after=cut))
    with pytest.raises(DownloadError, match="connection failed") as caught:
        run_update(server, store_path, retry=RetryPolicy(attempts=1))
    assert "tried 1 times" in caught.value.message
    # The old store is intact and says what went wrong.
    assert counts(store_path) == EXPECTED
    assert read_state(store_path)["osv-go"].error == caught.value.message
    assert [p.name for p in (store_path.parent.parent / "cache/osv-go").glob(".*.part")] == [
        ".all.zip.part"
    ]
    run_update(server, store_path)
    resumed = downloads(server, GO)[-1]
    assert resumed.status == 206
    assert resumed.headers["range"] == f"bytes={cut}-"
    assert counts(store_path)["osv-go"] == EXPECTED["osv-go"] - 1
    assert read_state(store_path)["osv-go"].error is None


def test_a_server_without_ranges_sends_the_whole_file_again(store_path: Path) -> None:
    server = serve_feeds(FeedServer(ranges=False))
    try:
        server.fail(PYPI, Drop(after=100))
        run_update(server, store_path)
        assert [s.status for s in downloads(server, PYPI)] == [200, 200]
        assert "range" in downloads(server, PYPI)[1].headers
        assert counts(store_path) == EXPECTED
    finally:
        server.close()


def test_a_changed_file_is_not_resumed_onto_an_old_part(
    server: FeedServer, store_path: Path
) -> None:
    server.fail(PYPI, Drop(after=200))
    with pytest.raises(DownloadError):
        run_update(server, store_path, retry=RetryPolicy(attempts=1))
    server.put(PYPI, osv_zip(DATA / "osv-pypi", leave_out="PYSEC-2020-176"))
    run_update(server, store_path)
    last = downloads(server, PYPI)[-1]
    assert last.headers["if-range"] != server.files[PYPI].etag
    assert last.status == 200  # If-Range failed: the whole new file
    assert counts(store_path)["osv-pypi"] == 4


def test_a_body_compressed_against_our_wish_is_decoded(
    server: FeedServer, store_path: Path
) -> None:
    server.gzipped.add(DEBIAN)
    run_update(server, store_path)
    assert downloads(server, DEBIAN)[0].headers["accept-encoding"] == "identity"
    cached = store_path.parent.parent / "cache/debian-tracker/tracker.json"
    assert cached.read_bytes() == TRACKER
    assert counts(store_path) == EXPECTED


def test_a_partial_answer_to_a_whole_request_is_refused(
    server: FeedServer, store_path: Path
) -> None:
    server.unprompted_206.add(GO)
    with pytest.raises(DownloadError, match="a partial answer"):
        run_update(server, store_path)
    assert not store_path.exists()


def test_an_unwritable_cache_is_an_update_error(server: FeedServer, store_path: Path) -> None:
    store_path.parent.parent.joinpath("cache").mkdir(parents=True)
    store_path.parent.parent.joinpath("cache", "osv-pypi").write_text("a file, not a directory")
    with pytest.raises(UpdateError, match="cannot write the download cache") as caught:
        run_update(server, store_path)
    assert caught.value.hint


def test_5xx_answers_are_retried_until_the_server_recovers(
    server: FeedServer, store_path: Path
) -> None:
    server.fail(DEBIAN, Status(500), Status(503, retry_after="0"))
    run_update(server, store_path)
    assert [s.status for s in server.requests_for(DEBIAN)] == [500, 503, 200]
    assert counts(store_path) == EXPECTED


def test_a_server_that_keeps_failing_fails_the_update(server: FeedServer, store_path: Path) -> None:
    run_update(server, store_path)
    server.put(DEBIAN, TRACKER + b" ")
    server.fail(DEBIAN, *[Status(502)] * 3)
    with pytest.raises(DownloadError, match=r"HTTP 502 \(tried 3 times\)") as caught:
        run_update(server, store_path)
    assert caught.value.hint
    assert counts(store_path) == EXPECTED
    reports = {r.name: r for r in describe_store(store_path)}
    assert reports["debian-tracker"].error == caught.value.message
    assert reports["debian-tracker"].failed is not None
    assert reports["debian-tracker"].advisories == EXPECTED["debian-tracker"]


def test_a_damaged_zip_fails_the_update_and_keeps_the_old_store(
    server: FeedServer, store_path: Path
) -> None:
    run_update(server, store_path)
    damaged = bytearray(osv_zip(DATA / "osv-pypi", leave_out="PYSEC-2012-7"))
    damaged[60:80] = bytes(20)  # inside the first member's compressed data
    server.put(PYPI, bytes(damaged))
    with pytest.raises(FeedIntegrityError, match=r"damaged|not a readable zip"):
        run_update(server, store_path)
    assert counts(store_path) == EXPECTED
    with AdvisoryStore.open(store_path, read_only=True) as store:
        assert [a.id for a in store.advisories_for("PyPI", "django")] == ["PYSEC-2012-7"]
    assert read_state(store_path)["osv-pypi"].error is not None
    # The damaged download is not kept to be resumed or imported later.
    cache = store_path.parent.parent / "cache/osv-pypi"
    assert not list(cache.glob(".*.part"))
    assert (cache / "all.zip").read_bytes() == PYPI_ZIP


def test_truncated_json_fails_the_update_and_keeps_the_old_store(
    server: FeedServer, store_path: Path
) -> None:
    run_update(server, store_path)
    server.put(DEBIAN, TRACKER[: len(TRACKER) // 2])
    with pytest.raises(FeedIntegrityError, match="not a valid JSON document"):
        run_update(server, store_path)
    assert counts(store_path) == EXPECTED
    assert leftovers(store_path) == []


def test_a_mirror_is_used_instead_of_upstream(store_path: Path) -> None:
    upstream = serve_feeds(FeedServer())
    mirror = serve_feeds(FeedServer())
    try:
        feeds = tuple(
            dataclasses.replace(osv_feed(e), url=f"{upstream.url}/osv/{e}/") for e in ("PyPI", "Go")
        )
        settings = UpdateSettings(
            cache_dir=store_path.parent / "cache",
            mirrors={"osv": f"{mirror.url}/osv/"},
            retry=FAST,
        )
        update_store(store_path, settings=settings, feeds=feeds)
        assert upstream.seen == []
        assert [s.status for s in downloads(mirror, PYPI)] == [200]
        assert counts(store_path) == {"osv-pypi": 5, "osv-go": 4}
        # Without the mirror, upstream is asked. Validators of one server mean nothing to
        # another, so the file is fetched whole; its content is what the store holds, so
        # nothing is imported.
        result = update_store(
            store_path, settings=dataclasses.replace(settings, mirrors={}), feeds=feeds
        )
        assert [s.status for s in upstream.requests_for(PYPI)] == [200]
        assert "if-none-match" not in upstream.requests_for(PYPI)[0].headers
        assert not result.changed
        assert upstream.requests_for(PYPI + ".sha256") == []  # upstream publishes none
    finally:
        upstream.close()
        mirror.close()


def test_a_published_sha256_is_checked(server: FeedServer, store_path: Path) -> None:
    server.put(PYPI + ".sha256", f"{hashlib.sha256(PYPI_ZIP).hexdigest()}  all.zip\n".encode())
    server.put(GO + ".sha256", ("0" * 64 + "\n").encode())
    with pytest.raises(FeedIntegrityError, match="does not match its published sha256"):
        run_update(server, store_path)
    assert not store_path.exists()
    assert read_state(store_path)["osv-go"].error is not None
    server.put(GO + ".sha256", hashlib.sha256(GO_ZIP).hexdigest().encode())
    run_update(server, store_path)
    assert counts(store_path) == EXPECTED


def test_an_unreachable_server_is_reported_as_offline(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    pauses: list[float] = []
    from stockade.vulndb.update import Downloader

    settings = UpdateSettings(
        cache_dir=tmp_path / "cache", mirrors={"osv": f"http://127.0.0.1:{port}/"}
    )
    with (
        Downloader(retry=RetryPolicy(attempts=3, first_pause=0.5), sleep=pauses.append) as dl,
        pytest.raises(OfflineError, match="cannot connect") as caught,
    ):
        update_store(tmp_path / "vulndb.sqlite", settings=settings, feeds=FEEDS[:1], downloader=dl)
    assert pauses == [0.5, 1.0]
    assert "stockade db import" in (caught.value.hint or "")


def test_credentials_in_a_mirror_url_are_sent_but_never_shown(
    server: FeedServer, store_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret_url = server.url.replace("http://", "http://mirror-user:t0psecret@")
    settings = UpdateSettings(
        cache_dir=store_path.parent / "cache",
        mirrors={"osv": f"{secret_url}/osv/?token=s1gnature"},
        retry=FAST,
    )
    server.fail(PYPI, Status(503))
    lines: list[str] = []
    update_store(store_path, settings=settings, feeds=FEEDS[:1], report=lines.append)
    sent = server.requests_for(PYPI)[0].headers["authorization"]
    assert base64.b64decode(sent.split()[1]) == b"mirror-user:t0psecret"
    shown = "\n".join(
        [*lines, caplog.text, store_path.with_name("vulndb.sqlite.state.json").read_text()]
    )
    for cache_note in (store_path.parent / "cache").rglob(".*.json"):
        shown += cache_note.read_text()
    assert "t0psecret" not in shown
    assert "s1gnature" not in shown
    assert "mirror-user" not in shown
    assert "***@127.0.0.1" in shown


def test_an_interrupted_import_leaves_the_old_store(server: FeedServer, store_path: Path) -> None:
    run_update(server, store_path)
    server.put(PYPI, osv_zip(DATA / "osv-pypi", leave_out="PYSEC-2012-7"))
    server.put(GO, osv_zip(DATA / "osv-go", leave_out="GO-2020-0001"))

    def interrupt(line: str) -> None:
        if line == "osv-go: importing":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_update(server, store_path, report=interrupt)
    assert counts(store_path) == EXPECTED
    assert leftovers(store_path) == []
    # Both feeds are in the cache now; the next update imports them without downloading.
    result = run_update(server, store_path)
    assert {f.name: f.downloaded for f in result.feeds if f.imported} == {  # type: ignore[attr-defined]
        "osv-pypi": 0,
        "osv-go": 0,
    }
    assert counts(store_path) == {**EXPECTED, "osv-pypi": 4, "osv-go": 3}


def test_a_reader_keeps_its_snapshot_while_the_update_swaps_in(
    server: FeedServer, store_path: Path
) -> None:
    run_update(server, store_path)
    reader = sqlite3.connect(f"{store_path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        reader.execute("BEGIN")
        before = reader.execute("SELECT count(*) FROM advisories").fetchone()[0]
        server.put(PYPI, osv_zip(DATA / "osv-pypi", leave_out="PYSEC-2012-7"))
        run_update(server, store_path)
        assert reader.execute("SELECT count(*) FROM advisories").fetchone()[0] == before
        reader.execute("COMMIT")
        assert reader.execute("SELECT count(*) FROM advisories").fetchone()[0] == before - 1
    finally:
        reader.close()
    check = sqlite3.connect(store_path)
    try:
        assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        check.close()


def test_an_update_in_progress_blocks_another(server: FeedServer, store_path: Path) -> None:
    with store_lock(store_path, wait=False), pytest.raises(UpdateError, match="another process"):
        run_update(server, store_path)


def test_a_release_dropped_from_the_list_leaves_the_cache(
    server: FeedServer, store_path: Path
) -> None:
    server.put("/alpine/v3.14/main.json", secdb_json(ALPINE / "main.yaml"))
    server.put("/alpine/v3.14/community.json", secdb_json(ALPINE / "community.yaml"))
    feeds: tuple[Feed, ...] = (alpine_secdb_feed(["v3.14", "v3.15"]),)
    settings = UpdateSettings(
        cache_dir=store_path.parent / "cache", mirrors=mirrors_of(server), retry=FAST
    )
    update_store(store_path, settings=settings, feeds=feeds)
    cache = store_path.parent / "cache" / "alpine-secdb"
    assert (cache / "v3.14" / "main.json").exists()
    update_store(store_path, settings=settings, feeds=(alpine_secdb_feed(["v3.15"]),))
    assert not (cache / "v3.14" / "main.json").exists()
    assert not list((cache / "v3.14").glob(".*"))


# --- hostile answers: only the declared errors escape ----------------------------------

_HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80)


@given(value=_HEADER_TEXT)
def test_any_retry_after_gives_a_pause_or_none(value: str) -> None:
    pause = _retry_after(httpx.Response(503, headers={"retry-after": value}))
    assert pause is None or pause >= 0


@given(value=_HEADER_TEXT)
def test_any_content_range_is_read_or_refused(value: str) -> None:
    try:
        start, total = _content_range(httpx.Response(206, headers={"content-range": value}))
    except _Transient:
        return
    assert start >= 0
    assert total is None or total >= 0


@given(content=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=50)
def test_any_state_file_is_read_or_ignored(tmp_path: Path, content: bytes) -> None:
    store = tmp_path / "vulndb.sqlite"
    state_path(store).write_bytes(content)
    assert isinstance(read_state(store), dict)


@pytest.mark.parametrize(
    "document",
    [
        {"version": 1, "sources": {"x": {"origin": "elsewhere", "location": "?"}}},
        {"version": 1, "sources": {"x": {"origin": "update"}}},
        {"version": 1, "sources": {"x": {"origin": "update", "location": "u", "files": 3}}},
        {"version": 1, "sources": []},
        {"version": 2, "sources": {}},
        [],
    ],
)
def test_a_malformed_state_is_ignored(tmp_path: Path, document: object) -> None:
    store = tmp_path / "vulndb.sqlite"
    state_path(store).write_text(json.dumps(document))
    assert read_state(store) == {}


def test_a_checksum_file_that_holds_no_digest_fails_the_update(
    server: FeedServer, store_path: Path
) -> None:
    server.put(PYPI + ".sha256", b"<html>not found</html>")
    with pytest.raises(FeedIntegrityError, match="does not hold a sha256 digest"):
        run_update(server, store_path)
    assert not store_path.exists()
