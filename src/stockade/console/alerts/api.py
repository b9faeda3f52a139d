"""``/api/v1/alerts``: channels, rules, deliveries. Reading takes ``read``; changing
channels and rules takes ``administer`` and is audited; retrying a failed delivery takes
``operate``. Channel secrets are accepted, never answered."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

import sqlalchemy.exc
from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade.console.alerts.channels import (
    ChannelKind,
    EmailConfig,
    SlackConfig,
    SyslogConfig,
    WebhookConfig,
    check_complete,
    merge_secrets,
    public_view,
    split_config,
)
from stockade.console.alerts.interface import (
    AlertConfigError,
    DeliveryError,
    DeliveryFailed,
    Digest,
)
from stockade.console.alerts.outbox import delivery_out, list_deliveries, retry_delivery
from stockade.console.alerts.sealing import SecretBox, box_for
from stockade.console.alerts.worker import AlertSettings, send_now
from stockade.console.api.access import requires
from stockade.console.api.deps import Caller, Context, Remote
from stockade.console.api.listing import CSV_RESPONSE, Paging, respond
from stockade.console.errors import Conflict, NotFound
from stockade.console.events import ConsoleEvent
from stockade.console.identity import audit
from stockade.console.roles import Permission
from stockade.console.store.models import AlertChannel, AlertDelivery, AlertRule, AlertRuleChannel

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])

ItemId = Annotated[int, Path(ge=1, le=2**62)]


def _problem(description: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Problem"}
    return {"description": description, "content": {"application/problem+json": {"schema": schema}}}


Responses = dict[int | str, dict[str, Any]]
NOT_FOUND: Responses = {404: _problem("Not found")}
CONFLICT: Responses = {409: _problem("Conflict")}
UNDELIVERED: Responses = {502: _problem("The test message was not delivered")}
SeverityWord = Literal["critical", "high", "medium", "low", "info"]
Name = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")]
KindPattern = Annotated[
    str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.*?!\[\]-]+$")
]
LabelName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_./-]+$")]
LabelPattern = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f]+$")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WebhookChannelIn(_In):
    kind: Literal["webhook"]
    name: Name
    enabled: bool = True
    config: WebhookConfig


class SlackChannelIn(_In):
    kind: Literal["slack"]
    name: Name
    enabled: bool = True
    config: SlackConfig


class SyslogChannelIn(_In):
    kind: Literal["syslog"]
    name: Name
    enabled: bool = True
    config: SyslogConfig


class EmailChannelIn(_In):
    kind: Literal["email"]
    name: Name
    enabled: bool = True
    config: EmailConfig


ChannelIn = Annotated[
    WebhookChannelIn | SlackChannelIn | SyslogChannelIn | EmailChannelIn,
    Field(discriminator="kind"),
]


class ChannelOut(_Out):
    id: int
    name: str
    kind: ChannelKind
    enabled: bool
    config: dict[str, Any] = Field(description='secrets appear as {"set": true|false}')
    createdBy: str
    createdAt: dt.datetime
    updatedAt: dt.datetime


class ChannelList(_Out):
    items: list[ChannelOut]


class TestSent(_Out):
    delivered: bool
    channel: int


class RuleIn(_In):
    name: Name
    enabled: bool = True
    kinds: list[KindPattern] = Field(
        min_length=1, max_length=20, description="globs over the event kind: policy.*.block"
    )
    minSeverity: SeverityWord = "info"
    labels: dict[LabelName, LabelPattern] = Field(
        default_factory=dict,
        max_length=20,
        description="label name to glob; all must match; !glob negates",
    )
    channels: list[Annotated[int, Field(ge=1, le=2**62)]] = Field(min_length=1, max_length=20)
    aggregateSeconds: int = Field(
        default=60, ge=0, le=86_400, description="events gathered into one message"
    )


class RuleOut(_Out):
    id: int
    name: str
    enabled: bool
    kinds: list[str]
    minSeverity: str
    labels: dict[str, str]
    channels: list[int]
    aggregateSeconds: int
    createdBy: str
    createdAt: dt.datetime
    updatedAt: dt.datetime


class RuleList(_Out):
    items: list[RuleOut]


DeliveryStatus = Literal["collecting", "pending", "sending", "delivered", "failed"]


class DeliveryOut(_Out):
    id: int
    status: DeliveryStatus
    ruleId: int | None
    ruleName: str
    channelId: int
    channelName: str | None
    eventCount: int
    severity: str
    kinds: dict[str, int]
    firstEventAt: dt.datetime
    lastEventAt: dt.datetime
    createdAt: dt.datetime
    dueAt: dt.datetime
    attempts: int
    lastAttemptAt: dt.datetime | None
    lastError: str | None
    deliveredAt: dt.datetime | None
    events: list[dict[str, Any]] = Field(description="the first few events")


class DeliveryPage(_Out):
    items: list[DeliveryOut]
    total: int
    limit: int
    offset: int


def _channel_out(channel: AlertChannel, box: SecretBox) -> dict[str, Any]:
    return {
        "id": channel.id,
        "name": channel.name,
        "kind": channel.kind,
        "enabled": channel.enabled,
        "config": public_view(channel.kind, channel.config, channel.secrets, box.open),
        "createdBy": channel.created_by,
        "createdAt": channel.created_at,
        "updatedAt": channel.updated_at,
    }


def _rule_out(session: Session, rule: AlertRule) -> dict[str, Any]:
    channels = session.scalars(
        select(AlertRuleChannel.channel_id)
        .where(AlertRuleChannel.rule_id == rule.id)
        .order_by(AlertRuleChannel.channel_id)
    ).all()
    return {
        "id": rule.id,
        "name": rule.name,
        "enabled": rule.enabled,
        "kinds": list(rule.kinds),
        "minSeverity": rule.min_severity,
        "labels": dict(rule.labels),
        "channels": list(channels),
        "aggregateSeconds": rule.aggregate_seconds,
        "createdBy": rule.created_by,
        "createdAt": rule.created_at,
        "updatedAt": rule.updated_at,
    }


@contextmanager
def _unique_names() -> Iterator[None]:
    """Two administrators racing to the same name: the database keeps one."""
    try:
        yield
    except sqlalchemy.exc.IntegrityError:
        raise Conflict("the name is taken", "choose another name") from None


def _name_free(
    session: Session, model: type[AlertChannel | AlertRule], name: str, own: int | None
) -> None:
    other = session.scalar(select(model.id).where(model.name == name))
    if other is not None and other != own:
        what = "channel" if model is AlertChannel else "rule"
        raise Conflict(f"an alert {what} named {name!r} exists already", "choose another name")


def _get_channel(session: Session, channel_id: int) -> AlertChannel:
    channel = session.get(AlertChannel, channel_id)
    if channel is None:
        raise NotFound(f"no alert channel with id {channel_id}")
    return channel


def _get_rule(session: Session, rule_id: int) -> AlertRule:
    rule = session.get(AlertRule, rule_id)
    if rule is None:
        raise NotFound(f"no alert rule with id {rule_id}")
    return rule


@router.get("/channels", response_model=ChannelList)
@requires(Permission.READ)
def list_channels(context: Context) -> Any:
    with context.store.read() as session:
        channels = session.scalars(select(AlertChannel).order_by(AlertChannel.name)).all()
        box = box_for(context.config.data_dir)
        return {"items": [_channel_out(c, box) for c in channels]}


@router.post("/channels", status_code=201, response_model=ChannelOut, responses=CONFLICT)
@requires(Permission.ADMINISTER)
def create_channel(body: ChannelIn, caller: Caller, context: Context, remote: Remote) -> Any:
    """Add a channel. Secrets (URLs, passwords, keys) are stored and never shown again."""
    public, secrets = split_config(body.config)
    check_complete(body.kind, public, secrets)
    box = box_for(context.config.data_dir)
    sealed = {name: box.seal(value) for name, value in secrets.items()}
    now = context.clock()
    with _unique_names(), context.store.write() as session:
        _name_free(session, AlertChannel, body.name, None)
        channel = AlertChannel(
            name=body.name,
            kind=body.kind,
            enabled=body.enabled,
            config=public,
            secrets=sealed,
            created_by=caller.label[:160],
            created_at=now,
            updated_at=now,
        )
        session.add(channel)
        session.flush()
        audit.record(
            session,
            actor=caller.label,
            action="alert.channel.create",
            target=f"alert-channel:{channel.id}:{channel.name}",
            now=now,
            detail={"kind": body.kind, "enabled": body.enabled, "secrets": sorted(secrets)},
            remote=remote,
        )
        return _channel_out(channel, box)


@router.get("/channels/{channel_id}", response_model=ChannelOut, responses=NOT_FOUND)
@requires(Permission.READ)
def get_channel(channel_id: ItemId, context: Context) -> Any:
    with context.store.read() as session:
        return _channel_out(_get_channel(session, channel_id), box_for(context.config.data_dir))


@router.put(
    "/channels/{channel_id}", response_model=ChannelOut, responses={**NOT_FOUND, **CONFLICT}
)
@requires(Permission.ADMINISTER)
def replace_channel(
    channel_id: ItemId, body: ChannelIn, caller: Caller, context: Context, remote: Remote
) -> Any:
    """Replace a channel's settings. A secret left out keeps its stored value (while the
    kind stays the same); ``null`` removes an optional one."""
    now = context.clock()
    with _unique_names(), context.store.write() as session:
        channel = _get_channel(session, channel_id)
        _name_free(session, AlertChannel, body.name, channel.id)
        public, _ = split_config(body.config)
        same_kind = channel.kind == body.kind
        box = box_for(context.config.data_dir)
        secrets = merge_secrets(body.config, channel.secrets if same_kind else None, box.seal)
        check_complete(body.kind, public, secrets)
        changed = [
            name
            for name, before, after in (
                ("name", channel.name, body.name),
                ("kind", channel.kind, body.kind),
                ("enabled", channel.enabled, body.enabled),
            )
            if before != after
        ]
        old_public = channel.config if same_kind else {}
        changed += sorted(
            f"config.{k}"
            for k in set(old_public) | set(public)
            if old_public.get(k) != public.get(k)
        )
        changed += sorted(
            f"config.{k}"
            for k in set(channel.secrets) | set(secrets)
            if channel.secrets.get(k) != secrets.get(k)
        )
        channel.name, channel.kind, channel.enabled = body.name, body.kind, body.enabled
        channel.config, channel.secrets = public, secrets
        channel.updated_at = now
        audit.record(
            session,
            actor=caller.label,
            action="alert.channel.change",
            target=f"alert-channel:{channel.id}:{channel.name}",
            now=now,
            detail={"changed": changed},
            remote=remote,
        )
        return _channel_out(channel, box)


@router.delete(
    "/channels/{channel_id}",
    status_code=204,
    response_class=Response,
    responses={**NOT_FOUND, **CONFLICT},
)
@requires(Permission.ADMINISTER)
def delete_channel(
    channel_id: ItemId, caller: Caller, context: Context, remote: Remote
) -> Response:
    """Delete a channel no rule uses (its undelivered messages go with it)."""
    now = context.clock()
    with context.store.write() as session:
        channel = _get_channel(session, channel_id)
        users = session.scalars(
            select(AlertRule.name)
            .join(AlertRuleChannel, AlertRuleChannel.rule_id == AlertRule.id)
            .where(AlertRuleChannel.channel_id == channel.id)
            .order_by(AlertRule.name)
        ).all()
        if users:
            raise Conflict(
                f"the channel is used by the rules {', '.join(map(repr, users))}",
                "take it out of those rules first",
            )
        session.delete(channel)
        audit.record(
            session,
            actor=caller.label,
            action="alert.channel.delete",
            target=f"alert-channel:{channel.id}:{channel.name}",
            now=now,
            remote=remote,
        )
    return Response(status_code=204)


@router.post(
    "/channels/{channel_id}/test", response_model=TestSent, responses={**NOT_FOUND, **UNDELIVERED}
)
@requires(Permission.ADMINISTER)
def test_channel(channel_id: ItemId, caller: Caller, context: Context, remote: Remote) -> Any:
    """Send a test message now, without the outbox; 502 says why it did not go."""
    now = context.clock()
    with context.store.read() as session:
        channel = _get_channel(session, channel_id)
        kind, name = channel.kind, channel.name
        config, sealed = dict(channel.config), dict(channel.secrets)
    secrets = box_for(context.config.data_dir).open_all(sealed)
    event = ConsoleEvent(
        kind="alerts.test",
        severity="info",
        title="Test message from Stockade",
        subject=f"alert channel {name}",
        at=now,
        detail={"channel": name, "requestedBy": caller.label},
    )
    digest = Digest(
        rule="(test)",
        count=1,
        severity="info",
        first_at=now,
        last_at=now,
        events=(event,),
        kind_counts={event.kind: 1},
        test=True,
    )
    error: DeliveryError | None = None
    try:
        send_now(
            kind,
            config,
            secrets,
            digest,
            timeout=AlertSettings().send_timeout_seconds,
            clock=context.clock,
        )
    except DeliveryError as exc:
        error = exc
    with context.store.write() as session:
        audit.record(
            session,
            actor=caller.label,
            action="alert.channel.test",
            target=f"alert-channel:{channel_id}:{name}",
            now=now,
            detail={"delivered": error is None},
            remote=remote,
        )
    if error is not None:
        raise DeliveryFailed(error.message, "check the channel's settings and the receiver")
    return {"delivered": True, "channel": channel_id}


def _check_channels(session: Session, ids: list[int]) -> list[int]:
    wanted = sorted(set(ids))
    found = set(session.scalars(select(AlertChannel.id).where(AlertChannel.id.in_(wanted))))
    missing = [i for i in wanted if i not in found]
    if missing:
        raise AlertConfigError(
            f"no alert channel with id {', '.join(map(str, missing))}",
            "create the channel first, or list the ones there are",
        )
    return wanted


def _apply(rule: AlertRule, body: RuleIn) -> None:
    rule.name = body.name
    rule.enabled = body.enabled
    rule.kinds = list(dict.fromkeys(body.kinds))
    rule.min_severity = body.minSeverity
    rule.labels = dict(body.labels)
    rule.aggregate_seconds = body.aggregateSeconds


def _link(session: Session, rule_id: int, channels: list[int]) -> None:
    links = session.scalars(select(AlertRuleChannel).where(AlertRuleChannel.rule_id == rule_id))
    current = set()
    for link in links:
        if link.channel_id in channels:
            current.add(link.channel_id)
        else:
            session.delete(link)
    for channel_id in channels:
        if channel_id not in current:
            session.add(AlertRuleChannel(rule_id=rule_id, channel_id=channel_id))
    session.flush()


def _rule_detail(body: RuleIn) -> dict[str, Any]:
    return {
        "enabled": body.enabled,
        "kinds": body.kinds,
        "minSeverity": body.minSeverity,
        "labels": body.labels,
        "channels": sorted(set(body.channels)),
        "aggregateSeconds": body.aggregateSeconds,
    }


@router.get("/rules", response_model=RuleList)
@requires(Permission.READ)
def list_rules(context: Context) -> Any:
    with context.store.read() as session:
        rules = session.scalars(select(AlertRule).order_by(AlertRule.name)).all()
        return {"items": [_rule_out(session, r) for r in rules]}


@router.post("/rules", status_code=201, response_model=RuleOut, responses=CONFLICT)
@requires(Permission.ADMINISTER)
def create_rule(body: RuleIn, caller: Caller, context: Context, remote: Remote) -> Any:
    now = context.clock()
    with _unique_names(), context.store.write() as session:
        _name_free(session, AlertRule, body.name, None)
        channels = _check_channels(session, body.channels)
        rule = AlertRule(created_by=caller.label[:160], created_at=now, updated_at=now)
        _apply(rule, body)
        session.add(rule)
        session.flush()
        _link(session, rule.id, channels)
        audit.record(
            session,
            actor=caller.label,
            action="alert.rule.create",
            target=f"alert-rule:{rule.id}:{rule.name}",
            now=now,
            detail=_rule_detail(body),
            remote=remote,
        )
        return _rule_out(session, rule)


@router.get("/rules/{rule_id}", response_model=RuleOut, responses=NOT_FOUND)
@requires(Permission.READ)
def get_rule(rule_id: ItemId, context: Context) -> Any:
    with context.store.read() as session:
        return _rule_out(session, _get_rule(session, rule_id))


@router.put("/rules/{rule_id}", response_model=RuleOut, responses={**NOT_FOUND, **CONFLICT})
@requires(Permission.ADMINISTER)
def replace_rule(
    rule_id: ItemId, body: RuleIn, caller: Caller, context: Context, remote: Remote
) -> Any:
    """Replace a rule. Messages already gathering keep going to their channels."""
    now = context.clock()
    with _unique_names(), context.store.write() as session:
        rule = _get_rule(session, rule_id)
        _name_free(session, AlertRule, body.name, rule.id)
        channels = _check_channels(session, body.channels)
        _apply(rule, body)
        _link(session, rule.id, channels)
        rule.updated_at = now
        audit.record(
            session,
            actor=caller.label,
            action="alert.rule.change",
            target=f"alert-rule:{rule.id}:{rule.name}",
            now=now,
            detail=_rule_detail(body),
            remote=remote,
        )
        return _rule_out(session, rule)


@router.delete("/rules/{rule_id}", status_code=204, response_class=Response, responses=NOT_FOUND)
@requires(Permission.ADMINISTER)
def delete_rule(rule_id: ItemId, caller: Caller, context: Context, remote: Remote) -> Response:
    """Delete a rule; messages it already gathered are still delivered."""
    now = context.clock()
    with context.store.write() as session:
        rule = _get_rule(session, rule_id)
        session.delete(rule)
        audit.record(
            session,
            actor=caller.label,
            action="alert.rule.delete",
            target=f"alert-rule:{rule.id}:{rule.name}",
            now=now,
            remote=remote,
        )
    return Response(status_code=204)


@router.get("/deliveries", response_model=DeliveryPage, responses=CSV_RESPONSE)
@requires(Permission.READ)
def list_alert_deliveries(
    context: Context,
    page: Paging,
    status: DeliveryStatus | None = None,
    channel: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    rule: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> Any:
    """Messages gathered, sent, retried or given up on, newest first."""
    with context.store.read() as session:
        result = list_deliveries(
            session,
            limit=page.limit,
            offset=page.offset,
            status=status,
            channel_id=channel,
            rule_id=rule,
        )
    return respond(result, page, "alert-deliveries")


def _delivery(session: Session, delivery_id: int) -> dict[str, Any]:
    row = session.get(AlertDelivery, delivery_id)
    if row is None:
        raise NotFound(f"no alert delivery with id {delivery_id}")
    channel = session.get(AlertChannel, row.channel_id)
    return delivery_out(row, channel.name if channel else None)


@router.get("/deliveries/{delivery_id}", response_model=DeliveryOut, responses=NOT_FOUND)
@requires(Permission.READ)
def get_delivery(delivery_id: ItemId, context: Context) -> Any:
    with context.store.read() as session:
        return _delivery(session, delivery_id)


@router.post(
    "/deliveries/{delivery_id}/retry",
    response_model=DeliveryOut,
    responses={**NOT_FOUND, **CONFLICT},
)
@requires(Permission.OPERATE)
def retry_alert_delivery(
    delivery_id: ItemId, caller: Caller, context: Context, remote: Remote
) -> Any:
    """Send a failed delivery again (its attempts start over)."""
    now = context.clock()
    with context.store.write() as session:
        row = retry_delivery(session, delivery_id, now)
        audit.record(
            session,
            actor=caller.label,
            action="alert.delivery.retry",
            target=f"alert-delivery:{row.id}",
            now=now,
            remote=remote,
        )
        session.flush()
        return _delivery(session, delivery_id)
