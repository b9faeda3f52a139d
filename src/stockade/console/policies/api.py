"""The policy API: collections, ordered rules, the rule that applies to an artifact,
fix dates, artifact context, and verdicts.

Reading needs ``read`` (``read-policy`` for what CI asks: the effective rule and fix
dates), changing collections and rules needs ``operate``; every change is audited.
Publishers (``publish``) may set the namespace and labels of what they publish.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from stockade.console.api.access import requires
from stockade.console.api.deps import Caller, Context, Remote
from stockade.console.api.listing import CSV_RESPONSE, Paging, respond
from stockade.console.errors import Conflict, ConsoleError, NotFound
from stockade.console.identity import audit
from stockade.console.policies import storage
from stockade.console.policies.model import (
    ALL,
    ALL_COLLECTION,
    Subject,
    first_matching_rule,
    parse_severity,
    rule_to_json,
)
from stockade.console.policies.schemas import (
    NAME_PATTERN,
    CollectionChange,
    CollectionCreate,
    CollectionList,
    CollectionOut,
    ContextIn,
    ContextOut,
    EffectiveOut,
    FixDatesIn,
    FixDatesOut,
    Kind,
    OutcomeWord,
    RuleChange,
    RuleCreate,
    RuleList,
    RuleOut,
    VerdictOut,
    VerdictPage,
)
from stockade.console.roles import Permission
from stockade.console.store.models import (
    PolicyCollection,
    PolicyContext,
    PolicyRule,
    PolicyVerdict,
    Scan,
)
from stockade.console.store.queries import Page

__all__ = ["PolicyInvalid", "router"]

router = APIRouter(prefix="/api/v1", tags=["policies"])

NamePath = Annotated[str, Path(pattern=NAME_PATTERN, max_length=64)]
ScanId = Annotated[int, Path(ge=1, le=2**62)]
Many = Annotated[list[str], Query(max_length=64)]


class PolicyInvalid(ConsoleError):
    """A collection or rule that cannot be stored as given."""

    http_status = 422
    title = "Invalid policy"


# --- collections ---


def _used_by(session: Session) -> dict[str, list[str]]:
    uses: dict[str, list[str]] = {}
    for rule in session.scalars(select(PolicyRule).order_by(PolicyRule.kind, PolicyRule.position)):
        for name in rule.collections or [ALL_COLLECTION]:
            uses.setdefault(name, []).append(f"{rule.kind}/{rule.name}")
    return uses


def _collection_out(row: PolicyCollection, used_by: list[str]) -> dict[str, Any]:
    return {
        "name": row.name,
        "description": row.description,
        "images": row.images,
        "hosts": row.hosts,
        "namespaces": row.namespaces,
        "labels": row.labels,
        "builtIn": False,
        "usedBy": used_by,
        "createdAt": row.created_at,
        "updatedAt": row.updated_at,
        "updatedBy": row.updated_by,
    }


def _builtin_out(used_by: list[str]) -> dict[str, Any]:
    return {
        "name": ALL.name,
        "description": ALL.description,
        "images": [],
        "hosts": [],
        "namespaces": [],
        "labels": [],
        "builtIn": True,
        "usedBy": used_by,
        "createdAt": None,
        "updatedAt": None,
        "updatedBy": None,
    }


def _collection_body(body: CollectionChange) -> dict[str, Any]:
    return {
        "description": body.description,
        "images": list(dict.fromkeys(body.images)),
        "hosts": list(dict.fromkeys(body.hosts)),
        "namespaces": list(dict.fromkeys(body.namespaces)),
        "labels": list(dict.fromkeys(body.labels)),
    }


def _collection_row(session: Session, name: str) -> PolicyCollection:
    if name == ALL_COLLECTION:
        raise Conflict(f"the collection {ALL_COLLECTION!r} is built in and cannot be changed")
    row = session.scalars(select(PolicyCollection).where(PolicyCollection.name == name)).first()
    if row is None:
        raise NotFound(f"no collection named {name!r}")
    return row


@router.get("/policies/collections", response_model=CollectionList)
@requires(Permission.READ)
def list_collections(context: Context) -> Any:
    """Every collection, the built-in ``all`` first, with the rules that use each."""
    with context.store.read() as session:
        uses = _used_by(session)
        rows = session.scalars(select(PolicyCollection).order_by(PolicyCollection.name))
        items = [_builtin_out(uses.get(ALL_COLLECTION, []))]
        items.extend(_collection_out(r, uses.get(r.name, [])) for r in rows)
    return {"items": items}


@router.get("/policies/collections/{name}", response_model=CollectionOut)
@requires(Permission.READ)
def get_collection(name: NamePath, context: Context) -> Any:
    with context.store.read() as session:
        uses = _used_by(session).get(name, [])
        if name == ALL_COLLECTION:
            return _builtin_out(uses)
        return _collection_out(_collection_row(session, name), uses)


@router.post(
    "/policies/collections", status_code=201, response_model=CollectionOut, responses={409: {}}
)
@requires(Permission.OPERATE)
def create_collection(
    body: CollectionCreate, caller: Caller, context: Context, remote: Remote
) -> Any:
    now = context.clock()
    if body.name == ALL_COLLECTION:
        raise Conflict(f"the collection {ALL_COLLECTION!r} is built in")
    with context.store.write() as session:
        taken = session.scalars(
            select(PolicyCollection.id).where(PolicyCollection.name == body.name)
        ).first()
        if taken is not None:
            raise Conflict(f"a collection named {body.name!r} exists")
        values = _collection_body(body)
        row = PolicyCollection(
            name=body.name, created_at=now, updated_at=now, updated_by=caller.label, **values
        )
        session.add(row)
        _flush_or_conflict(session, f"a collection named {body.name!r} exists")
        audit.record(
            session,
            actor=caller.label,
            action="policy.collection.create",
            target=f"collection:{body.name}",
            now=now,
            detail=values,
            remote=remote,
        )
        return _collection_out(row, [])


@router.put(
    "/policies/collections/{name}",
    response_model=CollectionOut,
    responses={404: {}, 409: {}},
)
@requires(Permission.OPERATE)
def change_collection(
    name: NamePath, body: CollectionChange, caller: Caller, context: Context, remote: Remote
) -> Any:
    """Replace what a collection matches (its name stays)."""
    now = context.clock()
    with context.store.write() as session:
        row = _collection_row(session, name)
        before = {
            "description": row.description,
            "images": row.images,
            "hosts": row.hosts,
            "namespaces": row.namespaces,
            "labels": row.labels,
        }
        values = _collection_body(body)
        for key, value in values.items():
            setattr(row, key, value)
        row.updated_at = now
        row.updated_by = caller.label
        audit.record(
            session,
            actor=caller.label,
            action="policy.collection.change",
            target=f"collection:{name}",
            now=now,
            detail={"from": before, "to": values},
            remote=remote,
        )
        return _collection_out(row, _used_by(session).get(name, []))


@router.delete(
    "/policies/collections/{name}",
    status_code=204,
    response_class=Response,
    responses={404: {}, 409: {}},
)
@requires(Permission.OPERATE)
def delete_collection(name: NamePath, caller: Caller, context: Context, remote: Remote) -> Response:
    """Delete a collection no rule names."""
    now = context.clock()
    with context.store.write() as session:
        row = _collection_row(session, name)
        users = _used_by(session).get(name, [])
        if users:
            raise Conflict(
                f"the collection {name!r} is used by {', '.join(users)}",
                "take it out of those rules first",
            )
        session.delete(row)
        audit.record(
            session,
            actor=caller.label,
            action="policy.collection.delete",
            target=f"collection:{name}",
            now=now,
            remote=remote,
        )
    return Response(status_code=204)


# --- rules ---


def _rule_out(row: PolicyRule) -> dict[str, Any]:
    return {
        **rule_to_json(storage.rule_from_row(row)),
        "createdAt": row.created_at,
        "updatedAt": row.updated_at,
        "updatedBy": row.updated_by,
    }


def _rule_row(session: Session, kind: str, name: str) -> PolicyRule:
    row = session.scalars(
        select(PolicyRule).where(PolicyRule.kind == kind, PolicyRule.name == name)
    ).first()
    if row is None:
        raise NotFound(f"no {kind} rule named {name!r}")
    return row


def _rule_values(session: Session, kind: Kind, body: RuleChange) -> dict[str, Any]:
    """The columns of a rule, after the checks the schema cannot express."""
    if kind == "compliance" and (body.onlyFixed or body.graceDays):
        raise PolicyInvalid("onlyFixed and graceDays apply to vulnerability rules only")
    if kind == "vulnerabilities" and body.checks:
        raise PolicyInvalid("checks apply to compliance rules only")
    alert = None if body.alertThreshold is None else parse_severity(body.alertThreshold)
    block = None if body.blockThreshold is None else parse_severity(body.blockThreshold)
    if alert is not None and block is not None and block < alert:
        raise PolicyInvalid(
            "the block threshold is below the alert threshold",
            "block at the alert threshold or above it",
        )
    collections = list(dict.fromkeys(body.collections)) or [ALL_COLLECTION]
    known = set(
        session.scalars(select(PolicyCollection.name).where(PolicyCollection.name.in_(collections)))
    )
    missing = [c for c in collections if c != ALL_COLLECTION and c not in known]
    if missing:
        raise PolicyInvalid(
            f"no collection named {', '.join(repr(m) for m in missing)}",
            "create it first (POST /api/v1/policies/collections)",
        )
    return {
        "description": body.description,
        "disabled": body.disabled,
        "collections": collections,
        "alert_severity": None if alert is None else int(alert),
        "block_severity": None if block is None else int(block),
        "only_fixed": body.onlyFixed,
        "grace_days": body.graceDays,
        "count_suppressed": body.countSuppressed,
        "checks": list(dict.fromkeys(body.checks)),
        "exceptions": [
            {
                "id": e.id,
                "reason": e.reason,
                "expires": None if e.expires is None else e.expires.isoformat(),
            }
            for e in body.exceptions
        ],
    }


def _place(session: Session, kind: str, row: PolicyRule, position: int | None) -> None:
    """Put ``row`` at ``position`` (None: where it is, or last when new) and number the
    rules of its kind 1, 2, 3… in order."""
    others = [
        r
        for r in session.scalars(
            select(PolicyRule)
            .where(PolicyRule.kind == kind)
            .order_by(PolicyRule.position, PolicyRule.id)
            .with_for_update()
        )
        if r is not row
    ]
    if position is None:
        current = getattr(row, "position", None)
        position = current if isinstance(current, int) and current > 0 else len(others) + 1
    index = min(max(position, 1), len(others) + 1) - 1
    others.insert(index, row)
    for number, rule in enumerate(others, start=1):
        rule.position = number


def _flush_or_conflict(session: Session, message: str) -> None:
    try:
        session.flush()
    except IntegrityError as exc:  # another replica took the name between check and insert
        raise Conflict(message) from exc


@router.get("/policies/rules/{kind}", response_model=RuleList)
@requires(Permission.READ)
def list_rules(kind: Kind, context: Context) -> Any:
    """The rules of one policy in evaluation order."""
    with context.store.read() as session:
        rows = session.scalars(
            select(PolicyRule)
            .where(PolicyRule.kind == kind)
            .order_by(PolicyRule.position, PolicyRule.id)
        )
        return {"items": [_rule_out(r) for r in rows]}


@router.get("/policies/rules/{kind}/{name}", response_model=RuleOut)
@requires(Permission.READ)
def get_rule(kind: Kind, name: NamePath, context: Context) -> Any:
    with context.store.read() as session:
        return _rule_out(_rule_row(session, kind, name))


@router.post("/policies/rules/{kind}", status_code=201, response_model=RuleOut, responses={409: {}})
@requires(Permission.OPERATE)
def create_rule(
    kind: Kind, body: RuleCreate, caller: Caller, context: Context, remote: Remote
) -> Any:
    """Add a rule (last, or at ``position``)."""
    now = context.clock()
    with context.store.write() as session:
        taken = session.scalars(
            select(PolicyRule.id).where(PolicyRule.kind == kind, PolicyRule.name == body.name)
        ).first()
        if taken is not None:
            raise Conflict(f"a {kind} rule named {body.name!r} exists")
        values = _rule_values(session, kind, body)
        row = PolicyRule(
            kind=kind,
            name=body.name,
            position=0,
            created_at=now,
            updated_at=now,
            updated_by=caller.label,
            **values,
        )
        session.add(row)
        _place(session, kind, row, body.position)
        _flush_or_conflict(session, f"a {kind} rule named {body.name!r} exists")
        out = _rule_out(row)
        audit.record(
            session,
            actor=caller.label,
            action="policy.rule.create",
            target=f"rule:{kind}/{body.name}",
            now=now,
            detail={"rule": rule_to_json(storage.rule_from_row(row))},
            remote=remote,
        )
        return out


@router.put("/policies/rules/{kind}/{name}", response_model=RuleOut, responses={404: {}})
@requires(Permission.OPERATE)
def change_rule(
    *,
    kind: Kind,
    name: NamePath,
    body: RuleChange,
    caller: Caller,
    context: Context,
    remote: Remote,
) -> Any:
    """Replace a rule's settings; ``position`` moves it (the others shift)."""
    now = context.clock()
    with context.store.write() as session:
        row = _rule_row(session, kind, name)
        before = rule_to_json(storage.rule_from_row(row))
        values = _rule_values(session, kind, body)
        for key, value in values.items():
            setattr(row, key, value)
        row.updated_at = now
        row.updated_by = caller.label
        _place(session, kind, row, body.position)
        session.flush()
        after = rule_to_json(storage.rule_from_row(row))
        audit.record(
            session,
            actor=caller.label,
            action="policy.rule.change",
            target=f"rule:{kind}/{name}",
            now=now,
            detail={"from": before, "to": after},
            remote=remote,
        )
        return _rule_out(row)


