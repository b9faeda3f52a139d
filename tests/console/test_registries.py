"""Registry scanning against real registries on 127.0.0.1.

One module-wide set of Debian's ``docker-registry`` servers over one storage directory:
anonymous, the distribution token flow (a token service of the test's own, whose JWTs
the registry checks), and Basic auth (htpasswd). Three tiny Debian-like images built with
umoci (old, mid, new: their configs' ``created`` times in that order) are pushed with
skopeo. Scans go through the real pipeline into a real store (SQLite and PostgreSQL)
with a small real advisory store, whose import time is the advisory data version.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, inspect, select
from tests.artifact.registry_support import (
    Reply,
    RunningRegistry,
    ScriptedServer,
    TestImage,
    TokenServer,
    bcrypt_htpasswd,
    build_image,
    free_port,
    manifest_of,
    push,
    start_registry,
    tools_missing,
)
from tests.console.conftest import (
    ADMIN_PASSWORD,
    RunningConsole,
    ThreadedServer,
    drop_pg_database,
    issue_token,
    make_pg_database,
)

from stockade.artifact import registry as artifact_registry
from stockade.console import registries
from stockade.console.config import ConsoleConfig
from stockade.console.context import ConsoleContext
from stockade.console.events import ConsoleEvent
from stockade.console.registries import distribution as distribution_module
from stockade.console.registries.credentials import (
    KEY_FILE,
    CredentialBox,
    CredentialsError,
    RegistryCredentials,
)
from stockade.console.registries.distribution import (
    Distribution,
    RegistryAddress,
    parse_registry_url,
)
from stockade.console.registries.model import (
    TaggedImage,
    advisory_version,
    most_recent,
    select_repositories,
)
from stockade.console.registries.runner import RegistryScanner
from stockade.console.roles import Role
from stockade.console.service import build_app, create_first_admin, open_store
from stockade.console.store import migrate
from stockade.console.store.engine import Store
from stockade.console.store.models import (
    AuditEntry,
    Base,
    Image,
    Registry,
    RegistryImage,
    RegistryScanRun,
    Scan,
)
from stockade.core.advisory import (
    Advisory,
    AdvisoryId,
    Affected,
    Event,
    EventKind,
    FixState,
    Range,
    RangeType,
    Severity,
)
from stockade.core.errors import RegistryError, UsageError
from stockade.vulndb.store import AdvisoryStore, SourceStatus

pytestmark = pytest.mark.slow

USER, PASSWORD = "robot-7f3a9", "Regi5try-pa55-never-shown"
OUR_TABLES = {"registries", "registry_scan_runs", "registry_images"}
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(["tags", "name", "x"]), inner, max_size=3)
    ),
    max_leaves=10,
)


# ---------------------------------------------------------------------------------------
# The world: registries and images, shared by the module


class CatalogTokenServer(TokenServer):
    """The token service of the artifact tests, also granting the catalog to users
    (as Harbor or GitLab grant it to a robot account allowed to list)."""

    def issue(self, subject: str, access: list[dict[str, Any]], lifetime: float = 300) -> str:
        granted = [
            {**a, "actions": ["*"]}
            if subject and a["type"] == "registry" and a["name"] == "catalog"
            else a
            for a in access
        ]
        return super().issue(subject, granted, lifetime)


@dataclass(frozen=True)
class World:
    work: Path
    registry: RunningRegistry
    token_registry: RunningRegistry
    tokens: CatalogTokenServer
    basic_registry: RunningRegistry | None
    old: TestImage
    mid: TestImage
    new: TestImage
    digests: dict[str, str]
    """``repo:tag`` → manifest digest, as pushed."""
    storage: Path

    def push(self, image: TestImage, repo_tag: str) -> str:
        return push(image, self.registry.host, repo_tag)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    missing = tools_missing()
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (apt-get install docker-registry skopeo umoci)")
    work = tmp_path_factory.mktemp("registries")
    # Built one after another, so their configs' created times are in this order.
    old = build_image(
        work / "old", architecture="amd64", packages=[("hello", "2.10-3")], marker="1"
    )
    mid = build_image(
        work / "mid",
        architecture="amd64",
        packages=[("hello", "2.10-3"), ("libfoo1", "1.2.3-1")],
        marker="2",
    )
    new = build_image(
        work / "new",
        architecture="amd64",
        packages=[("hello", "2.10-3"), ("libfoo1", "1.2.3-1")],
        marker="3",
    )
    storage = work / "storage"
    started: list[RunningRegistry] = []
    tokens = CatalogTokenServer(
        work, issuer="test-issuer", service="test-registry", users={USER: PASSWORD}
    )
    tokens.start()
    try:
        registry = start_registry(work / "anonymous", storage)
        started.append(registry)
        digests = {}
        for image, repo_tag in (
            (old, "team/app:1.0"),
            (mid, "team/app:2.0"),
            (new, "team/app:3.0"),
            (old, "team/tool:1"),
            (old, "team/tool:stable"),
            (mid, "other/skipme:1"),
        ):
            digests[repo_tag] = push(image, registry.host, repo_tag)
        token_registry = start_registry(
            work / "token",
            storage,
            auth={
                "token": {
                    "realm": tokens.realm,
                    "service": "test-registry",
                    "issuer": "test-issuer",
                    "rootcertbundle": str(tokens.cert_path),
                }
            },
        )
        started.append(token_registry)
        basic_registry = None
        line = bcrypt_htpasswd(USER, PASSWORD)
        if line is not None:
            (work / "basic").mkdir()
            (work / "basic" / "htpasswd").write_text(line)
            basic_registry = start_registry(
                work / "basic",
                storage,
                auth={"htpasswd": {"realm": "test", "path": str(work / "basic" / "htpasswd")}},
            )
            started.append(basic_registry)
        yield World(
            work, registry, token_registry, tokens, basic_registry, old, mid, new, digests, storage
        )
    finally:
        for running in started:
            running.stop()
        tokens.stop()


# ---------------------------------------------------------------------------------------
# Advisory data, a clock, scanners


def _advisory(identifier: str, package: str, fixed: str, severity: Severity) -> Advisory:
    return Advisory(
        id=AdvisoryId(identifier),
        source="test-debian",
        summary=f"{package} is vulnerable",
        severity=severity,
        modified=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        affected=(
            Affected(
                "Debian:12",
                package,
                ranges=(
                    Range(
                        RangeType.ECOSYSTEM,
                        (Event(EventKind.INTRODUCED, "0"), Event(EventKind.FIXED, fixed)),
                    ),
                ),
                fix_state=FixState.FIXED,
                fixed_versions=(fixed,),
                severity=severity,
            ),
        ),
    )


HELLO = _advisory("DSA-TEST-1", "hello", "2.10-4", Severity.HIGH)
LIBFOO = _advisory("DSA-TEST-2", "libfoo1", "1.2.3-2", Severity.CRITICAL)


@pytest.fixture
def advisory_db(tmp_path: Path) -> Path:
    path = tmp_path / "vulndb.sqlite"
    with AdvisoryStore.open(path) as advisories:
        advisories.import_advisories([HELLO])
    return path


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


def scanner_for(context: ConsoleContext, advisory_db: Path, **kwargs: Any) -> RegistryScanner:
    return RegistryScanner(
        context, advisories=lambda: AdvisoryStore.open(advisory_db, read_only=True), **kwargs
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@dataclass
class Shared:
    store: Store
    config: ConsoleConfig
    console: RunningConsole


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Shared]:
    """One store and one served Console per database kind for the whole module (made once:
    a database, its migrations and the first administrator's password hash take seconds);
    each test starts from empty tables but for users and tokens."""
    work = tmp_path_factory.mktemp(f"console-{request.param}")
    pg: tuple[str, str] | None = None
    if request.param == "sqlite":
        url = f"sqlite:///{work / 'console.sqlite'}"
    else:
        admin_url = request.getfixturevalue("postgres")
        name, url = make_pg_database(admin_url)
        pg = (admin_url, name)
    config = ConsoleConfig(database_url=url, data_dir=work / "data", secure_cookies=False)
    store = open_store(config)
    try:
        create_first_admin(store, ADMIN_PASSWORD)
        app = build_app(store, config)
        with ThreadedServer(app) as server:
            running = RunningConsole(server.url, store, config, context=app.state.console)
            running.tokens = {role: issue_token(store, role) for role in Role}
            try:
                yield Shared(store, config, running)
            finally:
                for client in running.clients:
                    client.close()
    finally:
        store.close()
        if pg is not None:
            drop_pg_database(*pg)


_KEPT = frozenset({"users", "api_tokens"})


@pytest.fixture
def store(shared: Shared) -> Store:
    with shared.store.write() as session:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name not in _KEPT:
                session.execute(table.delete())
    return shared.store


@pytest.fixture
def config(shared: Shared) -> ConsoleConfig:
    return shared.config


@pytest.fixture
def console(shared: Shared, store: Store) -> RunningConsole:
    assert shared.console.context is not None
    shared.console.context.event_listeners.clear()
    return shared.console


@pytest.fixture
def context(store: Store, config: ConsoleConfig, clock: Clock) -> ConsoleContext:
    return ConsoleContext(config=config, store=store, clock=clock)


@pytest.fixture
def events(context: ConsoleContext) -> list[ConsoleEvent]:
    heard: list[ConsoleEvent] = []
    context.event_listeners.append(heard.append)
    return heard


def add_registry(
    context: ConsoleContext,
    url: str,
    *,
    repositories: list[str] | None = None,
    include: list[str] | None = None,
    exclude: list[str] | None = None,
    tag_limit: int = 5,
    credentials: RegistryCredentials | None = None,
    due: bool = False,
) -> int:
    """A registry row as the API writes it; not due unless asked."""
    now = context.clock()
    sealed = CredentialBox(context.config.data_dir).seal(credentials) if credentials else None
    with context.store.write() as session:
        registry = Registry(
            name=f"r-{uuid.uuid4().hex[:8]}",
            url=url,
            repositories=repositories or [],
            include=include or [],
            exclude=exclude or [],
            tag_limit=tag_limit,
            interval_minutes=60,
            enabled=True,
            credentials=sealed,
            next_scan_at=now if due else now + dt.timedelta(minutes=60),
            created_at=now,
            updated_at=now,
            updated_by="test",
        )
        session.add(registry)
        session.flush()
        return registry.id


def queue_scan(context: ConsoleContext, registry_id: int) -> int:
    with context.store.write() as session:
        run = RegistryScanRun(
            registry_id=registry_id,
            trigger="manual",
            status="queued",
            requested_by="test",
            queued_at=context.clock(),
            errors=[],
        )
        session.add(run)
        session.flush()
        return run.id


def runs_of(store: Store, registry_id: int) -> list[RegistryScanRun]:
    with store.read() as session:
        return list(
            session.scalars(
                select(RegistryScanRun)
                .where(RegistryScanRun.registry_id == registry_id)
                .order_by(RegistryScanRun.id)
            )
        )


def picked(store: Store, registry_id: int) -> dict[tuple[str, str], RegistryImage]:
    with store.read() as session:
        rows = session.scalars(
            select(RegistryImage).where(RegistryImage.registry_id == registry_id)
        ).all()
        return {(r.repository, r.tag): r for r in rows}


def scan_count(store: Store) -> int:
    with store.read() as session:
        return int(session.scalar(select(func.count()).select_from(Scan)) or 0)


# ---------------------------------------------------------------------------------------
# Pure parts


def test_repositories_are_chosen_by_include_and_exclude_globs() -> None:
    names = ["team/app", "team/tool", "team/sub/deep", "other/x", "base"]
    assert select_repositories(names, [], []) == sorted(names)
    assert select_repositories(names, ["team/*"], []) == ["team/app", "team/sub/deep", "team/tool"]
    assert select_repositories(names, ["team/*", "base"], ["*/tool", "team/sub/*"]) == [
        "base",
        "team/app",
    ]
    assert select_repositories([*names, "base"], [], ["other/*"]) == [
        "base",
        "team/app",
        "team/sub/deep",
        "team/tool",
    ]


def test_most_recent_tags_by_image_creation_time() -> None:
    day = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    images = [
        TaggedImage("r", "1.0", "sha256:a", day),
        TaggedImage("r", "nodate", "sha256:b", None),
        TaggedImage("r", "3.0", "sha256:c", day + dt.timedelta(days=2)),
        TaggedImage("r", "latest", "sha256:c", day + dt.timedelta(days=2)),
        TaggedImage("r", "2.0", "sha256:d", day + dt.timedelta(days=1)),
    ]
    assert [i.tag for i in most_recent(images, 3)] == ["latest", "3.0", "2.0"]
    assert [i.tag for i in most_recent(images, 10)][-1] == "nodate"
    assert most_recent(images, 0) == []


def test_the_advisory_version_changes_with_any_import() -> None:
    at = dt.datetime(2025, 5, 1, tzinfo=dt.UTC)
    a = SourceStatus("osv-pypi", 10, at, at, None)
    b = SourceStatus("debian", 5, at, None, None)
    first = advisory_version([a, b])
    assert first == advisory_version([b, a])
    assert first.updated == at
    reimported = SourceStatus("debian", 5, at + dt.timedelta(hours=1), None, None)
    assert advisory_version([a, reimported]).version != first.version
    assert advisory_version([a, SourceStatus("debian", 6, at, None, None)]) != first
    assert advisory_version([]).updated is None


@pytest.mark.parametrize(
    ("url", "host", "insecure"),
    [
        ("https://registry.example.com", "registry.example.com", False),
        ("https://registry.example.com:5000/", "registry.example.com:5000", False),
        ("http://127.0.0.1:5000", "127.0.0.1:5000", True),
        ("https://registry-1.docker.io", "docker.io", False),
        ("http://[::1]:5000", "[::1]:5000", True),
    ],
)
def test_registry_urls(url: str, host: str, insecure: bool) -> None:
    address = parse_registry_url(url)
    assert (address.host, address.insecure) == (host, insecure)


@pytest.mark.parametrize(
    "url",
    ["ftp://x.example", "https://", "https://r.example/v2/", "https://u:p@r.example", "x"],
)
def test_bad_registry_urls_are_usage_errors(url: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_registry_url(url)
    assert caught.value.hint


@given(st.text(max_size=200))
@settings(max_examples=300, deadline=None)
def test_fuzzed_registry_urls_only_raise_usage_errors(url: str) -> None:
    try:
        address = parse_registry_url(url)
    except UsageError:
        return
    assert address.host
    assert parse_registry_url(("http://" if address.insecure else "https://") + address.host)


@given(st.one_of(st.binary(max_size=300), st.builds(lambda v: json.dumps(v).encode(), _JSON)))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_fuzzed_list_answers_only_raise_registry_errors(body: bytes) -> None:
    distribution = Distribution(RegistryAddress("registry.example", insecure=False), None)
    try:
        entries = distribution._entries(body, "tags", "testing")
    except RegistryError:
        return
    assert all(isinstance(e, str) for e in entries)


def test_credentials_are_sealed_with_the_key_file(tmp_path: Path) -> None:
    box = CredentialBox(tmp_path / "data")
    sealed = box.seal(RegistryCredentials(USER, PASSWORD))
    assert PASSWORD not in sealed
    assert USER not in sealed
    key = tmp_path / "data" / KEY_FILE
    assert key.stat().st_mode & 0o777 == 0o600
    opened = CredentialBox(tmp_path / "data").open(sealed)
    assert (opened.username, opened.password) == (USER, PASSWORD)
    assert PASSWORD not in repr(opened)
    # Another Console's key (a backup restored without its key file) cannot open them.
    with pytest.raises(CredentialsError) as caught:
        CredentialBox(tmp_path / "elsewhere").open(sealed)
    assert "missing" in caught.value.message
    CredentialBox(tmp_path / "elsewhere").seal(RegistryCredentials("x", "y"))
    with pytest.raises(CredentialsError) as caught:
        CredentialBox(tmp_path / "elsewhere").open(sealed)
    assert "backups must include" in (caught.value.hint or "")


# ---------------------------------------------------------------------------------------
# Listing


def test_the_catalog_is_read_page_by_page(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    distribution = Distribution(parse_registry_url(world.registry.url), None)
    whole = distribution.catalog()
    assert {"team/app", "team/tool", "other/skipme"} <= set(whole)
    # One repository a page: the registry answers with Link headers, followed to the end.
    first = httpx.get(f"{world.registry.url}/v2/_catalog?n=1", timeout=10)
    assert 'rel="next"' in first.headers["link"]
    monkeypatch.setattr(distribution_module, "PAGE_SIZE", 1)
    assert distribution.catalog() == whole
    assert sorted(distribution.tags("team/app")) == ["1.0", "2.0", "3.0"]


@pytest.fixture
def scripted() -> Iterator[ScriptedServer]:
    server = ScriptedServer().start()
    try:
        yield server
    finally:
        server.stop()


def _page(tags: list[str], link: str | None = None) -> Reply:
    headers = {"Content-Type": "application/json"}
    if link:
        headers["Link"] = f'<{link}>; rel="next"'
    return Reply(200, json.dumps({"name": "r", "tags": tags}).encode(), headers)


def test_tag_pages_are_followed_on_the_registry_only(scripted: ScriptedServer) -> None:
    # docker-registry 2.8 does not page tag lists, so a scripted registry shows the spec's.
    def paged(handler: Any) -> Reply:
        last = parse_qs(urlsplit(handler.path).query).get("last")
        if last is None:
            return _page(["a", "b"], "/v2/team/app/tags/list?n=2&last=b")
        return _page(["c"]) if last == ["b"] else Reply(400)

    scripted.routes["/v2/team/app/tags/list"] = paged
    scripted.routes["/v2/evil/tags/list"] = [
        _page(["x"], "http://169.254.169.254/v2/evil/tags/list?last=x")
    ]
    scripted.routes["/v2/loop/tags/list"] = [_page(["x"], "/v2/loop/tags/list?n=1000")]
    scripted.routes["/v2/empty/tags/list"] = [_page([]), Reply(200, b'{"tags": null}')]
    scripted.routes["/v2/junk/tags/list"] = [Reply(200, b"<html>")]
    distribution = Distribution(RegistryAddress(scripted.host, insecure=True), None)
    assert distribution.tags("team/app") == ["a", "b", "c"]
    with pytest.raises(RegistryError, match="another server"):
        distribution.tags("evil")
    assert not any(path.startswith("/latest") for path, _ in scripted.requests)
    with pytest.raises(RegistryError, match="links back"):
        distribution.tags("loop")
    assert distribution.tags("empty") == []
    with pytest.raises(RegistryError, match="not JSON"):
        distribution.tags("junk")
    with pytest.raises(RegistryError, match="repository not found"):
        distribution.tags("missing")


# ---------------------------------------------------------------------------------------
# The schema


def test_the_migration_matches_the_models(database_url: str) -> None:
    store = Store(database_url)
    try:
        migrate.upgrade(store)
        with store.engine.connect() as connection:
            diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        ours = [d for d in diffs if any(t in repr(d) for t in OUR_TABLES)]
        assert ours == []
        # Down to 0004 and up again: the tables go and come back.
        config = migrate._config()
        with store.engine.connect() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0004")
            connection.commit()
        with store.engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
        assert not tables & OUR_TABLES
        migrate.upgrade(store)
        assert migrate.is_at_head(store)
    finally:
        store.close()


# ---------------------------------------------------------------------------------------
# Scanning, store level (SQLite and PostgreSQL)


def test_a_scan_stores_the_most_recent_tags_of_included_repositories(
    world: World, context: ConsoleContext, advisory_db: Path, events: list[ConsoleEvent]
) -> None:
    registry_id = add_registry(
        context,
        world.registry.url,
        include=["team/*", "other/*"],
        exclude=["other/*"],
        tag_limit=2,
    )
    run_id = queue_scan(context, registry_id)
    outcomes = scanner_for(context, advisory_db).run_due()
    assert [o.run_id for o in outcomes] == [run_id]

    (run,) = runs_of(context.store, registry_id)
    assert (run.status, run.trigger, run.error, run.errors) == ("completed", "manual", None, [])
    assert (run.repositories, run.images_found, run.images_scanned) == (2, 3, 3)
    assert run.advisory_version is not None

    # team/app: the two newest of three tags; team/tool: both tags, one image; not other/*.
    rows = picked(context.store, registry_id)
    assert set(rows) == {
        ("team/app", "3.0"),
        ("team/app", "2.0"),
        ("team/tool", "1"),
        ("team/tool", "stable"),
    }
    for (repository, tag), row in rows.items():
        assert row.digest == world.digests[f"{repository}:{tag}"]
        assert row.scan_id is not None
    assert rows["team/tool", "1"].scan_id == rows["team/tool", "stable"].scan_id

    host = world.registry.host
    with context.store.read() as session:
        scans = session.scalars(select(Scan).order_by(Scan.id)).all()
        assert len(scans) == 3
        for scan in scans:
            # Stored as a published scan: the image by its digest, findings as rows.
            assert scan.kind == "vulnerabilities"
            assert scan.published_by.startswith("registry:")
            assert scan.artifact_key == f"image:{scan.artifact_digest}"
            image = session.get_one(Image, scan.image_id)
            assert image.digest == scan.artifact_digest
            assert image.latest_scan_id == scan.id
            assert image.high == 1  # hello 2.10-3 < 2.10-4
            assert image.os == "debian 12"
            assert scan.summary["bySeverity"]["high"] == 1
            assert scan.advisories_age == "as of 2024-01-01"
        tool = session.get_one(Scan, rows["team/tool", "1"].scan_id)
        assert tool.document["artifact"]["repoTags"] == [
            f"{host}/team/tool:1",
            f"{host}/team/tool:stable",
        ]

    completed = [e for e in events if e.kind == "registry.scan.completed"]
    assert len(completed) == 3
    assert {e.severity for e in completed} == {"high"}
    assert {e.subject for e in completed} == {
        f"{host}/team/app:2.0",
        f"{host}/team/app:3.0",
        f"{host}/team/tool:1",
    }
    assert all(e.detail["bySeverity"]["high"] == 1 for e in completed)
    assert not [e for e in events if e.kind == "registry.scan.failed"]


def test_an_unchanged_digest_is_not_rescanned_and_a_changed_one_is(
    world: World, context: ConsoleContext, advisory_db: Path, clock: Clock
) -> None:
    repository = f"mut/app-{uuid.uuid4().hex[:8]}"
    first_digest = world.push(world.old, f"{repository}:live")
    registry_id = add_registry(context, world.registry.url, repositories=[repository], due=True)
    scanner = scanner_for(context, advisory_db)

    (first,) = scanner.run_due()
    assert (first.status, first.images_scanned) == ("completed", 1)
    assert scan_count(context.store) == 1
    assert scanner.run_due() == []  # not due again before its interval

    clock.advance(minutes=61)
    (second,) = scanner.run_due()
    assert (second.status, second.images_scanned, second.images_skipped) == ("completed", 0, 1)
    assert scan_count(context.store) == 1

    changed_digest = world.push(world.new, f"{repository}:live")
    assert changed_digest != first_digest
    clock.advance(minutes=61)
    (third,) = scanner.run_due()
    assert (third.status, third.images_scanned, third.images_skipped) == ("completed", 1, 0)
    assert scan_count(context.store) == 2
    assert picked(context.store, registry_id)[repository, "live"].digest == changed_digest
    assert [r.trigger for r in runs_of(context.store, registry_id)] == ["schedule"] * 3


def test_new_advisory_data_rescans_without_waiting_for_the_interval(
    world: World, context: ConsoleContext, advisory_db: Path, events: list[ConsoleEvent]
) -> None:
    registry_id = add_registry(
        context, world.registry.url, repositories=["team/app", "team/tool"], tag_limit=1, due=True
    )
    scanner = scanner_for(context, advisory_db)
    (first,) = scanner.run_due()
    assert (first.status, first.images_scanned) == ("completed", 2)
    assert scanner.run_due() == []
    before = first.advisory
    assert before is not None

    # `stockade db update` (here: an import) brings an advisory about libfoo1.
    with AdvisoryStore.open(advisory_db) as advisories:
        advisories.import_advisories([LIBFOO])
    events.clear()
    (rescan,) = scanner.run_due()
    assert rescan.advisory is not None
    assert rescan.advisory.version != before.version
    assert (rescan.status, rescan.images_scanned, rescan.images_skipped) == ("completed", 2, 0)
    assert [r.trigger for r in runs_of(context.store, registry_id)] == ["schedule", "advisories"]
    assert scan_count(context.store) == 4
    # team/app:3.0 (new) carries libfoo1: critical now; team/tool (old) does not.
    severities = sorted(e.severity for e in events if e.kind == "registry.scan.completed")
    assert severities == ["critical", "high"]
    with context.store.read() as session:
        assert sorted(i.critical for i in session.scalars(select(Image))) == [0, 1]
        rows = session.scalars(select(RegistryImage)).all()
        assert {r.advisory_version for r in rows} == {rescan.advisory.version}
    assert scanner.run_due() == []  # the change is handled once


def test_a_scheduled_scan_runs_in_the_worker_thread(
    *,
    world: World,
    store: Store,
    config: ConsoleConfig,
    advisory_db: Path,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STOCKADE_DB", str(advisory_db))
    app = build_app(store, config, clock=clock)
    context: ConsoleContext = app.state.console
    registry_id = add_registry(context, world.registry.url, repositories=["team/tool"], due=True)
    assert registries.scheduler_of(context) is None
    for start in context.on_start:
        start()
    try:
        scheduler = registries.scheduler_of(context)
        assert scheduler is not None
        assert scheduler.running
        _wait(lambda: _finished(store, registry_id) == 1)
        clock.advance(minutes=61)
        scheduler.wake()
        _wait(lambda: _finished(store, registry_id) == 2)
    finally:
        for close in reversed(context.on_close):
            close()
    assert registries.scheduler_of(context) is None
    assert not scheduler.running
    runs = runs_of(store, registry_id)
    assert [(r.trigger, r.status) for r in runs] == [("schedule", "completed")] * 2
    assert (runs[0].images_scanned, runs[1].images_skipped) == (1, 1)


def _finished(store: Store, registry_id: int) -> int:
    return sum(1 for r in runs_of(store, registry_id) if r.status in ("completed", "failed"))


def _wait(condition: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def test_token_auth_lists_the_catalog_and_pulls_with_credentials(
    world: World, context: ConsoleContext, advisory_db: Path
) -> None:
    registry_id = add_registry(
        context,
        world.token_registry.url,
        include=["team/tool"],
        credentials=RegistryCredentials(USER, PASSWORD),
        due=True,
    )
    before = len(world.tokens.requests)
    (outcome,) = scanner_for(context, advisory_db).run_due()
    assert (outcome.status, outcome.images_scanned, outcome.errors) == ("completed", 1, [])
    asked = world.tokens.requests[before:]
    scopes = {s for r in asked for s in r["query"].get("scope", [])}
    assert {"registry:catalog:*", "repository:team/tool:pull"} <= scopes
    assert all(r["authorization"].startswith("Basic ") for r in asked)
    assert set(picked(context.store, registry_id)) == {("team/tool", "1"), ("team/tool", "stable")}


def test_basic_auth_registry(world: World, context: ConsoleContext, advisory_db: Path) -> None:
    if world.basic_registry is None:
        pytest.skip("no bcrypt hashing here for the htpasswd file")
    add_registry(
        context,
        world.basic_registry.url,
        repositories=["team/tool"],
        credentials=RegistryCredentials(USER, PASSWORD),
        due=True,
    )
    (outcome,) = scanner_for(context, advisory_db).run_due()
    assert (outcome.status, outcome.images_scanned) == ("completed", 1)


@pytest.mark.parametrize("case", ["bad password", "no credentials", "unreachable"])
def test_a_failing_registry_gives_a_failed_run_and_an_event(
    *,
    world: World,
    context: ConsoleContext,
    advisory_db: Path,
    events: list[ConsoleEvent],
    case: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    url, credentials, expected = {
        "bad password": (
            world.token_registry.url,
            RegistryCredentials(USER, "wrong-" + PASSWORD),
            "rejected the credentials",
        ),
        "no credentials": (world.token_registry.url, None, "authentication required"),
        "unreachable": (f"http://127.0.0.1:{free_port()}", None, "cannot connect"),
    }[case]
    registry_id = add_registry(context, url, credentials=credentials, due=True)
    (outcome,) = scanner_for(context, advisory_db, timeout=5).run_due()
    assert outcome.status == "failed"
    (run,) = runs_of(context.store, registry_id)
    assert run.status == "failed"
    assert run.error is not None
    assert expected in run.error
    assert PASSWORD not in run.error
    (failed,) = [e for e in events if e.kind == "registry.scan.failed"]
    assert failed.severity == "high"
    assert failed.detail["error"] == run.error
    assert failed.labels["registry"] == failed.subject
    assert PASSWORD not in caplog.text
    # The lease is released and the next scan is an interval away.
    with context.store.read() as session:
        registry = session.get_one(Registry, registry_id)
        assert registry.lease_owner is None
        assert registry.next_scan_at is not None
        assert registry.next_scan_at > context.clock()


def test_an_image_that_cannot_be_pulled_fails_alone(
    world: World,
    context: ConsoleContext,
    advisory_db: Path,
    events: list[ConsoleEvent],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(artifact_registry, "RETRY_DELAYS", (0.01, 0.02))
    repository = f"broken/app-{uuid.uuid4().hex[:8]}"
    world.push(world.old, f"{repository}:good")
    lost = build_image(
        world.work / repository.replace("/", "-"),
        architecture="amd64",
        packages=[("hello", "2.10-3")],
        marker=repository,  # a layer of its own
    )
    world.push(lost, f"{repository}:bad")
    _, body, _ = manifest_of(world.registry.host, f"{repository}:bad")
    layer = json.loads(body)["layers"][-1]["digest"].split(":")[1]
    (world.storage / "docker/registry/v2/blobs/sha256" / layer[:2] / layer / "data").unlink()

    registry_id = add_registry(context, world.registry.url, repositories=[repository], due=True)
    (outcome,) = scanner_for(context, advisory_db).run_due()
    assert (outcome.status, outcome.images_scanned, outcome.images_failed) == ("completed", 1, 1)
    (run,) = runs_of(context.store, registry_id)
    bad = f"{world.registry.host}/{repository}:bad"
    assert [e["image"] for e in run.errors] == [bad]
    assert layer in run.errors[0]["error"]
    (failed,) = [e for e in events if e.kind == "registry.scan.failed"]
    assert (failed.severity, failed.subject) == ("medium", bad)
    (completed,) = [e for e in events if e.kind == "registry.scan.completed"]
    assert completed.subject == f"{world.registry.host}/{repository}:good"
    # The failed image is tried again next run; the good one is not.
    with context.store.write() as session:
        session.get_one(Registry, registry_id).next_scan_at = context.clock()
    (again,) = scanner_for(context, advisory_db).run_due()
    assert (again.images_scanned, again.images_skipped, again.images_failed) == (0, 1, 1)


def test_one_registry_is_scanned_by_one_process_at_a_time(
    *,
    world: World,
    context: ConsoleContext,
    advisory_db: Path,
    clock: Clock,
    events: list[ConsoleEvent],
) -> None:
    registry_id = add_registry(context, world.registry.url, repositories=["team/tool"], due=True)
    first = scanner_for(context, advisory_db, worker="console-a")
    second = scanner_for(context, advisory_db, worker="console-b")
    claim = first.claim(first.current_advisories())
    assert claim is not None
    assert second.claim(second.current_advisories()) is None
    # console-a dies; after its lease runs out, console-b takes over and its run fails.
    clock.advance(minutes=16)
    taken = second.claim(second.current_advisories())
    assert taken is not None
    assert taken.registry_id == registry_id
    (interrupted, running) = runs_of(context.store, registry_id)
    assert interrupted.status == "failed"
    assert "interrupted" in (interrupted.error or "")
    assert running.worker == "console-b"
    assert second.execute(taken).status == "completed"
    # console-a comes back: its lease is gone, so it records nothing over console-b.
    late = first.execute(claim)
    assert late.status == "failed"
    assert "lease" in (late.error or "")
    assert late.images_scanned == 0
    with context.store.read() as session:
        assert session.get_one(Registry, registry_id).lease_owner is None
    assert not [e for e in events if e.kind == "registry.scan.failed"]


def test_a_stopping_process_leaves_the_registry_due_for_another(
    world: World, context: ConsoleContext, advisory_db: Path, events: list[ConsoleEvent]
) -> None:
    registry_id = add_registry(context, world.registry.url, repositories=["team/tool"], due=True)
    scanner = scanner_for(context, advisory_db)
    claim = scanner.claim(scanner.current_advisories())
    assert claim is not None
    scanner.stopping.set()  # what the scheduler's stop() does
    outcome = scanner.execute(claim)
    assert (outcome.status, outcome.images_scanned) == ("failed", 0)
    assert (outcome.error or "").startswith("interrupted")
    assert not events
    other = scanner_for(context, advisory_db)
    (taken_over,) = other.run_due()
    assert (taken_over.status, taken_over.images_scanned) == ("completed", 1)
    assert [r.trigger for r in runs_of(context.store, registry_id)] == ["schedule", "schedule"]


def test_concurrent_processes_run_a_queued_scan_once(
    world: World, context: ConsoleContext, advisory_db: Path
) -> None:
    registry_id = add_registry(context, world.registry.url, repositories=["team/tool"])
    queue_scan(context, registry_id)
    scanners = [scanner_for(context, advisory_db, worker=f"console-{i}") for i in range(3)]
    barrier = threading.Barrier(len(scanners))
    done: list[int] = []

    def work(scanner: RegistryScanner) -> None:
        barrier.wait()
        done.extend(o.run_id for o in scanner.run_due())

    threads = [threading.Thread(target=work, args=(s,)) for s in scanners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(done) == 1
    (run,) = runs_of(context.store, registry_id)
    assert run.status == "completed"


# ---------------------------------------------------------------------------------------
# The API


def test_the_api_registers_scans_and_lists_runs(
    world: World, console: RunningConsole, advisory_db: Path
) -> None:
    assert console.context is not None
    admin = console.client(Role.ADMINISTRATOR)
    operator = console.client(Role.OPERATOR)
    auditor = console.client(Role.AUDITOR)
    answer = admin.post(
        "/api/v1/registries",
        json={
            "name": "local",
            "url": world.registry.url,
            "include": ["team/app"],
            "tagLimit": 1,
            "intervalMinutes": 30,
        },
    )
    assert answer.status_code == 201, answer.text
    registry = answer.json()
    assert registry["hasCredentials"] is False
    assert registry["lastRun"] is None
    rid = registry["id"]
    # Only administrators change registries; operators may ask for a scan.
    assert (
        operator.post("/api/v1/registries", json={"name": "x", "url": "https://x"}).status_code
        == 403
    )
    assert auditor.post(f"/api/v1/registries/{rid}/scan").status_code == 403
    queued = operator.post(f"/api/v1/registries/{rid}/scan")
    assert queued.status_code == 202
    assert (queued.json()["status"], queued.json()["trigger"]) == ("queued", "manual")
    assert operator.post(f"/api/v1/registries/{rid}/scan").json()["id"] == queued.json()["id"]

    heard: list[ConsoleEvent] = []
    console.context.event_listeners.append(heard.append)
    (outcome,) = scanner_for(console.context, advisory_db).run_due()
    assert outcome.run_id == queued.json()["id"]

    runs = auditor.get(f"/api/v1/registries/{rid}/runs").json()
    assert runs["total"] == 1
    (run,) = runs["items"]
    assert run["status"] == "completed"
    assert (run["imagesFound"], run["imagesScanned"], run["imagesSkipped"]) == (1, 1, 0)
    assert run["requestedBy"] == queued.json()["requestedBy"] != "system:scheduler"
    assert auditor.get(f"/api/v1/registries/{rid}/runs/{run['id']}").json() == run
    assert auditor.get(f"/api/v1/registries/{rid}").json()["lastRun"] == run
    csv = auditor.get(f"/api/v1/registries/{rid}/runs", params={"format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv")

    (image,) = auditor.get(f"/api/v1/registries/{rid}/images").json()["items"]
    assert (image["repository"], image["tag"]) == ("team/app", "3.0")
    assert image["digest"] == world.digests["team/app:3.0"]
    findings = auditor.get(f"/api/v1/images/{image['imageDigest']}/findings").json()["items"]
    assert [f["id"] for f in findings] == ["DSA-TEST-1"]
    scan = auditor.get(f"/api/v1/scans/{image['scanId']}").json()
    assert scan["publishedBy"] == "registry:local"
    (completed,) = [e for e in heard if e.kind == "registry.scan.completed"]
    assert completed.detail["scanId"] == image["scanId"]

    changed = admin.patch(f"/api/v1/registries/{rid}", json={"tagLimit": 3, "enabled": False})
    assert (changed.json()["tagLimit"], changed.json()["enabled"]) == (3, False)
    assert admin.delete(f"/api/v1/registries/{rid}").status_code == 204
    assert auditor.get(f"/api/v1/registries/{rid}").status_code == 404
    assert auditor.get(f"/api/v1/registries/{rid}/runs").status_code == 404
    with console.store.read() as session:  # scans stay: they are the images' history
        assert session.get(Scan, image["scanId"]) is not None
        actions = set(session.scalars(select(AuditEntry.action)))
    assert {"registry.create", "registry.change", "registry.delete"} <= actions


def test_credentials_are_write_only(
    world: World, console: RunningConsole, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    admin = console.client(Role.ADMINISTRATOR)
    created = admin.post(
        "/api/v1/registries",
        json={
            "name": "private",
            "url": world.token_registry.url,
            "credentials": {"username": USER, "password": PASSWORD},
        },
    )
    assert created.status_code == 201
    rid = created.json()["id"]
    answers = [
        created,
        admin.get("/api/v1/registries"),
        admin.get(f"/api/v1/registries/{rid}"),
        admin.patch(
            f"/api/v1/registries/{rid}",
            json={"credentials": {"username": USER, "password": PASSWORD + "2"}},
        ),
        admin.get("/api/v1/audit"),
        admin.get("/api/v1/audit", params={"format": "csv"}),
        admin.get("/api/v1/openapi.json"),
    ]
    for answer in answers:
        assert answer.status_code in {200, 201}
        assert PASSWORD not in answer.text
        assert USER not in answer.text
    assert created.json()["hasCredentials"] is True
    assert PASSWORD not in caplog.text
    with console.store.read() as session:
        sealed = session.get_one(Registry, rid).credentials
        assert sealed is not None
        assert PASSWORD not in sealed
        details = [e.detail for e in session.scalars(select(AuditEntry))]
    assert [d["credentials"] for d in details if "credentials" in d] == ["set", "set"]
    assert (console.config.data_dir / KEY_FILE).is_file()
    opened = CredentialBox(console.config.data_dir).open(sealed)
    assert opened.password == PASSWORD + "2"

    removed = admin.patch(f"/api/v1/registries/{rid}", json={"credentials": None})
    assert removed.json()["hasCredentials"] is False
    kept = admin.patch(f"/api/v1/registries/{rid}", json={"tagLimit": 2})
    assert kept.json()["hasCredentials"] is False


BAD_REGISTRATIONS = [
    ({"name": "bad", "url": "ftp://registry.example"}, 422, "not http(s)"),
    ({"name": "bad", "url": "https://r.example/v2"}, 422, "only scheme, host and port"),
    ({"name": "bad", "url": "https://r.example", "repositories": ["Team/App"]}, 422, "repository"),
    ({"name": "bad", "url": "https://r.example", "tagLimit": 0}, 422, "schema"),
    ({"name": "bad", "url": "https://r.example", "unknown": 1}, 422, "schema"),
    ({"name": "has space", "url": "https://r.example"}, 422, "schema"),
    ({"name": "taken", "url": "https://r.example"}, 409, "exists"),
]


def test_bad_registrations_are_refused_with_problem_json(console: RunningConsole) -> None:
    admin = console.client(Role.ADMINISTRATOR)
    taken = admin.post("/api/v1/registries", json={"name": "taken", "url": "https://r.example"})
    assert taken.status_code == 201
    for body, status, words in BAD_REGISTRATIONS:
        answer = admin.post("/api/v1/registries", json=body)
        assert answer.status_code == status, body
        assert answer.headers["content-type"] == "application/problem+json"
        assert words in answer.json()["detail"], answer.json()
    assert len(admin.get("/api/v1/registries").json()["items"]) == 1
    assert admin.post("/api/v1/registries/999999/scan").status_code == 404
    assert admin.patch("/api/v1/registries/999999", json={}).status_code == 404
    rid = taken.json()["id"]
    other = admin.post("/api/v1/registries", json={"name": "other", "url": "https://r.example"})
    renamed = admin.patch(f"/api/v1/registries/{other.json()['id']}", json={"name": "taken"})
    assert renamed.status_code == 409
    bad_url = admin.patch(f"/api/v1/registries/{rid}", json={"url": "https://x/y"})
    assert bad_url.status_code == 422
    assert admin.get(f"/api/v1/registries/{rid}").json()["url"] == "https://r.example"


def test_reading_needs_read_and_ci_tokens_cannot(console: RunningConsole) -> None:
    assert console.client(Role.AUDITOR).get("/api/v1/registries").status_code == 200
    assert console.client(Role.CI).get("/api/v1/registries").status_code == 403
    assert console.client().get("/api/v1/registries").status_code == 401


def test_key_file_goes_with_the_data_dir(tmp_path: Path) -> None:
    """A Console restored with its data dir opens the credentials; the key is what a
    backup must carry besides the database."""
    box = CredentialBox(tmp_path / "a")
    sealed = box.seal(RegistryCredentials(USER, PASSWORD))
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    assert CredentialBox(tmp_path / "b").open(sealed).password == PASSWORD
    os.unlink(tmp_path / "b" / KEY_FILE)
    with pytest.raises(CredentialsError):
        CredentialBox(tmp_path / "b").open(sealed)
