"""Reading: images, hosts, scans, findings, vulnerabilities, compliance, search, metrics.

Every list takes ``limit``/``offset`` and ``format=csv`` (a download of that page).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import PlainTextResponse, Response

from stockade.console import metrics
from stockade.console.api.access import requires
from stockade.console.api.deps import Context
from stockade.console.api.listing import CSV_RESPONSE, Paging, respond
from stockade.console.api.schemas import (
    CheckSummaryPage,
    ComplianceResultPage,
    EventPage,
    FindingPage,
    HostPage,
    ImageDetail,
    ImagePage,
    ImpactPage,
    PackagePage,
    RisksOut,
    ScanDetail,
    ScanPage,
    SearchOut,
    VulnerabilityPage,
)
from stockade.console.documents import SeverityWord
from stockade.console.roles import Permission
from stockade.console.store import queries
from stockade.console.store.ingest import severity_rank

router = APIRouter(prefix="/api/v1", tags=["explore"])
metrics_router = APIRouter(tags=["metrics"])

Search = Annotated[str | None, Query(min_length=1, max_length=256, description="contains")]
MinSeverity = Annotated[SeverityWord | None, Query(description="only this severity and worse")]
Digest = Annotated[str, Path(min_length=1, max_length=256)]
ScanId = Annotated[int, Path(ge=1, le=2**62)]


def _rank(word: SeverityWord | None) -> int | None:
    return None if word is None else severity_rank(word)


@router.get("/images", response_model=ImagePage, responses=CSV_RESPONSE)
@requires(Permission.READ)
def list_images(
    *,
    context: Context,
    page: Paging,
    q: Search = None,
    severity: MinSeverity = None,
    fixable: bool | None = None,
    sort: Literal["risk", "name", "lastScanned", "critical"] = "risk",
) -> Any:
    """Images with the severity counts of their latest scan."""
    with context.store.read() as session:
        result = queries.list_images(
            session,
            limit=page.limit,
            offset=page.offset,
            q=q,
            min_severity=_rank(severity),
            fixable=fixable,
            sort=sort,
        )
    return respond(result, page, "images")


@router.get("/images/{digest}", response_model=ImageDetail)
@requires(Permission.READ)
def get_image(digest: Digest, context: Context) -> Any:
    """One image: its tags and latest scan."""
    with context.store.read() as session:
        return queries.get_image(session, digest)


@router.get("/images/{digest}/findings", response_model=FindingPage, responses=CSV_RESPONSE)
@requires(Permission.READ)
def image_findings(
    *,
    digest: Digest,
    context: Context,
    page: Paging,
    severity: MinSeverity = None,
    fixable: bool | None = None,
    suppressed: bool = False,
    q: Search = None,
) -> Any:
    """The findings of the image's latest scan, worst first."""
    with context.store.read() as session:
        scan_id = queries.latest_scan_id_of_image(session, digest)
        result = queries.list_findings(
            session,
            scan_id,
            limit=page.limit,
            offset=page.offset,
            min_severity=_rank(severity),
            fixable=fixable,
            include_suppressed=suppressed,
            q=q,
        )
    return respond(result, page, "findings")


@router.get("/hosts", response_model=HostPage, responses=CSV_RESPONSE)
@requires(Permission.READ)
def list_hosts(context: Context, page: Paging, q: Search = None) -> Any:
    with context.store.read() as session:
        result = queries.list_hosts(session, limit=page.limit, offset=page.offset, q=q)
    return respond(result, page, "hosts")


@router.get("/scans", response_model=ScanPage, responses=CSV_RESPONSE)
@requires(Permission.READ)
def list_scans(
    context: Context,
    page: Paging,
    image: Annotated[str | None, Query(max_length=256, description="image digest")] = None,
    host: Annotated[str | None, Query(max_length=256)] = None,
    kind: Literal["vulnerabilities", "compliance"] | None = None,
) -> Any:
    """Scan history, newest first."""
    with context.store.read() as session:
        result = queries.list_scans(
            session, limit=page.limit, offset=page.offset, image=image, host=host, kind=kind
        )
    return respond(result, page, "scans")


@router.get("/scans/{scan_id}", response_model=ScanDetail)
@requires(Permission.READ)
def get_scan(scan_id: ScanId, context: Context) -> Any:
    with context.store.read() as session:
        return queries.get_scan(session, scan_id)


@router.get("/scans/{scan_id}/findings", response_model=FindingPage, responses=CSV_RESPONSE)
@requires(Permission.READ)
def scan_findings(
    *,
    scan_id: ScanId,
    context: Context,
    page: Paging,
    severity: MinSeverity = None,
    fixable: bool | None = None,
    suppressed: bool = False,
    q: Search = None,
) -> Any:
    with context.store.read() as session:
        result = queries.list_findings(
            session,
            scan_id,
            limit=page.limit,
            offset=page.offset,
            min_severity=_rank(severity),
            fixable=fixable,
            include_suppressed=suppressed,
            q=q,
        )
    return respond(result, page, "findings")