@router.delete(
    "/policies/rules/{kind}/{name}",
    status_code=204,
    response_class=Response,
    responses={404: {}},
)
@requires(Permission.OPERATE)
def delete_rule(
    kind: Kind, name: NamePath, caller: Caller, context: Context, remote: Remote
) -> Response:
    now = context.clock()
    with context.store.write() as session:
        row = _rule_row(session, kind, name)
        session.delete(row)
        session.flush()
        remaining = session.scalars(
            select(PolicyRule)
            .where(PolicyRule.kind == kind)
            .order_by(PolicyRule.position, PolicyRule.id)
        )
        for number, rule in enumerate(remaining, start=1):
            rule.position = number
        audit.record(
            session,
            actor=caller.label,
            action="policy.rule.delete",
            target=f"rule:{kind}/{name}",
            now=now,
            remote=remote,
        )
    return Response(status_code=204)


# --- what CI asks ---


def _labels(pairs: list[str]) -> tuple[tuple[str, str], ...]:
    labels: dict[str, str] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise PolicyInvalid(f"a label is KEY=VALUE, not {pair[:64]!r}")
        labels[key] = value
    return tuple(sorted(labels.items()))


@router.get("/policies/effective", response_model=EffectiveOut)
@requires(Permission.READ_POLICY)
def effective_policy(
    *,
    context: Context,
    image: Annotated[
        list[Annotated[str, Query(max_length=512)]],
        Query(max_length=64, description="an image reference (repeatable: every tag)"),
    ] = [],  # noqa: B006  # FastAPI copies defaults per request
    artifact: Annotated[
        str | None, Query(max_length=512, description="the artifact's name (a directory, a zip)")
    ] = None,
    host: Annotated[str | None, Query(max_length=256)] = None,
    namespace: Annotated[str | None, Query(max_length=253)] = None,
    label: Annotated[
        list[Annotated[str, Query(max_length=400)]],
        Query(max_length=64, description="KEY=VALUE (repeatable)"),
    ] = [],  # noqa: B006
) -> Any:
    """The rule of each policy that applies to an artifact described by the query (what
    ``stockade scan --policy-from`` gates on)."""
    subject = Subject(
        references=tuple(dict.fromkeys(image)),
        artifact=artifact,
        host=host,
        namespace=namespace,
        labels=_labels(label),
    )
    answer: dict[str, Any] = {"subject": subject.to_json()}
    with context.store.read() as session:
        collections = storage.load_collections(session)
        for kind in ("vulnerabilities", "compliance"):
            found = first_matching_rule(storage.load_rules(session, kind), collections, subject)
            if found is None:
                answer[kind] = {"rule": None, "collection": None}
                continue
            rule, collection = found
            row = _rule_row(session, kind, rule.name)
            answer[kind] = {"rule": _rule_out(row), "collection": collection}
    return answer


