"""``/api/v1/registries``: register registries, scan now, see runs and what was picked.

Changing a registry needs ``administer``; asking for a scan needs ``operate``; reading
needs ``read``. Credentials are write-only: a body may set or remove them, no answer
carries them (``hasCredentials`` says whether some are set), and the audit log records
only that they changed.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from stockade.console.api.access import requires
from stockade.console.api.deps import Caller, Context, Remote
from stockade.console.api.listing import CSV_RESPONSE, Paging, respond
from stockade.console.context import ConsoleContext
from stockade.console.errors import Conflict, ConsoleError, NotFound
from stockade.console.identity import audit
from stockade.console.registries.credentials import CredentialBox, RegistryCredentials
from stockade.console.registries.distribution import parse_registry_url, valid_repository
from stockade.console.registries.model import DEFAULT_TAG_LIMIT
from stockade.console.registries.scheduler import RegistryScheduler
from stockade.console.roles import Permission
from stockade.console.store.models import Registry, RegistryImage, RegistryScanRun
from stockade.console.store.queries import Page
from stockade.core.errors import UsageError

__all__ = ["SCHEDULERS", "router"]

router = APIRouter(prefix="/api/v1", tags=["registries"])

SCHEDULERS: dict[int, RegistryScheduler] = {}
"""The running scheduler of each started app, by ``id(context)`` (to wake it)."""

ItemId = Annotated[int, Path(ge=1, le=2**62)]
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
Url = Annotated[str, Field(min_length=8, max_length=512)]
Glob = Annotated[str, Field(min_length=1, max_length=255)]
Repository = Annotated[str, Field(min_length=1, max_length=255)]
TagLimit = Annotated[int, Field(ge=1, le=100)]
Interval = Annotated[int, Field(ge=1, le=60 * 24 * 31)]
DEFAULT_INTERVAL_MINUTES = 60 * 24


class InvalidRegistry(ConsoleError):
    http_status = 422
    title = "Invalid registry"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CredentialsIn(_In):
    username: Annotated[str, Field(min_length=1, max_length=256)]
    password: Annotated[str, Field(min_length=1, max_length=4096)]
    """A password or an access token; for Bearer registries the token service gets them."""


class RegistryCreate(_In):
    name: Name
    url: Url = Field(description="https://host[:port]; http:// for a local registry only")
    repositories: Annotated[list[Repository], Field(max_length=1000)] = Field(
        default_factory=list, description="repositories to scan; empty: the catalog's"
    )
    include: Annotated[list[Glob], Field(max_length=100)] = Field(default_factory=list)
    exclude: Annotated[list[Glob], Field(max_length=100)] = Field(default_factory=list)
    tagLimit: TagLimit = DEFAULT_TAG_LIMIT
    intervalMinutes: Interval = DEFAULT_INTERVAL_MINUTES
    enabled: bool = True
    credentials: CredentialsIn | None = None


class RegistryChange(_In):
    """Fields to change; ``credentials: null`` removes them, leaving it out keeps them."""

    name: Name | None = None
    url: Url | None = None
    repositories: Annotated[list[Repository], Field(max_length=1000)] | None = None
    include: Annotated[list[Glob], Field(max_length=100)] | None = None
    exclude: Annotated[list[Glob], Field(max_length=100)] | None = None
    tagLimit: TagLimit | None = None
    intervalMinutes: Interval | None = None
    enabled: bool | None = None
    credentials: CredentialsIn | None = None


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunError(_Out):
    image: str
    error: str


class RunOut(_Out):
    id: int
    registryId: int
    trigger: Literal["manual", "schedule", "advisories"]
    status: Literal["queued", "running", "completed", "failed"]
    requestedBy: str
    queuedAt: dt.datetime
    startedAt: dt.datetime | None
    finishedAt: dt.datetime | None
    advisoryVersion: str | None
    repositories: int
    imagesFound: int
    imagesScanned: int
    imagesSkipped: int
    imagesFailed: int
    errors: list[RunError]
    error: str | None


class RunPage(_Out):
    items: list[RunOut]
    total: int
    limit: int
    offset: int


class RegistryOut(_Out):
    id: int
    name: str
    url: str
    repositories: list[str]
    include: list[str]
    exclude: list[str]
    tagLimit: int
    intervalMinutes: int
    enabled: bool
    hasCredentials: bool
    nextScanAt: dt.datetime | None
    scanning: bool
    advisoryVersion: str | None
    lastRun: RunOut | None
    createdAt: dt.datetime
    updatedAt: dt.datetime
    updatedBy: str


class RegistryList(_Out):
    items: list[RegistryOut]


class RegistryImageOut(_Out):
    repository: str
    tag: str
    digest: str
    imageDigest: str | None
    created: dt.datetime | None
    advisoryVersion: str | None
    scanId: int | None
    scannedAt: dt.datetime | None
    lastSeenAt: dt.datetime


class RegistryImagePage(_Out):
    items: list[RegistryImageOut]
    total: int
    limit: int
    offset: int


def _run(run: RegistryScanRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "registryId": run.registry_id,
        "trigger": run.trigger,
        "status": run.status,
        "requestedBy": run.requested_by,
        "queuedAt": run.queued_at,
        "startedAt": run.started_at,
        "finishedAt": run.finished_at,
        "advisoryVersion": run.advisory_version,
        "repositories": run.repositories,
        "imagesFound": run.images_found,
        "imagesScanned": run.images_scanned,
        "imagesSkipped": run.images_skipped,
        "imagesFailed": run.images_failed,
        "errors": list(run.errors or []),
        "error": run.error,
    }


def _registry(session: Session, registry: Registry, now: dt.datetime) -> dict[str, Any]:
    last = session.scalars(
        select(RegistryScanRun)
        .where(RegistryScanRun.registry_id == registry.id)
        .order_by(RegistryScanRun.id.desc())
        .limit(1)
    ).first()
    return {
        "id": registry.id,
        "name": registry.name,
        "url": registry.url,
        "repositories": list(registry.repositories),
        "include": list(registry.include),
        "exclude": list(registry.exclude),
        "tagLimit": registry.tag_limit,
        "intervalMinutes": registry.interval_minutes,
        "enabled": registry.enabled,
        "hasCredentials": registry.credentials is not None,
        "nextScanAt": registry.next_scan_at,
        "scanning": registry.lease_until is not None and registry.lease_until > now,
        "advisoryVersion": registry.advisory_version,
        "lastRun": _run(last) if last is not None else None,
        "createdAt": registry.created_at,
        "updatedAt": registry.updated_at,
        "updatedBy": registry.updated_by,
    }


def _url(url: str) -> str:
    try:
        address = parse_registry_url(url)
    except UsageError as exc:
        raise InvalidRegistry(exc.message, exc.hint) from exc
    return f"{'http' if address.insecure else 'https'}://{url.split('://', 1)[1].rstrip('/')}"


def _repositories(names: list[str]) -> list[str]:
    for name in names:
        if not valid_repository(name):
            raise InvalidRegistry(
                f"{name[:100]!r} is not a repository name",
                "a repository is lowercase path components such as team/app "
                "(library/alpine on Docker Hub)",
            )
    return list(dict.fromkeys(names))


def _sealed(context: ConsoleContext, credentials: CredentialsIn) -> str:
    box = CredentialBox(context.config.data_dir)
    return box.seal(RegistryCredentials(credentials.username, credentials.password))


def _name_free(session: Session, name: str, registry_id: int | None = None) -> None:
    query = select(Registry.id).where(Registry.name == name)
    if registry_id is not None:
        query = query.where(Registry.id != registry_id)
    if session.scalars(query).first() is not None:
        raise Conflict(f"a registry named {name!r} exists", "choose another name")


def _get(session: Session, registry_id: int) -> Registry:
    registry = session.get(Registry, registry_id)
    if registry is None:
        raise NotFound(f"no registry with id {registry_id}")
    return registry


def _settings(registry: Registry) -> dict[str, Any]:
    """What the audit log records of a registry: never its credentials."""
    return {
        "url": registry.url,
        "repositories": list(registry.repositories),
        "include": list(registry.include),
        "exclude": list(registry.exclude),
        "tagLimit": registry.tag_limit,
        "intervalMinutes": registry.interval_minutes,
        "enabled": registry.enabled,
    }


@router.get("/registries", response_model=RegistryList)
@requires(Permission.READ)
def list_registries(context: Context) -> Any:
    now = context.clock()
    with context.store.read() as session:
        rows = session.scalars(select(Registry).order_by(Registry.name)).all()
        return {"items": [_registry(session, r, now) for r in rows]}


@router.post("/registries", status_code=201, response_model=RegistryOut, responses={409: {}})
@requires(Permission.ADMINISTER)
def create_registry(body: RegistryCreate, caller: Caller, context: Context, remote: Remote) -> Any:
    """Register a registry. Its first scan is due at once (when enabled)."""
    now = context.clock()
    url = _url(body.url)
    repositories = _repositories(body.repositories)
    sealed = _sealed(context, body.credentials) if body.credentials else None
    with context.store.write() as session:
        _name_free(session, body.name)
        registry = Registry(
            name=body.name,
            url=url,
            repositories=repositories,
            include=list(body.include),
            exclude=list(body.exclude),
            tag_limit=body.tagLimit,
            interval_minutes=body.intervalMinutes,
            enabled=body.enabled,
            credentials=sealed,
            next_scan_at=now,
            created_at=now,
            updated_at=now,
            updated_by=caller.label,
        )
        session.add(registry)
        session.flush()
        audit.record(
            session,
            actor=caller.label,
            action="registry.create",
            target=f"registry:{registry.name}",
            now=now,
            detail={**_settings(registry), "credentials": "set" if sealed else "none"},
            remote=remote,
        )
        answer = _registry(session, registry, now)
    _wake(context)
    return answer


@router.get("/registries/{registry_id}", response_model=RegistryOut, responses={404: {}})
@requires(Permission.READ)
def get_registry(registry_id: ItemId, context: Context) -> Any:
    with context.store.read() as session:
        return _registry(session, _get(session, registry_id), context.clock())


@router.patch("/registries/{registry_id}", response_model=RegistryOut, responses={404: {}, 409: {}})
@requires(Permission.ADMINISTER)
def change_registry(
    registry_id: ItemId, body: RegistryChange, caller: Caller, context: Context, remote: Remote
) -> Any:
    now = context.clock()
    given = body.model_fields_set
    url = _url(body.url) if body.url is not None else None
    repositories = _repositories(body.repositories) if body.repositories is not None else None
    sealed = _sealed(context, body.credentials) if body.credentials is not None else None
    with context.store.write() as session:
        registry = _get(session, registry_id)
        before = _settings(registry)
        if body.name is not None and body.name != registry.name:
            _name_free(session, body.name, registry.id)
            registry.name = body.name
        if url is not None:
            registry.url = url
        if repositories is not None:
            registry.repositories = repositories
        if body.include is not None:
            registry.include = list(body.include)
        if body.exclude is not None:
            registry.exclude = list(body.exclude)
        if body.tagLimit is not None:
            registry.tag_limit = body.tagLimit
        if body.intervalMinutes is not None:
            registry.interval_minutes = body.intervalMinutes
            registry.next_scan_at = min(
                registry.next_scan_at or now, now + dt.timedelta(minutes=body.intervalMinutes)
            )
        if body.enabled is not None:
            registry.enabled = body.enabled
        credentials = None
        if "credentials" in given:
            credentials = "set" if sealed else "removed"
            registry.credentials = sealed
        after = _settings(registry)
        changes: dict[str, Any] = {
            key: {"from": before[key], "to": after[key]}
            for key in after
            if before[key] != after[key]
        }
        if credentials:
            changes["credentials"] = credentials
        if changes:
            registry.updated_at = now
            registry.updated_by = caller.label
            audit.record(
                session,
                actor=caller.label,
                action="registry.change",
                target=f"registry:{registry.name}",
                now=now,
                detail=changes,
                remote=remote,
            )
        return _registry(session, registry, now)


@router.delete(
    "/registries/{registry_id}", status_code=204, response_class=Response, responses={404: {}}
)
@requires(Permission.ADMINISTER)
def delete_registry(
    registry_id: ItemId, caller: Caller, context: Context, remote: Remote
) -> Response:
    """Forget a registry and its runs. Scans already stored stay (they are images' history)."""
    now = context.clock()
    with context.store.write() as session:
        registry = _get(session, registry_id)
        session.delete(registry)
        audit.record(
            session,
            actor=caller.label,
            action="registry.delete",
            target=f"registry:{registry.name}",
            now=now,
            remote=remote,
        )
    return Response(status_code=204)


@router.post(
    "/registries/{registry_id}/scan", status_code=202, response_model=RunOut, responses={404: {}}
)
@requires(Permission.OPERATE)
def scan_registry(registry_id: ItemId, caller: Caller, context: Context) -> Any:
    """Queue a scan now (a disabled registry too). A scan already queued is answered
    instead of queueing another; follow it at ``/registries/{id}/runs/{runId}``."""
    now = context.clock()
    with context.store.write() as session:
        _get(session, registry_id)
        run = session.scalars(
            select(RegistryScanRun).where(
                RegistryScanRun.registry_id == registry_id, RegistryScanRun.status == "queued"
            )
        ).first()
        if run is None:
            run = RegistryScanRun(
                registry_id=registry_id,
                trigger="manual",
                status="queued",
                requested_by=caller.label,
                queued_at=now,
                repositories=0,
                images_found=0,
                images_scanned=0,
                images_skipped=0,
                images_failed=0,
                errors=[],
            )
            session.add(run)
            session.flush()
        answer = _run(run)
    _wake(context)
    return answer


@router.get(
    "/registries/{registry_id}/runs",
    response_model=RunPage,
    responses={404: {}, **CSV_RESPONSE},
)
@requires(Permission.READ)
def list_runs(registry_id: ItemId, context: Context, page: Paging) -> Any:
    """The registry's scan runs, newest first."""
    with context.store.read() as session:
        _get(session, registry_id)
        where = RegistryScanRun.registry_id == registry_id
        total = session.scalar(select(func.count()).select_from(RegistryScanRun).where(where))
        runs = session.scalars(
            select(RegistryScanRun)
            .where(where)
            .order_by(RegistryScanRun.id.desc())
            .limit(page.limit)
            .offset(page.offset)
        ).all()
        result = Page([_run(r) for r in runs], int(total or 0), page.limit, page.offset)
    return respond(result, page, "registry-runs")


@router.get("/registries/{registry_id}/runs/{run_id}", response_model=RunOut, responses={404: {}})
@requires(Permission.READ)
def get_run(registry_id: ItemId, run_id: ItemId, context: Context) -> Any:
    with context.store.read() as session:
        run = session.get(RegistryScanRun, run_id)
        if run is None or run.registry_id != registry_id:
            raise NotFound(f"no run {run_id} of registry {registry_id}")
        return _run(run)


@router.get(
    "/registries/{registry_id}/images",
    response_model=RegistryImagePage,
    responses={404: {}, **CSV_RESPONSE},
)
@requires(Permission.READ)
def list_images(registry_id: ItemId, context: Context, page: Paging) -> Any:
    """The tags the last runs picked, with the manifest each named and its stored scan."""
    with context.store.read() as session:
        _get(session, registry_id)
        where = RegistryImage.registry_id == registry_id
        total = session.scalar(select(func.count()).select_from(RegistryImage).where(where))
        rows = session.scalars(
            select(RegistryImage)
            .where(where)
            .order_by(RegistryImage.repository, RegistryImage.tag)
            .limit(page.limit)
            .offset(page.offset)
        ).all()
        items = [
            {
                "repository": r.repository,
                "tag": r.tag,
                "digest": r.digest,
                "imageDigest": r.image_digest,
                "created": r.created,
                "advisoryVersion": r.advisory_version,
                "scanId": r.scan_id,
                "scannedAt": r.scanned_at,
                "lastSeenAt": r.last_seen_at,
            }
            for r in rows
        ]
    return respond(Page(items, int(total or 0), page.limit, page.offset), page, "registry-images")


def _wake(context: ConsoleContext) -> None:
    scheduler = SCHEDULERS.get(id(context))
    if scheduler is not None:
        scheduler.wake()
