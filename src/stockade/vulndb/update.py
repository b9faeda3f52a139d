"""``stockade db update``: download the advisory feeds and swap them into the store at once.

The feeds (:func:`default_feeds`) are OSV's per-ecosystem ``all.zip`` archives, the
Debian security tracker's JSON and Alpine's secdb, each from its upstream URL or from a
mirror (:func:`parse_mirrors`). An update runs in three steps:

1. **Download** every file of every selected feed into a cache directory. A file already
   in the cache is asked for conditionally (``If-None-Match``/``If-Modified-Since``), so
   an unchanged feed costs one ``304``. A download cut short is kept as a ``.part`` file
   and continued with ``Range``/``If-Range``, in the same run (after a pause) or the next.
   Answers of ``429``/``5xx``, refused connections, dropped connections and timeouts are
   retried with growing pauses. A finished file is checked before it replaces the cached
   one: its length against ``Content-Length``, its sha256 against ``<url>.sha256`` where
   a mirror publishes one, and its content (every member of a zip read and CRC-checked;
   JSON parsed).
2. **Build** a new store file beside the store: a snapshot of the current store, with
   each feed whose files changed imported over its old data
   (:func:`~stockade.vulndb.importing.import_path` with ``replace_source``).
3. **Swap** the new data in, as one SQLite transaction (the online backup API), or by a
   rename when there was no store yet.

Anything failing before the swap leaves the store exactly as it was, and scans keep
using it. The outcome for each feed (validators, time, error) is kept in a state file
beside the store (:func:`read_state`), which ``stockade db status`` shows.

Why a backup and not a rename over the old file: the store runs in WAL mode, and SQLite
pairs a database file with its ``-wal``/``-shm`` files by name. A scan that has the old
file open keeps those files alive; a connection opening the renamed-in file would pair it
with the old store's WAL and corrupt what it reads. The backup API writes the new pages
inside one write transaction, which readers see all at once or not at all.

Credentials in a mirror URL (``https://user:token@mirror/…`` or a signed query string)
are used for the requests and never appear in messages, logs or the state file
(:func:`redact_url`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import hashlib
import json
import logging
import os
import re
import sqlite3
import sys
import tempfile
import time
import urllib.parse
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import httpx
import platformdirs

from stockade import __version__
from stockade.core.errors import UsageError
from stockade.vulndb.errors import VulnDBError
from stockade.vulndb.importing import ImportSummary, import_path
from stockade.vulndb.store import AdvisoryStore, default_path

_log = logging.getLogger("stockade.vulndb.update")

_MiB: Final = 1024 * 1024
_CHUNK: Final = _MiB
_USER_AGENT: Final = f"stockade/{__version__} (+vulnerability feed update)"

OSV_URL: Final = "https://osv-vulnerabilities.storage.googleapis.com/"
DEBIAN_TRACKER_URL: Final = "https://security-tracker.debian.org/tracker/data/"
ALPINE_SECDB_URL: Final = "https://secdb.alpinelinux.org/"

OSV_ECOSYSTEMS: Final = (
    "PyPI",
    "npm",
    "Go",
    "crates.io",
    "Maven",
    "RubyGems",
    "Packagist",
    "NuGet",
    "Debian",
    "Alpine",
)
"""OSV ecosystems whose ``all.zip`` an update downloads by default: those Stockade's
catalogers find packages for."""

ALPINE_RELEASES: Final = tuple(f"v3.{minor}" for minor in range(12, 24))
"""Alpine releases whose secdb files an update downloads (v3.12 to v3.23): a release is
published in secdb from its first day, and images of old releases are still scanned."""

ALPINE_REPOSITORIES: Final = ("main", "community")

SUPERSEDED_BY: Final[Mapping[str, frozenset[str]]] = {
    "debian-changelog": frozenset({"debian-tracker"}),
    "osv-ghsa": frozenset({"osv-maven", "osv-npm"}),
}
"""Sources of the offline bundle that an update makes redundant: once the store holds
every feed named here, the bundled source (still as the bundle left it) is removed, so
a finding is not reported twice from old and new data."""

STATE_VERSION: Final = 1
MIRRORS_VARIABLE: Final = "STOCKADE_DB_MIRRORS"


# --- errors -----------------------------------------------------------------------------


class UpdateError(VulnDBError):
    """An update could not finish; the store is left as it was."""


class DownloadError(UpdateError):
    """A feed file could not be downloaded."""


class OfflineError(DownloadError):
    """A feed's server could not be reached at all."""


class FeedIntegrityError(UpdateError):
    """A downloaded file is damaged: wrong length, wrong checksum, unreadable content."""


_OFFLINE_HINT: Final = (
    "check the network and proxy settings (HTTPS_PROXY), or point --mirror at a reachable "
    "mirror; for air-gapped sites, copy the feed files over and use `stockade db import`"
)


# --- feeds ------------------------------------------------------------------------------


FileKind = Literal["zip", "json"]


@dataclass(frozen=True, slots=True)
class FeedFile:
    """One file of a feed."""

    path: str
    """Where the file is below the feed's URL: ``all.zip``, ``v3.20/main.json``."""
    cache_name: str
    """Where the file is kept below the feed's cache directory; its name ends in the
    suffix the importer recognises (the tracker's URL ends in ``json``, no dot)."""
    kind: FileKind


@dataclass(frozen=True, slots=True)
class Feed:
    """One advisory feed: a source in the store, filled from one or more files."""

    name: str
    """The store's source name: ``osv-pypi``, ``debian-tracker``, ``alpine-secdb``."""
    family: str
    """The mirror key that covers a group of feeds (``osv`` for every OSV ecosystem);
    the feed's own name is the family for a feed alone in its group."""
    url: str
    """The upstream URL the files' paths are relative to; ends in ``/``."""
    family_path: str
    """The feed's place below its family's URL (``PyPI/`` for OSV's PyPI feed)."""
    files: tuple[FeedFile, ...]
    description: str


def osv_feed(ecosystem: str) -> Feed:
    """The OSV feed of one ecosystem (``PyPI`` → source ``osv-pypi``)."""
    quoted = urllib.parse.quote(ecosystem, safe="")
    return Feed(
        name=f"osv-{ecosystem.lower().replace(' ', '-')}",
        family="osv",
        url=f"{OSV_URL}{quoted}/",
        family_path=f"{quoted}/",
        files=(FeedFile("all.zip", "all.zip", "zip"),),
        description=f"OSV, {ecosystem} ecosystem",
    )