@router.post("/policies/fix-dates", response_model=FixDatesOut)
@requires(Permission.READ_POLICY)
def fix_dates(body: FixDatesIn, context: Context) -> Any:
    """When the Console first saw a fix for each (vulnerability, package): what a grace
    period counts from. Fixes it has not seen are left out."""
    keys = [(f.id, f.type, f.package) for f in body.fixes]
    with context.store.read() as session:
        found = storage.fix_dates(session, keys)
    return {
        "fixes": [
            {"id": v, "type": t, "package": p, "firstSeen": when}
            for (v, t, p), when in found.items()
        ]
    }


def _context_key(body: ContextIn) -> str:
    given = [
        (prefix, value)
        for prefix, value in (
            ("image", body.image),
            ("host", body.host),
            ("artifact", body.artifact),
            ("target", body.target),
        )
        if value is not None
    ]
    if len(given) != 1:
        raise PolicyInvalid("give exactly one of image, host, artifact and target")
    prefix, value = given[0]
    return f"{prefix}:{value}"[:600]


@router.put("/policies/context", response_model=ContextOut)
@requires(Permission.PUBLISH)
def set_context(body: ContextIn, caller: Caller, context: Context) -> Any:
    """Say which namespace and labels an artifact has, for collections: results
    published for it from now on are evaluated with them. Send it before publishing."""
    key = _context_key(body)
    now = context.clock()
    with context.store.write() as session:
        row = session.scalars(
            select(PolicyContext).where(PolicyContext.artifact_key == key).with_for_update()
        ).first()
        if row is None:
            row = PolicyContext(artifact_key=key)
            session.add(row)
        row.namespace = body.namespace
        row.labels = dict(sorted(body.labels.items()))
        row.updated_at = now
        row.updated_by = caller.label
        _flush_or_conflict(session, "the context of this artifact changed at the same time")
        return {
            "artifactKey": key,
            "namespace": row.namespace,
            "labels": row.labels,
            "updatedAt": now,
        }


