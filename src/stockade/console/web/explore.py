"""The pages that read: dashboard, images, findings, vulnerabilities, compliance, hosts,
incidents. Each list is one call of a paged, indexed query in ``store/queries.py`` and
links to the API's CSV download of the same list."""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter, Request
from starlette.responses import Response

from stockade.console.api.access import requires
from stockade.console.errors import NotFound
from stockade.console.roles import Permission
from stockade.console.store import queries
from stockade.console.store.ingest import severity_rank
from stockade.console.web import queries as web_queries
from stockade.console.web.params import SEVERITIES, choice, listing, text, yes_no
from stockade.console.web.render import segment
from stockade.console.web.view import View

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

IMAGE_SORTS: Final = ("risk", "name", "lastScanned", "critical")
VULNERABILITY_SORTS: Final = ("impact", "severity")
STATUSES: Final = ("failed", "passed", "skipped")
YES_NO: Final = ("yes", "no")
DASHBOARD_ROWS: Final = 8


def _rank(word: str) -> int | None:
    return severity_rank(word) if word else None


def _api_bool(word: str) -> str | None:
    return {"yes": "true", "no": "false"}.get(word)


def severity_bar(counts: dict[str, int]) -> list[dict[str, Any]]:
    """The severity totals as segments of one bar (percentages of its width)."""
    total = sum(counts.values())
    segments, start = [], 0.0
    for word in SEVERITIES:
        share = 100.0 * counts.get(word, 0) / total if total else 0.0
        if share:
            segments.append({"severity": word, "x": round(start, 3), "width": round(share, 3)})
        start += share
    return segments


def event_summary(event: dict[str, Any]) -> dict[str, Any]:
    """What a person reads first about a runtime event, from the fields Defenders send."""
    payload = event.get("payload") or {}

    def field(*names: str) -> str:
        for name in names:
            value = payload.get(name)
            if isinstance(value, str | int | float) and str(value):
                return str(value)[:500]
        return ""

    return {
        **event,
        "priority": field("priority", "severity").lower(),
        "title": field("title", "output", "message", "rule") or event["kind"],
        "rule": field("rule"),
        "subject": field("container", "image", "process", "namespace"),
    }


@router.get("/")
@requires(Permission.READ)
def dashboard(view: View) -> Response:
    with view.context.store.read() as session:
        counts = queries.overview_counts(session)
        risky = queries.list_images(session, limit=DASHBOARD_ROWS, offset=0, sort="risk")
        scans = queries.list_scans(session, limit=DASHBOARD_ROWS, offset=0)
        events = web_queries.recent_events(session, limit=5)
    return view.page(
        "dashboard.html",
        active="dashboard",
        title="Dashboard",
        counts=counts,
        bar=severity_bar(counts["latestFindings"]),
        risky=risky.items,
        scans=scans.items,
        events=[event_summary(e) for e in events],
    )


@router.get("/images")
@requires(Permission.READ)
def images(request: Request, view: View) -> Response:
    q = text(request, "q")
    severity = choice(request, "severity", SEVERITIES)
    fixable = choice(request, "fixable", YES_NO)
    sort = choice(request, "sort", IMAGE_SORTS, "risk")
    page = listing(
        request,
        {"q": q, "severity": severity, "fixable": fixable, "sort": "" if sort == "risk" else sort},
    )
    with view.context.store.read() as session:
        page.fill(
            queries.list_images(
                session,
                limit=page.size,
                offset=page.offset,
                q=q or None,
                min_severity=_rank(severity),
                fixable=yes_no(fixable),
                sort=sort,
            )
        )
    return view.page(
        "images.html",
        active="images",
        title="Images",
        rows=page,
        q=q,
        severity=severity,
        fixable=fixable,
        sort=sort,
        sorts=IMAGE_SORTS,
        csv=page.csv(
            "/api/v1/images", q=q, severity=severity, fixable=_api_bool(fixable), sort=sort
        ),
    )


@router.get("/images/{digest}")
@requires(Permission.READ)
def image(digest: str, request: Request, view: View) -> Response:
    severity = choice(request, "severity", SEVERITIES)
    fixable = choice(request, "fixable", YES_NO)
    suppressed = choice(request, "suppressed", ("yes",))
    q = text(request, "q")
    path = "/images/" + segment(digest)
    page = listing(
        request,
        {"q": q, "severity": severity, "fixable": fixable, "suppressed": suppressed},
        path,
    )
    with view.context.store.read() as session:
        try:
            found = queries.get_image(session, digest)
        except NotFound:
            return view.not_found("images", "There is no image with this digest.")
        if found["latestScanId"] is not None:
            page.fill(
                queries.list_findings(
                    session,
                    found["latestScanId"],
                    limit=page.size,
                    offset=page.offset,
                    min_severity=_rank(severity),
                    fixable=yes_no(fixable),
                    include_suppressed=suppressed == "yes",
                    q=q or None,
                )
            )
        history = queries.list_scans(session, limit=5, offset=0, image=digest)
    return view.page(
        "image.html",
        active="images",
        title=found["name"],
        image=found,
        history=history,
        rows=page,
        q=q,
        severity=severity,
        fixable=fixable,
        suppressed=suppressed,
        csv=page.csv(
            f"/api/v1/images/{segment(digest)}/findings",
            q=q,
            severity=severity,
            fixable=_api_bool(fixable),
            suppressed="true" if suppressed else None,
        ),
    )