def debian_tracker_feed() -> Feed:
    return Feed(
        name="debian-tracker",
        family="debian-tracker",
        url=DEBIAN_TRACKER_URL,
        family_path="",
        files=(FeedFile("json", "tracker.json", "json"),),
        description="Debian security tracker",
    )


def alpine_secdb_feed(releases: Sequence[str] = ALPINE_RELEASES) -> Feed:
    files = tuple(
        FeedFile(f"{release}/{repository}.json", f"{release}/{repository}.json", "json")
        for release in releases
        for repository in ALPINE_REPOSITORIES
    )
    return Feed(
        name="alpine-secdb",
        family="alpine-secdb",
        url=ALPINE_SECDB_URL,
        family_path="",
        files=files,
        description="Alpine secdb, " + ", ".join(releases),
    )


def default_feeds(*, alpine_releases: Sequence[str] = ALPINE_RELEASES) -> tuple[Feed, ...]:
    """Every feed ``stockade db update`` knows, in the order it downloads them."""
    return (
        *(osv_feed(ecosystem) for ecosystem in OSV_ECOSYSTEMS),
        debian_tracker_feed(),
        alpine_secdb_feed(alpine_releases),
    )


def select_feeds(feeds: Sequence[Feed], names: Iterable[str] | None) -> tuple[Feed, ...]:
    """The feeds named (by source name or family, ``osv`` for all of OSV's); every feed
    when ``names`` is None or empty. Raises :class:`UsageError` for an unknown name."""
    wanted = [name.strip() for name in names or () if name.strip()]
    if not wanted:
        return tuple(feeds)
    known = {feed.name for feed in feeds} | {feed.family for feed in feeds}
    unknown = sorted(set(wanted) - known)
    if unknown:
        raise UsageError(
            f"unknown feed {', '.join(unknown)}",
            hint=f"the feeds are: {', '.join(sorted(known))}",
        )
    chosen = set(wanted)
    return tuple(feed for feed in feeds if feed.name in chosen or feed.family in chosen)


# --- mirrors and URLs -------------------------------------------------------------------


def parse_mirrors(entries: Iterable[str], *, known: Iterable[str] = ()) -> dict[str, str]:
    """``SOURCE=URL`` entries (from ``--mirror`` or :data:`MIRRORS_VARIABLE`) as a mapping.

    ``SOURCE`` is a feed's name or family (``osv`` covers every OSV feed). A URL whose
    path ends in ``/`` is a directory laid out like upstream (a query string is kept on
    every file's URL); any other URL is the file itself, for a feed of one file. Later
    entries win. Raises :class:`UsageError`.
    """
    names = set(known)
    mirrors: dict[str, str] = {}
    for entry in entries:
        source, sep, url = entry.strip().partition("=")
        source, url = source.strip(), url.strip()
        if not sep or not source or not url:
            raise UsageError(
                f"mirror {redact_url(entry.strip())!r} is not SOURCE=URL",
                hint="for example --mirror osv=https://mirror.example/osv/",
            )
        if names and source not in names:
            raise UsageError(
                f"unknown feed {source!r} in a mirror",
                hint=f"the feeds are: {', '.join(sorted(names))}",
            )
        scheme = urllib.parse.urlsplit(url).scheme.lower()
        if scheme not in {"http", "https"} or not urllib.parse.urlsplit(url).hostname:
            raise UsageError(
                f"mirror for {source}: {redact_url(url)!r} is not an http(s) URL",
                hint="for files on disk, use `stockade db import PATH`",
            )
        mirrors[source] = url
    return mirrors


def mirrors_from_environment(environ: Mapping[str, str] | None = None) -> list[str]:
    """The ``SOURCE=URL`` entries of :data:`MIRRORS_VARIABLE`, separated by white space."""
    value = (environ if environ is not None else os.environ).get(MIRRORS_VARIABLE, "")
    return value.split()


@dataclass(frozen=True, slots=True)
class FileLocation:
    """Where one feed file is fetched from."""

    file: FeedFile
    url: str
    mirrored: bool
    base: str
    """The directory URL the file's path was joined to (the file's URL for a mirror
    that names the file itself)."""


def locate(feed: Feed, mirrors: Mapping[str, str]) -> tuple[FileLocation, ...]:
    """The URL of each of ``feed``'s files, a mirror's when one covers the feed."""
    own = mirrors.get(feed.name)
    family = mirrors.get(feed.family) if feed.family != feed.name else None
    if own is not None and not _is_directory(own):
        if len(feed.files) != 1:
            raise UsageError(
                f"the mirror for {feed.name} must be a directory (end in /): "
                f"the feed has {len(feed.files)} files",
                hint=f"for example --mirror {feed.name}=https://mirror.example/{feed.name}/",
            )
        return (FileLocation(feed.files[0], own, mirrored=True, base=own),)
    if own is not None:
        base, mirrored = own, True
    elif family is not None:
        base, mirrored = _join(_as_directory(family), feed.family_path), True
    else:
        base, mirrored = feed.url, False
    return tuple(FileLocation(file, _join(base, file.path), mirrored, base) for file in feed.files)


def _is_directory(url: str) -> bool:
    return urllib.parse.urlsplit(url).path.endswith("/")


def _as_directory(url: str) -> str:
    return url if _is_directory(url) else _join(url, "/")


def _join(base: str, path: str) -> str:
    """``path`` appended to ``base``'s path; a query string (a token some mirrors take)
    stays at the end."""
    parts = urllib.parse.urlsplit(base)
    joined = parts.path + path if path != "/" else parts.path + "/"
    return urllib.parse.urlunsplit(parts._replace(path=joined))


def redact_url(url: str) -> str:
    """``url`` fit for a message or a log: user and password, and the values of the
    query string (signed URLs carry tokens there), replaced by ``***``."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<an unreadable URL>"
    if ":" in host:
        host = f"[{host}]"
    netloc = ("***@" if "@" in parts.netloc else "") + host + (f":{port}" if port else "")
    query = "&".join(
        f"{key}=***" if sep else key
        for key, sep, _ in (item.partition("=") for item in parts.query.split("&") if item)
    )
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _url_id(url: str) -> str:
    """Stands for the URL (with its secrets) in the cache's notes without spelling it."""
    return hashlib.sha256(url.encode()).hexdigest()