# --- verdicts ---


def _verdict_out(row: PolicyVerdict, scan: Scan) -> dict[str, Any]:
    detail = row.detail
    return {
        "scanId": row.scan_id,
        "kind": row.kind,
        "outcome": row.outcome,
        "rule": row.rule_name,
        "collection": row.collection,
        "severity": detail.get("severity"),
        "evaluatedAt": row.evaluated_at,
        "artifactKey": scan.artifact_key,
        "artifactName": scan.artifact_name,
        "subject": detail.get("subject")
        or {"references": [], "artifact": None, "host": None, "namespace": None, "labels": {}},
        "counts": detail.get("counts") or {},
        "reasons": detail.get("reasons") or [],
        "truncated": bool(detail.get("truncated")),
        "notes": detail.get("notes") or [],
    }


@router.get("/scans/{scan_id}/verdict", response_model=VerdictOut, responses={404: {}})
@requires(Permission.READ)
def scan_verdict(scan_id: ScanId, context: Context) -> Any:
    """The policy's verdict on one published result: the rule that applied, and each
    finding or check that crossed its alert or block threshold."""
    with context.store.read() as session:
        scan = session.get(Scan, scan_id)
        if scan is None:
            raise NotFound(f"no scan with id {scan_id}")
        row = session.scalars(select(PolicyVerdict).where(PolicyVerdict.scan_id == scan_id)).first()
        if row is None:
            raise NotFound(f"scan {scan_id} has no verdict (it was stored before policies were)")
        return _verdict_out(row, scan)