@router.get("/vulnerabilities")
@requires(Permission.READ)
def vulnerabilities(request: Request, view: View) -> Response:
    q = text(request, "q")
    severity = choice(request, "severity", SEVERITIES)
    sort = choice(request, "sort", VULNERABILITY_SORTS, "impact")
    page = listing(
        request, {"q": q, "severity": severity, "sort": "" if sort == "impact" else sort}
    )
    with view.context.store.read() as session:
        page.fill(
            queries.list_vulnerabilities(
                session,
                limit=page.size,
                offset=page.offset,
                min_severity=_rank(severity),
                q=q or None,
                sort=sort,
            )
        )
    return view.page(
        "vulnerabilities.html",
        active="vulnerabilities",
        title="Vulnerabilities",
        rows=page,
        q=q,
        severity=severity,
        sort=sort,
        sorts=VULNERABILITY_SORTS,
        csv=page.csv("/api/v1/vulnerabilities", q=q, severity=severity, sort=sort),
    )


@router.get("/vulnerabilities/{vuln_id}")
@requires(Permission.READ)
def vulnerability(vuln_id: str, request: Request, view: View) -> Response:
    path = "/vulnerabilities/" + segment(vuln_id)
    page = listing(request, {}, path)
    with view.context.store.read() as session:
        page.fill(
            queries.vulnerability_impact(session, vuln_id, limit=page.size, offset=page.offset)
        )
        first = page.items[0]["finding"] if page.items else None
        if first is None and page.offset:
            first_page = queries.vulnerability_impact(session, vuln_id, limit=1, offset=0)
            first = first_page.items[0]["finding"] if first_page.items else None
    if first is None:
        return view.not_found("vulnerabilities", "No image's latest scan has this vulnerability.")
    return view.page(
        "vulnerability.html",
        active="vulnerabilities",
        title=vuln_id,
        vuln_id=vuln_id,
        about=first,
        rows=page,
        csv=page.csv(f"/api/v1/vulnerabilities/{segment(vuln_id)}"),
    )


@router.get("/compliance")
@requires(Permission.READ)
def compliance(request: Request, view: View) -> Response:
    q = text(request, "q")
    page = listing(request, {"q": q})
    with view.context.store.read() as session:
        page.fill(
            queries.compliance_by_check(session, limit=page.size, offset=page.offset, q=q or None)
        )
    return view.page(
        "compliance.html",
        active="compliance",
        title="Compliance",
        rows=page,
        q=q,
        csv=page.csv("/api/v1/compliance", q=q),
    )


@router.get("/compliance/{check_id}")
@requires(Permission.READ)
def compliance_check(check_id: str, request: Request, view: View) -> Response:
    status = choice(request, "status", STATUSES)
    path = "/compliance/" + segment(check_id)
    page = listing(request, {"status": status}, path)
    with view.context.store.read() as session:
        page.fill(
            queries.compliance_results(
                session,
                limit=page.size,
                offset=page.offset,
                check_id=check_id,
                status=status or None,
            )
        )
        about = page.items[0] if page.items else None
        if about is None:
            any_result = queries.compliance_results(session, limit=1, offset=0, check_id=check_id)
            about = any_result.items[0] if any_result.items else None
    if about is None:
        return view.not_found("compliance", "No target's latest result has this check.")
    return view.page(
        "check.html",
        active="compliance",
        title=check_id,
        check_id=check_id,
        about=about,
        rows=page,
        result_status=status,
        statuses=STATUSES,
        csv=page.csv(f"/api/v1/compliance/{segment(check_id)}", status=status),
    )


@router.get("/hosts")
@requires(Permission.READ)
def hosts(request: Request, view: View) -> Response:
    q = text(request, "q")
    page = listing(request, {"q": q})
    with view.context.store.read() as session:
        page.fill(queries.list_hosts(session, limit=page.size, offset=page.offset, q=q or None))
    return view.page(
        "hosts.html",
        active="hosts",
        title="Hosts",
        rows=page,
        q=q,
        csv=page.csv("/api/v1/hosts", q=q),
    )


@router.get("/incidents")
@requires(Permission.READ)
def incidents(request: Request, view: View) -> Response:
    host = text(request, "host")
    page = listing(request, {"host": host})
    with view.context.store.read() as session:
        page.fill(
            queries.list_events(session, limit=page.size, offset=page.offset, host=host or None)
        )
    page.items = [event_summary(e) for e in page.items]
    return view.page(
        "incidents.html",
        active="incidents",
        title="Incidents",
        rows=page,
        host=host,
        csv=page.csv("/api/v1/events", host=host),
    )