@router.get("/scans/{scan_id}/packages", response_model=PackagePage, responses=CSV_RESPONSE)
@requires(Permission.READ)
def scan_packages(scan_id: ScanId, context: Context, page: Paging, q: Search = None) -> Any:
    with context.store.read() as session:
        result = queries.list_packages(session, scan_id, limit=page.limit, offset=page.offset, q=q)
    return respond(result, page, "packages")


@router.get("/scans/{scan_id}/results", response_model=ComplianceResultPage, responses=CSV_RESPONSE)
@requires(Permission.READ)
def scan_results(
    scan_id: ScanId,
    context: Context,
    page: Paging,
    status: Literal["passed", "failed", "skipped"] | None = None,
) -> Any:
    """The compliance results of one check result."""
    with context.store.read() as session:
        queries.get_scan(session, scan_id)
        result = queries.compliance_results(
            session, limit=page.limit, offset=page.offset, scan_id=scan_id, status=status
        )
    return respond(result, page, "results")


@router.get("/vulnerabilities", response_model=VulnerabilityPage, responses=CSV_RESPONSE)
@requires(Permission.READ)
def list_vulnerabilities(
    context: Context,
    page: Paging,
    severity: MinSeverity = None,
    q: Search = None,
    sort: Literal["impact", "severity"] = "impact",
) -> Any:
    """Vulnerabilities in images' latest scans, with how many images each impacts."""
    with context.store.read() as session:
        result = queries.list_vulnerabilities(
            session,
            limit=page.limit,
            offset=page.offset,
            min_severity=_rank(severity),
            q=q,
            sort=sort,
        )
    return respond(result, page, "vulnerabilities")


@router.get("/vulnerabilities/{vuln_id}", response_model=ImpactPage, responses=CSV_RESPONSE)
@requires(Permission.READ)
def vulnerability_impact(
    vuln_id: Annotated[str, Path(min_length=1, max_length=128)], context: Context, page: Paging
) -> Any:
    """The images a vulnerability (advisory id or CVE) impacts, and how."""
    with context.store.read() as session:
        result = queries.vulnerability_impact(
            session, vuln_id, limit=page.limit, offset=page.offset
        )
    return respond(result, page, "impact")


@router.get("/risks", response_model=RisksOut)
@requires(Permission.READ)
def top_risks(context: Context, limit: Annotated[int, Query(ge=1, le=100)] = 10) -> Any:
    """The riskiest images, and the worst vulnerabilities by images impacted."""
    with context.store.read() as session:
        return queries.top_risks(session, limit=limit)


@router.get("/compliance", response_model=CheckSummaryPage, responses=CSV_RESPONSE)
@requires(Permission.READ)
def compliance_by_check(context: Context, page: Paging, q: Search = None) -> Any:
    """Checks over each target's latest result: how many fail and pass."""
    with context.store.read() as session:
        result = queries.compliance_by_check(session, limit=page.limit, offset=page.offset, q=q)
    return respond(result, page, "compliance")


@router.get("/compliance/{check_id}", response_model=ComplianceResultPage, responses=CSV_RESPONSE)
@requires(Permission.READ)
def compliance_check(
    check_id: Annotated[str, Path(min_length=1, max_length=128)],
    context: Context,
    page: Paging,
    status: Literal["passed", "failed", "skipped"] | None = None,
) -> Any:
    """One check's results over each target's latest result."""
    with context.store.read() as session:
        result = queries.compliance_results(
            session, limit=page.limit, offset=page.offset, check_id=check_id, status=status
        )
    return respond(result, page, "compliance-results")


@router.get("/search", response_model=SearchOut)
@requires(Permission.READ)
def search(
    context: Context,
    q: Annotated[str, Query(min_length=1, max_length=256)],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Any:
    """Images, vulnerabilities and packages whose name or id contains ``q``."""
    with context.store.read() as session:
        return queries.search(session, q, limit=limit)


@router.get("/events", response_model=EventPage, responses=CSV_RESPONSE)
@requires(Permission.READ)
def list_events(
    context: Context, page: Paging, host: Annotated[str | None, Query(max_length=256)] = None
) -> Any:
    """Runtime events Defenders pushed, newest first."""
    with context.store.read() as session:
        result = queries.list_events(session, limit=page.limit, offset=page.offset, host=host)
    return respond(result, page, "events")


@metrics_router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
@requires(Permission.READ)
def prometheus_metrics(context: Context) -> Response:
    """Prometheus text format. Needs a token whose role may read (auditor is enough)."""
    with context.store.read() as session:
        counts = queries.overview_counts(session)
    return Response(metrics.render(counts, context.counters), media_type=metrics.CONTENT_TYPE)