@router.get("/policies/verdicts", response_model=VerdictPage, responses=CSV_RESPONSE)
@requires(Permission.READ)
def list_verdicts(
    context: Context,
    page: Paging,
    outcome: OutcomeWord | None = None,
    kind: Kind | None = None,
) -> Any:
    """Verdicts, newest first."""
    conditions = []
    if outcome is not None:
        conditions.append(PolicyVerdict.outcome == outcome)
    if kind is not None:
        conditions.append(PolicyVerdict.kind == kind)
    with context.store.read() as session:
        total = session.scalar(select(func.count()).select_from(PolicyVerdict).where(*conditions))
        rows = session.execute(
            select(PolicyVerdict, Scan)
            .join(Scan, Scan.id == PolicyVerdict.scan_id)
            .where(*conditions)
            .order_by(PolicyVerdict.evaluated_at.desc(), PolicyVerdict.id.desc())
            .limit(page.limit)
            .offset(page.offset)
        ).all()
        items = []
        for verdict, scan in rows:
            out = _verdict_out(verdict, scan)
            items.append({k: out[k] for k in _SUMMARY_KEYS})
    return respond(Page(items, int(total or 0), page.limit, page.offset), page, "verdicts")


_SUMMARY_KEYS = (
    "scanId",
    "kind",
    "outcome",
    "rule",
    "collection",
    "severity",
    "evaluatedAt",
    "artifactKey",
    "artifactName",
    "counts",
)