def _scrub(text: str, url: str) -> str:
    """``text`` with anything secret in ``url`` replaced (library messages may quote it)."""
    parts = urllib.parse.urlsplit(url)
    secrets = [url, parts.query, parts.password or "", parts.username or ""]
    for secret in sorted((s for s in secrets if len(s) > 2), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


class _RedactedRequestLog(logging.Filter):
    """httpx logs every request's URL at INFO, credentials and query string included;
    on httpx's logger, this rewrites those URLs as :func:`redact_url` does."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_url(str(arg)) if isinstance(arg, httpx.URL) else arg for arg in record.args
            )
        return True


def _redact_httpx_log() -> None:
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, _RedactedRequestLog) for f in logger.filters):
        logger.addFilter(_RedactedRequestLog())


# --- the state file ---------------------------------------------------------------------


Origin = Literal["update", "import", "bundle"]


@dataclass(frozen=True, slots=True)
class FileState:
    """What was known of one feed file when it was last imported into the store."""

    url: str
    """Redacted."""
    size: int
    sha256: str
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class SourceState:
    """Where a source's data came from and how its last update went."""

    origin: Origin
    location: str
    """A redacted URL (update), a path (import) or the bundle's snapshot."""
    updated: dt.datetime | None = None
    """When this origin last changed the store's data for the source."""
    checked: dt.datetime | None = None
    """When an update last found the feed (changed or not) without an error."""
    error: str | None = None
    """Why the last update of this feed failed; None after a success."""
    failed: dt.datetime | None = None
    files: Mapping[str, FileState] = field(default_factory=dict)
    snapshot: Mapping[str, str] = field(default_factory=dict)
    """For bundled data: the repository, commit and date it was taken from."""


def state_path(store_path: Path) -> Path:
    """The state file of the store at ``store_path``: beside it, named after it."""
    return store_path.with_name(store_path.name + ".state.json")


def read_state(store_path: Path) -> dict[str, SourceState]:
    """Per-source state of a store; empty when there is none or it cannot be read (the
    state only says where data came from, so it is rebuilt by the next update)."""
    location = state_path(store_path)
    try:
        document = json.loads(location.read_text(encoding="utf-8"))
        sources = document["sources"] if document.get("version") == STATE_VERSION else {}
        return {str(name): _source_state(entry) for name, entry in sources.items()}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        _log.warning("ignoring the unreadable update state %s: %s", location, exc)
        return {}


def _source_state(entry: Mapping[str, Any]) -> SourceState:
    origin = entry["origin"]
    if origin not in ("update", "import", "bundle"):
        raise ValueError(f"unknown origin {origin!r}")
    return SourceState(
        origin=origin,
        location=str(entry["location"]),
        updated=_time(entry.get("updated")),
        checked=_time(entry.get("checked")),
        error=entry.get("error"),
        failed=_time(entry.get("failed")),
        files={
            str(name): FileState(
                url=str(f["url"]),
                size=int(f["size"]),
                sha256=str(f["sha256"]),
                etag=f.get("etag"),
                last_modified=f.get("last_modified"),
            )
            for name, f in entry.get("files", {}).items()
        },
        snapshot={str(k): str(v) for k, v in entry.get("snapshot", {}).items()},
    )


def _time(value: object) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else None


def write_state(store_path: Path, state: Mapping[str, SourceState]) -> None:
    """Replace the state file whole (a temporary file renamed over it)."""
    document = {
        "version": STATE_VERSION,
        "sources": {name: _state_json(state[name]) for name in sorted(state)},
    }
    _write_json_atomically(state_path(store_path), document)


def _state_json(entry: SourceState) -> dict[str, Any]:
    result: dict[str, Any] = {"origin": entry.origin, "location": entry.location}
    for key, moment in (
        ("updated", entry.updated),
        ("checked", entry.checked),
        ("failed", entry.failed),
    ):
        if moment is not None:
            result[key] = moment.isoformat()
    if entry.error is not None:
        result["error"] = entry.error
    if entry.files:
        result["files"] = {
            name: {k: getattr(f, k) for k in f.__slots__ if getattr(f, k) is not None}
            for name, f in sorted(entry.files.items())
        }
    if entry.snapshot:
        result["snapshot"] = dict(entry.snapshot)
    return result


def _write_json_atomically(path: Path, document: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=1, sort_keys=True)
            handle.write("\n")
        usual_permissions(Path(name))
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def usual_permissions(path: Path) -> None:
    """Give a file made by :func:`tempfile.mkstemp` (readable by its owner only) the
    permissions a new file gets under the umask, as a store shared by a team needs."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


def record_import(store_path: Path, summary: ImportSummary) -> None:
    """Note in the state that ``stockade db import`` wrote the sources of ``summary``."""
    state = read_state(store_path)
    moment = _now()
    for source in summary.sources:
        state[source] = SourceState(
            origin="import", location=str(summary.path.absolute()), updated=moment
        )
    write_state(store_path, state)


# --- locking ----------------------------------------------------------------------------


@contextlib.contextmanager
def store_lock(store_path: Path, *, wait: bool) -> Iterator[None]:
    """Hold the store's writer lock (a ``.lock`` file beside it) for updates, imports and
    the bundle's installation. Readers never take it. Without ``wait``, raises
    :class:`UpdateError` when another process holds it."""
    lock_path = store_path.with_name(store_path.name + ".lock")
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(lock_path, "a+b")  # noqa: SIM115 - held open for the lock's lifetime
    except OSError as exc:
        raise VulnDBError(f"cannot lock the advisory store {store_path}: {exc.strerror}") from exc
    try:
        if sys.platform != "win32":
            import fcntl

            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError as exc:
                raise UpdateError(
                    f"another process is updating the advisory store {store_path}",
                    hint="wait for it to finish and try again",
                ) from exc
        yield
    finally:
        handle.close()


# --- downloading ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a request is repeated after a transient failure."""

    attempts: int = 4
    """Tries per file, the first included."""
    first_pause: float = 1.0
    """Seconds before the second try; each later pause doubles."""
    max_pause: float = 30.0
    """No pause (nor a server's ``Retry-After``) is longer."""

    def pause(self, failures: int, retry_after: float | None = None) -> float:
        """Seconds to wait after the ``failures``-th failed try."""
        pause: float = self.first_pause * 2.0 ** (failures - 1)
        if retry_after is not None:
            pause = max(pause, retry_after)
        return min(pause, self.max_pause)


ProgressCallback = Callable[[int, int], None]
Progress = Callable[[str], AbstractContextManager[ProgressCallback]]
"""Makes a progress callback ``(bytes done, bytes total)`` for one described download
(``stockade.cli.output.UI.progress`` is one)."""
Report = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class CachedFile:
    """A verified feed file in the cache."""

    path: Path
    state: FileState
    downloaded: int
    """Bytes transferred for it in this update (0 when the server answered 304)."""

    @property
    def changed(self) -> bool:
        return self.downloaded > 0


class _Transient(Exception):
    """A failure worth another try; ``retry_after`` is the server's wish, in seconds."""

    def __init__(
        self, reason: str, *, retry_after: float | None = None, offline: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.offline = offline


_RETRIED_STATUSES: Final = frozenset({408, 425, 429, 500, 502, 503, 504})
_CONTENT_RANGE: Final = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)
_SHA256: Final = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True, slots=True)
class _Notes:
    """What the cache keeps beside a file or a partial download (dot files, which the
    importer never reads)."""

    url_id: str
    url: str
    etag: str | None
    last_modified: str | None
    size: int | None = None
    sha256: str | None = None

    @classmethod
    def read(cls, path: Path) -> _Notes | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                url_id=str(data["url_id"]),
                url=str(data["url"]),
                etag=data.get("etag"),
                last_modified=data.get("last_modified"),
                size=data.get("size"),
                sha256=data.get("sha256"),
            )
        except (OSError, ValueError, TypeError, KeyError):
            return None

    def write(self, path: Path) -> None:
        _write_json_atomically(path, {name: getattr(self, name) for name in self.__slots__})


class Downloader:
    """Fetches feed files into a cache directory; see the module's description."""

    def __init__(
        self,
        *,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        max_file_bytes: int = 8 * 1024 * _MiB,
        progress: Progress | None = None,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.max_file_bytes = max_file_bytes
        self._progress = progress
        self._sleep = sleep
        _redact_httpx_log()
        self._own_client = client is None
        self._client = client or httpx.Client(
            timeout=httpx.Timeout(timeout),
            headers={"User-Agent": _USER_AGENT},
            follow_redirects=True,
            # trust_env (the default) honours HTTPS_PROXY/NO_PROXY and SSL_CERT_FILE.
        )

    def close(self) -> None:
        if self._own_client:
            self._client.close()

    def __enter__(self) -> Downloader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def fetch(
        self, url: str, target: Path, kind: FileKind, *, checksum: bool = False
    ) -> CachedFile:
        """Bring ``target`` up to date with ``url`` and verify it; ``checksum`` also
        compares it with ``<url>.sha256``. Raises :class:`DownloadError` or
        :class:`FeedIntegrityError`; a partial download is kept for the next try."""
        shown = redact_url(url)
        failures = 0
        while True:
            try:
                return self._fetch_once(url, target, kind, checksum=checksum)
            except OSError as exc:
                raise UpdateError(
                    f"cannot write the download cache {target.parent}: {exc.strerror or exc}",
                    hint="check free disk space and permissions, or pass --cache-dir",
                ) from exc
            except _Transient as exc:
                failures += 1
                reason = _scrub(exc.reason, url)
                if failures >= self.retry.attempts:
                    error = OfflineError if exc.offline else DownloadError
                    raise error(
                        f"cannot download {shown}: {reason} (tried {failures} times)",
                        hint=_OFFLINE_HINT if exc.offline else "try again later, or use a mirror",
                    ) from exc
                pause = self.retry.pause(failures, exc.retry_after)
                _log.info("%s: %s; trying again in %.1fs", shown, reason, pause)
                self._sleep(pause)

    # -- one try -------------------------------------------------------------------------

    def _fetch_once(self, url: str, target: Path, kind: FileKind, *, checksum: bool) -> CachedFile:
        shown = redact_url(url)
        part = target.with_name(f".{target.name}.part")
        part_notes_path = target.with_name(f".{target.name}.part.json")
        notes_path = target.with_name(f".{target.name}.json")
        cached = _Notes.read(notes_path)
        if cached is not None and not (
            cached.url_id == _url_id(url) and _size(target) == cached.size and cached.sha256
        ):
            cached = None
        partial = _Notes.read(part_notes_path) if part.exists() else None
        if partial is not None and partial.url_id != _url_id(url):
            partial = None
        resume_from = _size(part) if partial is not None else 0
        validator = _range_validator(partial) if partial is not None else None

        headers = {"Accept-Encoding": "identity"}
        if resume_from and validator:
            headers["Range"] = f"bytes={resume_from}-"
            headers["If-Range"] = validator
        elif cached is not None:
            if cached.etag:
                headers["If-None-Match"] = cached.etag
            if cached.last_modified:
                headers["If-Modified-Since"] = cached.last_modified

        with self._request(url, headers) as response:
            status = response.status_code
            if status == 304 and cached is not None and "Range" not in headers:
                return CachedFile(target, _file_state(shown, cached), downloaded=0)
            if status == 416:
                # The partial file no longer fits what the server has: start over.
                _discard(part, part_notes_path)
                raise _Transient("the server cannot resume the download (HTTP 416)")
            _check_status(response, shown)
            if status == 206:
                if partial is None:
                    raise DownloadError(
                        f"cannot download {shown}: a partial answer (HTTP 206) to a request "
                        "for the whole file",
                        hint="the server or mirror does not serve files as expected",
                    )
                start, total = _content_range(response)
                if start != resume_from:
                    _discard(part, part_notes_path)
                    raise _Transient(f"the server resumed at byte {start}, not {resume_from}")
                mode = "ab"
                notes = partial
            elif status == 200:
                resume_from, mode = 0, "wb"
                total = _content_length(response)
                notes = _Notes(
                    url_id=_url_id(url),
                    url=shown,
                    etag=response.headers.get("etag"),
                    last_modified=response.headers.get("last-modified"),
                )
                target.parent.mkdir(parents=True, exist_ok=True)
                # A body decoded from gzip cannot be continued by byte offset: without a
                # validator, a cut download starts over.
                resumable = not _is_encoded(response)
                _Notes(
                    notes.url_id,
                    notes.url,
                    notes.etag if resumable else None,
                    notes.last_modified if resumable else None,
                ).write(part_notes_path)
            else:
                raise DownloadError(
                    f"cannot download {shown}: unexpected answer HTTP {status}",
                    hint="the server or mirror does not serve files as expected",
                )
            if total is not None and total > self.max_file_bytes:
                raise DownloadError(
                    f"{shown} is {total} bytes, over the limit of {self.max_file_bytes}"
                )
            encoded = _is_encoded(response)
            self._receive(
                response,
                part=part,
                mode=mode,
                offset=resume_from,
                total=total,
                shown=shown,
                encoded=encoded,
            )

        size = _size(part)
        if total is not None and size != total:
            raise _Transient(f"received {size} of {total} bytes")
        digest = _sha256_of(part)
        if checksum:
            self._check_published_digest(url, digest, part, part_notes_path)
        try:
            verify_content(part, kind, name=shown)
        except FeedIntegrityError:
            _discard(part, part_notes_path)
            raise
        os.replace(part, target)
        final = _Notes(notes.url_id, shown, notes.etag, notes.last_modified, size, digest)
        final.write(notes_path)
        part_notes_path.unlink(missing_ok=True)
        return CachedFile(target, _file_state(shown, final), downloaded=size - resume_from)

    @contextlib.contextmanager
    def _request(self, url: str, headers: Mapping[str, str]) -> Iterator[httpx.Response]:
        try:
            with self._client.stream("GET", url, headers=headers) as response:
                if response.status_code in _RETRIED_STATUSES:
                    raise _Transient(
                        f"the server answered HTTP {response.status_code}",
                        retry_after=_retry_after(response),
                    )
                yield response
        except httpx.ConnectError as exc:
            raise _Transient(f"cannot connect: {exc or type(exc).__name__}", offline=True) from exc
        except httpx.TimeoutException as exc:
            raise _Transient(f"timed out after {self.timeout:g}s") from exc
        except httpx.TransportError as exc:
            # Read errors, dropped connections, a body shorter than Content-Length.
            raise _Transient(f"the connection failed: {exc or type(exc).__name__}") from exc
        except httpx.InvalidURL as exc:
            raise DownloadError(f"{redact_url(url)} is not a valid URL") from exc
        except httpx.HTTPError as exc:
            raise DownloadError(
                f"cannot download {redact_url(url)}: {_scrub(str(exc), url)}"
            ) from exc

    def _receive(
        self,
        response: httpx.Response,
        *,
        part: Path,
        mode: str,
        offset: int,
        total: int | None,
        shown: str,
        encoded: bool,
    ) -> None:
        # No chunk size: httpx would hold back up to that much, and lose it when the
        # connection drops; what arrived must reach the .part file to be resumed.
        chunks = response.iter_bytes() if encoded else response.iter_raw()
        describe = f"downloading {shown}"
        progress = self._progress(describe) if self._progress else contextlib.nullcontext(None)
        with progress as update, open(part, mode) as out:
            done = offset
            for chunk in chunks:
                out.write(chunk)
                done += len(chunk)
                if done > self.max_file_bytes:
                    raise DownloadError(f"{shown} is over the limit of {self.max_file_bytes} bytes")
                if update is not None:
                    update(done, total or 0)

    def _check_published_digest(
        self, url: str, digest: str, part: Path, part_notes_path: Path
    ) -> None:
        expected = self._published_digest(url)
        if expected is not None and expected != digest:
            _discard(part, part_notes_path)
            raise FeedIntegrityError(
                f"{redact_url(url)} does not match its published sha256 "
                f"(expected {expected}, got {digest})",
                hint="run the update again; if it persists, the mirror serves damaged files",
            )

    def _published_digest(self, url: str) -> str | None:
        """The digest in ``<url>.sha256``, or None when the server has no such file."""
        parts = urllib.parse.urlsplit(url)
        checksum_url = urllib.parse.urlunsplit(parts._replace(path=parts.path + ".sha256"))
        shown = redact_url(checksum_url)
        failures = 0
        while True:
            try:
                with self._request(checksum_url, {"Accept-Encoding": "identity"}) as response:
                    if response.status_code == 404:
                        return None
                    _check_status(response, shown)
                    body = b"".join(_capped(response.iter_bytes(), 4096))
                break
            except _Transient as exc:
                failures += 1
                if failures >= self.retry.attempts:
                    raise DownloadError(
                        f"cannot download {shown}: {_scrub(exc.reason, url)}"
                    ) from exc
                self._sleep(self.retry.pause(failures, exc.retry_after))
        text = body.decode("ascii", "replace").strip()
        first = text.split()[0] if text else ""
        if not _SHA256.fullmatch(first):
            raise FeedIntegrityError(f"{shown} does not hold a sha256 digest")
        return first.lower()


def _capped(chunks: Iterator[bytes], limit: int) -> Iterator[bytes]:
    seen = 0
    for chunk in chunks:
        seen += len(chunk)
        if seen > limit:
            raise FeedIntegrityError("a checksum file is larger than any digest")
        yield chunk


def _check_status(response: httpx.Response, shown: str) -> None:
    status = response.status_code
    if status in (200, 206):
        return
    if status == 304:
        # Only when we asked nothing conditional: a broken server or cache in between.
        raise _Transient("the server answered 304 to an unconditional request")
    if status == 404:
        raise DownloadError(
            f"{shown}: not found (HTTP 404)",
            hint="check the mirror URL; a mirror must keep upstream's layout below it",
        )
    if status in (401, 403, 407):
        raise DownloadError(
            f"{shown}: access refused (HTTP {status})",
            hint="check the credentials in the mirror URL, or the proxy's",
        )
    if status >= 400:
        raise DownloadError(f"{shown}: the server answered HTTP {status}")


def _range_validator(notes: _Notes) -> str | None:
    # If-Range takes a strong ETag or a date; a weak ETag cannot promise equal bytes.
    if notes.etag and not notes.etag.startswith("W/"):
        return notes.etag
    return notes.last_modified


def _content_range(response: httpx.Response) -> tuple[int, int | None]:
    match = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", "").strip())
    if match is None:
        raise _Transient("a partial answer without a usable Content-Range")
    total = match.group(3)
    return int(match.group(1)), (None if total == "*" else int(total))


def _is_encoded(response: httpx.Response) -> bool:
    """Whether the server compressed the body despite ``Accept-Encoding: identity``."""
    encoding: str = response.headers.get("content-encoding", "identity")
    return encoding.strip().lower() != "identity"


def _content_length(response: httpx.Response) -> int | None:
    if _is_encoded(response):
        return None  # the length of the encoded body, not of the file
    value = response.headers.get("content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max((when - _now()).total_seconds(), 0.0)


def _file_state(shown: str, notes: _Notes) -> FileState:
    return FileState(
        url=shown,
        size=notes.size or 0,
        sha256=notes.sha256 or "",
        etag=notes.etag,
        last_modified=notes.last_modified,
    )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _discard(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_content(path: Path, kind: FileKind, *, name: str) -> None:
    """Raise :class:`FeedIntegrityError` unless ``path`` is a whole zip archive (every
    member read, CRCs checked) or a parseable JSON document."""
    if kind == "zip":
        try:
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as exc:
            raise FeedIntegrityError(
                f"{name} is not a readable zip archive: {exc}",
                hint="run the update again; if it persists, the server serves damaged files",
            ) from exc
        if bad is not None:
            raise FeedIntegrityError(f"{name}: the archive member {bad!r} is damaged")
        return
    try:
        with open(path, "rb") as handle:
            json.load(handle)
    except (ValueError, RecursionError, OSError) as exc:
        raise FeedIntegrityError(
            f"{name} is not a valid JSON document: {str(exc)[:200]}",
            hint="run the update again; if it persists, the server serves damaged files",
        ) from exc


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


# --- the update -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UpdateSettings:
    """How an update runs; the defaults are the CLI's."""

    cache_dir: Path | None = None
    """Where downloads are kept between updates (default: the user cache directory)."""
    mirrors: Mapping[str, str] = field(default_factory=dict)
    sources: tuple[str, ...] = ()
    """Feeds (names or families) to update; empty for all."""
    timeout: float = 60.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_file_bytes: int = 8 * 1024 * _MiB


def default_cache_dir() -> Path:
    return platformdirs.user_cache_path("stockade") / "vulndb"


@dataclass(frozen=True, slots=True)
class FeedResult:
    """What an update did for one feed."""

    name: str
    imported: bool
    """The store's data for this feed was replaced."""
    downloaded: int
    """Bytes transferred."""
    advisories: int | None = None
    """Advisories imported (None when the feed was unchanged)."""
    skipped: int = 0
    """Documents the import skipped with a warning."""


@dataclass(frozen=True, slots=True)
class UpdateResult:
    store: Path
    feeds: tuple[FeedResult, ...]
    removed: tuple[str, ...]
    """Bundled sources removed because updated feeds supersede them."""
    seconds: float

    @property
    def changed(self) -> bool:
        return any(feed.imported for feed in self.feeds) or bool(self.removed)


def update_store(
    path: Path | str | None = None,
    *,
    settings: UpdateSettings | None = None,
    feeds: Sequence[Feed] | None = None,
    report: Report | None = None,
    warn: Report | None = None,
    progress: Progress | None = None,
    downloader: Downloader | None = None,
) -> UpdateResult:
    """Update the store at ``path`` (default :func:`default_path`) from the feeds.

    ``feeds`` defaults to :func:`default_feeds`, narrowed by ``settings.sources``.
    ``report`` receives a line per step, ``warn`` one per problem that did not stop the
    update (documents skipped by an import). Raises :class:`UpdateError` (with the store
    untouched) or :class:`~stockade.core.errors.UsageError`.
    """
    options = settings or UpdateSettings()
    say: Report = report or _log.info
    caution: Report = warn or _log.warning
    store_path = Path(path) if path is not None else default_path()
    cache_dir = options.cache_dir or default_cache_dir()
    chosen = select_feeds(feeds if feeds is not None else default_feeds(), options.sources)
    plan = [(feed, locate(feed, options.mirrors)) for feed in chosen]
    started = time.monotonic()

    try:
        return _update_locked(
            store_path,
            cache_dir=cache_dir,
            plan=plan,
            options=options,
            say=say,
            caution=caution,
            progress=progress,
            downloader=downloader,
            started=started,
        )
    except OSError as exc:
        raise UpdateError(
            f"cannot update the advisory store {store_path}: {exc.strerror or exc}",
            hint="check free disk space and permissions; the store is unchanged",
        ) from exc


def _update_locked(
    store_path: Path,
    *,
    cache_dir: Path,
    plan: Sequence[tuple[Feed, tuple[FileLocation, ...]]],
    options: UpdateSettings,
    say: Report,
    caution: Report,
    progress: Progress | None,
    downloader: Downloader | None,
    started: float,
) -> UpdateResult:
    with store_lock(store_path, wait=False):
        state = read_state(store_path)
        fetched: dict[str, list[CachedFile]] = {}
        active = downloader or Downloader(
            timeout=options.timeout,
            retry=options.retry,
            max_file_bytes=options.max_file_bytes,
            progress=progress,
        )
        try:
            for feed, locations in plan:
                try:
                    fetched[feed.name] = _fetch_feed(active, feed, locations, cache_dir, say)
                except UpdateError as exc:
                    _note_failure(store_path, state, feed, locations, exc)
                    raise
        finally:
            if downloader is None:
                active.close()

        present, readable = _stored_sources(store_path)
        pending = [
            feed
            for feed, _ in plan
            if feed.name not in present or _changed(state.get(feed.name), fetched[feed.name])
        ]
        available = present | {feed.name for feed in pending}
        removed = tuple(
            sorted(
                source
                for source, by in SUPERSEDED_BY.items()
                if source in present
                and (state.get(source) is None or state[source].origin == "bundle")
                and by <= available
            )
        )
        results: dict[str, FeedResult] = {
            feed.name: FeedResult(feed.name, False, sum(f.downloaded for f in fetched[feed.name]))
            for feed, _ in plan
        }
        if pending or removed:
            imported = _rebuild(
                store_path,
                cache_dir,
                pending,
                removed,
                readable=readable,
                state=state,
                plan=dict(plan),
                report=say,
                warn=caution,
            )
            for name, summary in imported.items():
                results[name] = FeedResult(
                    name,
                    True,
                    results[name].downloaded,
                    advisories=summary.advisories,
                    skipped=summary.skipped,
                )
        moment = _now()
        for feed, locations in plan:
            previous = state.get(feed.name)
            was_imported = results[feed.name].imported
            state[feed.name] = SourceState(
                origin="update",
                location=_feed_location(feed, locations),
                updated=moment if was_imported else (previous.updated if previous else None),
                checked=moment,
                files={
                    f.path.relative_to(cache_dir / feed.name).as_posix(): f.state
                    for f in fetched[feed.name]
                },
            )
        for source in removed:
            state.pop(source, None)
        write_state(store_path, state)
    return UpdateResult(
        store=store_path,
        feeds=tuple(results[feed.name] for feed, _ in plan),
        removed=removed,
        seconds=time.monotonic() - started,
    )


def _fetch_feed(
    downloader: Downloader,
    feed: Feed,
    locations: Sequence[FileLocation],
    cache_dir: Path,
    report: Report,
) -> list[CachedFile]:
    directory = cache_dir / feed.name
    files = [
        downloader.fetch(
            location.url,
            directory / location.file.cache_name,
            location.file.kind,
            checksum=location.mirrored,
        )
        for location in locations
    ]
    _prune(directory, {location.file.cache_name for location in locations})
    changed = [f for f in files if f.changed]
    transferred = _human_bytes(sum(f.downloaded for f in changed))
    if not changed:
        report(f"{feed.name}: unchanged since the last download")
    elif len(files) == 1:
        report(f"{feed.name}: downloaded {transferred} from {redact_url(locations[0].url)}")
    else:
        report(f"{feed.name}: {len(changed)} of {len(files)} files changed, {transferred}")
    return files


def _prune(directory: Path, keep: set[str]) -> None:
    """Remove files of a feed's cache that its file list no longer names (a release
    dropped from the list), so the import reads only the current ones."""
    for root, subdirectories, names in os.walk(directory):
        subdirectories[:] = [d for d in subdirectories if not d.startswith(".")]
        for name in names:
            path = Path(root, name)
            relative = path.relative_to(directory).as_posix()
            if name.startswith("."):
                # Notes of a dropped file go with it.
                owner = relative.rsplit("/", 1)[0] + "/" if "/" in relative else ""
                stem = name[1:].removesuffix(".json").removesuffix(".part")
                if f"{owner}{stem}" not in keep:
                    path.unlink(missing_ok=True)
            elif relative not in keep:
                path.unlink(missing_ok=True)


def _changed(previous: SourceState | None, files: Sequence[CachedFile]) -> bool:
    if previous is None or previous.origin != "update":
        return True
    known = {entry.sha256 for entry in previous.files.values()}
    return len(previous.files) != len(files) or any(f.state.sha256 not in known for f in files)


def _stored_sources(store_path: Path) -> tuple[set[str], bool]:
    """The sources the store holds, and whether it could be read at all."""
    if not store_path.exists():
        return set(), True
    try:
        with AdvisoryStore.open(store_path, read_only=True) as store:
            return {entry.source for entry in store.status()}, True
    except VulnDBError as exc:
        _log.warning("the advisory store cannot be read (%s); building a new one", exc.message)
        return set(), False


def _feed_location(feed: Feed, locations: Sequence[FileLocation]) -> str:
    if len(locations) == 1:
        return redact_url(locations[0].url)
    return redact_url(locations[0].base) if locations else feed.url


def _note_failure(
    store_path: Path,
    state: dict[str, SourceState],
    feed: Feed,
    locations: Sequence[FileLocation],
    error: UpdateError,
) -> None:
    previous = state.get(feed.name)
    state[feed.name] = SourceState(
        origin=previous.origin if previous else "update",
        location=previous.location if previous else _feed_location(feed, locations),
        updated=previous.updated if previous else None,
        checked=previous.checked if previous else None,
        error=error.message,
        failed=_now(),
        files=previous.files if previous else {},
        snapshot=previous.snapshot if previous else {},
    )
    try:
        write_state(store_path, state)
    except OSError as exc:
        _log.warning("cannot record the failure in %s: %s", state_path(store_path), exc)


def _rebuild(
    store_path: Path,
    cache_dir: Path,
    pending: Sequence[Feed],
    removed: Sequence[str],
    *,
    readable: bool,
    state: dict[str, SourceState],
    plan: Mapping[Feed, Sequence[FileLocation]],
    report: Report,
    warn: Report,
) -> dict[str, ImportSummary]:
    """Build the new store beside the old one and swap it in; returns what each feed's
    import did. On any failure the new file is removed and the old store is untouched."""
    store_path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{store_path.name}.", suffix=".new", dir=store_path.parent)
    os.close(fd)
    staging = Path(name)
    summaries: dict[str, ImportSummary] = {}
    current: Feed | None = None
    try:
        if store_path.exists() and readable:
            _snapshot(store_path, staging)
        with AdvisoryStore.open(staging) as store:
            for feed in pending:
                current = feed
                report(f"{feed.name}: importing")
                notes: list[str] = []
                summary = import_path(
                    store,
                    cache_dir / feed.name,
                    source=feed.name,
                    replace_source=True,
                    warn=notes.append,
                )
                if summary.documents == 0:
                    raise FeedIntegrityError(
                        f"{feed.name}: the downloaded files hold no advisory this Stockade "
                        "can read",
                        hint=notes[0] if notes else None,
                    )
                for note in notes:
                    _log.debug("%s: %s", feed.name, note)
                if summary.skipped:
                    warn(
                        f"{feed.name}: {summary.skipped} documents skipped, "
                        f"e.g. {notes[0] if notes else '?'}"
                    )
                report(
                    f"{feed.name}: {summary.advisories} advisories from "
                    f"{_count(summary.documents, 'document')} in {summary.seconds:.1f}s"
                )
                summaries[feed.name] = summary
            current = None
            if removed:
                with store.importing(origin="update") as batch:
                    for source in removed:
                        batch.clear_source(source)
                report(f"removed bundled data now covered by the feeds: {', '.join(removed)}")
        _check(staging)
        _swap_in(staging, store_path, replace_unreadable=not readable)
    except UpdateError as exc:
        if current is not None:
            _note_failure(store_path, state, current, plan[current], exc)
        raise
    except VulnDBError as exc:
        wrapped = UpdateError(exc.message, hint=exc.hint)
        if current is not None:
            _note_failure(store_path, state, current, plan[current], wrapped)
        raise wrapped from exc
    finally:
        _remove_database(staging)
    return summaries


def _snapshot(source: Path, target: Path) -> None:
    """A consistent copy of the store (a read transaction, so writers may go on)."""
    try:
        connection = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
        try:
            connection.execute("PRAGMA busy_timeout = 60000")
            connection.execute("VACUUM INTO ?", (str(target),))
        finally:
            connection.close()
    except sqlite3.Error as exc:
        raise UpdateError(f"cannot copy the advisory store {source}: {exc}") from exc


def _check(staging: Path) -> None:
    try:
        connection = sqlite3.connect(staging)
        try:
            verdict = connection.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            connection.close()
    except sqlite3.Error as exc:
        raise UpdateError(f"the new advisory store failed its check: {exc}") from exc
    if verdict != "ok":
        raise UpdateError(f"the new advisory store failed its check: {verdict}")


def _swap_in(staging: Path, store_path: Path, *, replace_unreadable: bool) -> None:
    """Make the staged store the store: in one transaction into a live store, or by a
    rename where there is none (or only an unreadable file nobody can be using)."""
    if not store_path.exists() or replace_unreadable:
        # A -wal/-shm left by a deleted store must not be paired with the new file.
        for suffix in ("-wal", "-shm", "-journal"):
            store_path.with_name(store_path.name + suffix).unlink(missing_ok=True)
        usual_permissions(staging)
        os.replace(staging, store_path)
        return
    try:
        source = sqlite3.connect(staging)
        destination = sqlite3.connect(store_path, timeout=60, isolation_level=None)
        try:
            destination.execute("PRAGMA busy_timeout = 60000")
            source.backup(destination)
            # Give the disk space of the WAL back now if no scan is reading; never wait
            # for one (a later write checkpoints anyway).
            destination.execute("PRAGMA busy_timeout = 0")
            with contextlib.suppress(sqlite3.Error):
                destination.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            destination.close()
            source.close()
    except sqlite3.Error as exc:
        raise UpdateError(
            f"cannot write the advisory store {store_path}: {exc}",
            hint="the store is unchanged; check free disk space and try again",
        ) from exc


def _remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


# --- what the store holds, for `stockade db status` -----------------------------------------


@dataclass(frozen=True, slots=True)
class SourceReport:
    """One source of a store: its counts from the store, its history from the state."""

    name: str
    advisories: int
    origin: Origin | None
    """None when the state does not know the source (written by a library user)."""
    location: str | None
    as_of: dt.datetime | None
    """How current the data is: when an update last found the feed, the snapshot's date
    for bundled data, the newest advisory for imported data (None when the files date
    nothing)."""
    age: dt.timedelta | None
    newest: dt.datetime | None = None
    """The latest ``modified`` time of the source's advisories."""
    updated: dt.datetime | None = None
    checked: dt.datetime | None = None
    error: str | None = None
    failed: dt.datetime | None = None
    ecosystems: Mapping[str, int] = field(default_factory=dict, compare=False, hash=False)
    snapshot: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)
    """For bundled data: the repository, commit and date (as precise as known)."""


def describe_store(
    path: Path | str | None = None, *, now: dt.datetime | None = None
) -> tuple[SourceReport, ...]:
    """Every source of the store at ``path`` and every feed an update tried, sorted by
    name. Raises :class:`VulnDBError` when the store cannot be read."""
    store_path = Path(path) if path is not None else default_path()
    moment = now or dt.datetime.now(dt.UTC)
    state = read_state(store_path)
    with AdvisoryStore.open(store_path, read_only=True) as store:
        statuses = {status.source: status for status in store.status(now=moment)}
    reports = []
    for name in sorted(set(statuses) | set(state)):
        status = statuses.get(name)
        entry = state.get(name)
        newest = status.newest if status else None
        as_of = _as_of(entry, newest)
        reports.append(
            SourceReport(
                name=name,
                advisories=status.advisories if status else 0,
                origin=entry.origin if entry else None,
                location=entry.location if entry else (status.origin if status else None),
                as_of=as_of,
                age=(moment - as_of) if as_of else None,
                newest=newest,
                updated=entry.updated if entry else (status.last_import if status else None),
                checked=entry.checked if entry else None,
                error=entry.error if entry else None,
                failed=entry.failed if entry else None,
                ecosystems=dict(status.ecosystems) if status else {},
                snapshot=dict(entry.snapshot) if entry else {},
            )
        )
    return tuple(reports)


def _as_of(entry: SourceState | None, newest: dt.datetime | None) -> dt.datetime | None:
    if entry is None:
        return newest
    if entry.origin == "update":
        return entry.checked or entry.updated
    if entry.origin == "bundle":
        return _snapshot_date(entry.snapshot.get("date", "")) or newest
    # Imported files may be of any age: only their own dates tell (none for Alpine's).
    return newest


def _snapshot_date(text: str) -> dt.datetime | None:
    """``2024-10-10`` or ``2020-06`` (then the month's first day) as a UTC time."""
    for pattern in ("%Y-%m-%d", "%Y-%m"):
        try:
            return dt.datetime.strptime(text, pattern).replace(tzinfo=dt.UTC)
        except ValueError:
            continue
    return None


def human_age(age: dt.timedelta) -> str:
    """``3 hours``, ``12 days``, ``2 years``: how old, for a person."""
    seconds = max(age.total_seconds(), 0)
    for unit, size in (
        ("year", 365 * 86400),
        ("month", 30 * 86400),
        ("day", 86400),
        ("hour", 3600),
        ("minute", 60),
    ):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return "just now"
