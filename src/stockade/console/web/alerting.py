"""The alerts page: channels, the rules that route events to them, and deliveries.

Changes are the alert API's own functions (``alerts/api.py``) called with the viewer as
the caller: checked, sealed and audited as ``/api/v1/alerts/…`` does. Channels and rules
need ``administer``, retrying a delivery needs ``operate``, reading needs ``read``.
Secrets (webhook and Slack URLs, the HMAC secret, the SMTP password, a syslog client
key) are write-only here too: a form field left empty keeps the stored value, and pages
say only whether one is set (and, for a URL, the origin the API also shows).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, get_args

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import TypeAdapter, ValidationError

from stockade.console.alerts import api as alerts_api
from stockade.console.alerts.channels import CONFIG_TYPES, EmailConfig, SyslogConfig
from stockade.console.api.access import requires
from stockade.console.errors import ConsoleError, NotFound
from stockade.console.roles import Permission
from stockade.console.web.forms import Fields, FormFields, describe, notice_of, problem_of, redirect
from stockade.console.web.params import choice, listing
from stockade.console.web.view import View, Viewer

__all__ = ["CHANNEL_FIELDS", "router"]

router = APIRouter(include_in_schema=False)

MAX_ID: Final = 2**62
CHANNEL_KINDS: Final = ("webhook", "slack", "syslog", "email")
KIND_TITLES: Final = {
    "webhook": "Webhook",
    "slack": "Slack",
    "syslog": "Syslog",
    "email": "E-mail (SMTP)",
}
SEVERITIES: Final = get_args(alerts_api.SeverityWord)
STATUSES: Final = get_args(alerts_api.DeliveryStatus)
STATUS_OF: Final[dict[str, alerts_api.DeliveryStatus]] = {s: s for s in STATUSES}
EVENT_KINDS: Final = (
    "policy.vulnerabilities.block",
    "policy.vulnerabilities.alert",
    "policy.compliance.block",
    "policy.compliance.alert",
    "runtime.incident",
    "registry.scan.completed",
    "registry.scan.failed",
)
"""The kinds the Console emits today (a hint on the rule form; any glob is accepted)."""
NOTICES: Final = {
    "channel-created": "The channel was created.",
    "channel-saved": "The channel was saved.",
    "channel-deleted": "The channel was deleted.",
    "rule-created": "The rule was created.",
    "rule-saved": "The rule was saved.",
    "rule-deleted": "The rule was deleted.",
    "retried": "The delivery will be sent again shortly.",
}


@dataclass(frozen=True, slots=True)
class ChannelField:
    """One setting of a channel kind as its form shows it."""

    name: str
    label: str
    widget: str = "text"
    """``text``, ``number``, ``select``, ``area`` (PEM), ``lines`` (one entry a line),
    ``secret`` or ``secret-area`` (write-only)."""
    choices: tuple[str, ...] = ()
    hint: str = ""
    placeholder: str = ""
    required: bool = False

    @property
    def secret(self) -> bool:
        return self.widget.startswith("secret")


def _choices(model: Any, field: str) -> tuple[str, ...]:
    return tuple(get_args(model.model_fields[field].annotation))


CHANNEL_FIELDS: Final[dict[str, tuple[ChannelField, ...]]] = {
    "webhook": (
        ChannelField(
            "url",
            "URL",
            "secret",
            hint="http or https; it gets a JSON POST.",
            placeholder="https://hooks.example/stockade",
            required=True,
        ),
        ChannelField(
            "secret",
            "Signing secret",
            "secret",
            hint="16 characters or more: messages are signed with HMAC-SHA256 "
            "(X-Stockade-Signature). Optional.",
        ),
    ),
    "slack": (
        ChannelField(
            "url",
            "Incoming webhook URL",
            "secret",
            placeholder="https://hooks.slack.com/services/…",
            required=True,
        ),
    ),
    "syslog": (
        ChannelField(
            "address",
            "Address",
            hint="HOST:PORT or [IPv6]:PORT.",
            placeholder="logs.example:514",
            required=True,
        ),
        ChannelField("transport", "Transport", "select", _choices(SyslogConfig, "transport")),
        ChannelField("facility", "Facility", "select", _choices(SyslogConfig, "facility")),
        ChannelField("appName", "App name", placeholder="stockade"),
        ChannelField("hostname", "Host name sent", hint="Default: this machine's name."),
        ChannelField(
            "caCertificate",
            "CA certificate (TLS)",
            "area",
            hint="PEM; default: the system's trust store.",
        ),
        ChannelField("serverName", "Server name to verify (TLS)", hint="Default: the host."),
        ChannelField("clientCertificate", "Client certificate (TLS)", "area", hint="PEM."),
        ChannelField("clientKey", "Client key (TLS)", "secret-area", hint="PEM, unencrypted."),
    ),
    "email": (
        ChannelField("host", "SMTP server", placeholder="smtp.example.org", required=True),
        ChannelField("port", "Port", "number", placeholder="587"),
        ChannelField("security", "Security", "select", _choices(EmailConfig, "security")),
        ChannelField("username", "User name", hint="Only sent over TLS."),
        ChannelField("password", "Password", "secret"),
        ChannelField("sender", "From", placeholder="stockade@example.org", required=True),
        ChannelField(
            "recipients",
            "To",
            "lines",
            hint="One address a line.",
            required=True,
            placeholder="secops@example.org",
        ),
        ChannelField("subjectPrefix", "Subject prefix", placeholder="[Stockade]"),
        ChannelField(
            "caCertificate",
            "CA certificate",
            "area",
            hint="PEM; default: the system's trust store.",
        ),
        ChannelField("heloName", "Name sent in EHLO", hint="Default: this machine's name."),
    ),
}
"""Every setting of every kind (a test keeps this in step with ``alerts/channels.py``)."""

CHANNEL_LABELS: Final = {
    kind: {"name": "The name", **{f"config.{f.name}": f.label for f in fields}}
    for kind, fields in CHANNEL_FIELDS.items()
}
RULE_LABELS: Final = {
    "name": "The name",
    "kinds": "Event kinds",
    "minSeverity": "Minimum severity",
    "labels": "Labels",
    "channels": "Channels",
    "aggregateSeconds": "Gather for (seconds)",
}
RULE_PATTERNS: Final = {
    "kinds": "Event kinds may hold letters, digits and . _ - * ? ! [ ] only.",
    "labels": "A label name may hold letters, digits and . _ / - only.",
}
_CHANNEL_BODY: Final[TypeAdapter[Any]] = TypeAdapter(alerts_api.ChannelIn)


def _valid_id(item_id: int) -> bool:
    return 1 <= item_id <= MAX_ID


# --- the overview ---


def _overview(
    request: Request, view: Viewer, *, status: int = 200, error: str = "", notice: str = ""
) -> Response:
    state = choice(request, "status", STATUSES)
    page = listing(request, {"status": state}, "/alerts")
    page.fill_from_api(
        alerts_api.list_alert_deliveries(view.context, page.api_params, STATUS_OF.get(state))
    )
    channels = alerts_api.list_channels(view.context)["items"]
    return view.page(
        "alerts.html",
        active="alerts",
        title="Alerts",
        status=status,
        notice=notice,
        error=error,
        channels=channels,
        channel_names={c["id"]: c["name"] for c in channels},
        channel_fields=CHANNEL_FIELDS,
        kind_titles=KIND_TITLES,
        rules=alerts_api.list_rules(view.context)["items"],
        deliveries=page,
        statuses=STATUSES,
    )


def _refused(request: Request, view: Viewer, exc: ConsoleError) -> Response:
    if isinstance(exc, NotFound):
        return view.not_found("alerts", describe(exc))
    return _overview(request, view, status=exc.http_status, error=describe(exc))


@router.get("/alerts")
@requires(Permission.READ)
def alerts(request: Request, view: View) -> Response:
    return _overview(request, view, notice=notice_of(request, NOTICES))


# --- channels ---


def _channel_config(kind: str, fields: FormFields) -> dict[str, Any]:
    """The ``config`` of the API's body: fields left empty are left out (defaults apply;
    a secret keeps its stored value), a ticked "remove" sends ``null``."""
    config: dict[str, Any] = {}
    for spec in CHANNEL_FIELDS[kind]:
        if spec.secret:
            value = fields.raw(spec.name)
            if value.strip():
                config[spec.name] = value.strip() if spec.name == "url" else value
            elif fields.checked(f"remove-{spec.name}"):
                config[spec.name] = None
        elif spec.widget == "lines":
            if lines := fields.lines(spec.name):
                config[spec.name] = lines
        elif value := fields.text(spec.name):
            config[spec.name] = value
    return config


def _channel_draft(kind: str, fields: FormFields, stored: dict[str, Any] | None) -> dict[str, Any]:
    """What the form sent, shaped as the API shows a channel (secrets: only whether the
    stored channel has them; what was typed for one is never shown again)."""
    config: dict[str, Any] = {}
    for spec in CHANNEL_FIELDS[kind]:
        if spec.secret:
            config[spec.name] = (stored or {}).get("config", {}).get(spec.name, {"set": False})
        elif spec.widget == "lines":
            config[spec.name] = fields.lines(spec.name)
        else:
            config[spec.name] = fields.text(spec.name) or None
    return {
        "id": (stored or {}).get("id"),
        "name": fields.text("name"),
        "kind": kind,
        "enabled": fields.checked("enabled"),
        "config": config,
    }


def _channel_page(
    view: Viewer, channel: dict[str, Any], *, new: bool, status: int = 200, error: str = ""
) -> Response:
    kind = channel["kind"]
    return view.page(
        "alert_channel.html",
        active="alerts",
        title=f"New {KIND_TITLES[kind]} channel" if new else f"Channel {channel['name']}",
        status=status,
        error=error,
        notice="",
        channel=channel,
        fields=CHANNEL_FIELDS[kind],
        kind_title=KIND_TITLES[kind],
        new=new,
    )


def _empty_channel(kind: str) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for spec in CHANNEL_FIELDS[kind]:
        if spec.secret:
            config[spec.name] = {"set": False}
        else:
            config[spec.name] = [] if spec.widget == "lines" else None
    return {"id": None, "name": "", "kind": kind, "enabled": True, "config": config}


def _channel_body(kind: str, fields: FormFields) -> Any:
    return _CHANNEL_BODY.validate_python(
        {
            "kind": kind,
            "name": fields.text("name"),
            "enabled": fields.checked("enabled"),
            "config": _channel_config(kind, fields),
        }
    )


def _missing_secret(kind: str, fields: FormFields) -> str:
    """A new channel without a secret its kind needs, said in the form's words."""
    for spec in CHANNEL_FIELDS[kind]:
        needed = spec.name in CONFIG_TYPES[kind].REQUIRED_SECRETS
        if spec.secret and needed and not fields.raw(spec.name).strip():
            return f"{spec.label} is required."
    return ""


@router.get("/alerts/channels/new")
@requires(Permission.ADMINISTER)
def new_channel(request: Request, view: View) -> Response:
    kind = choice(request, "kind", CHANNEL_KINDS, "webhook")
    return _channel_page(view, _empty_channel(kind), new=True)


@router.post("/alerts/channels")
@requires(Permission.ADMINISTER)
def create_channel(view: View, fields: Fields) -> Response:
    kind = fields.text("kind")
    if kind not in CHANNEL_KINDS:
        kind = "webhook"
    draft = _channel_draft(kind, fields, None)
    error, status = _missing_secret(kind, fields), 400
    if not error:
        try:
            body = _channel_body(kind, fields)
            alerts_api.create_channel(body, view.principal, view.context, view.remote)
        except ValidationError as exc:
            error = problem_of(exc, CHANNEL_LABELS[kind], tags=CHANNEL_KINDS)
        except ConsoleError as exc:
            error, status = describe(exc), exc.http_status
    if error:
        return _channel_page(view, draft, new=True, status=status, error=error)
    return redirect("/alerts?done=channel-created")


@router.get("/alerts/channels/{channel_id:int}")
@requires(Permission.READ)
def channel(channel_id: int, request: Request, view: View) -> Response:
    if not _valid_id(channel_id):
        return view.not_found("alerts", "There is no such channel.")
    try:
        found = alerts_api.get_channel(channel_id, view.context)
    except ConsoleError as exc:
        return _refused(request, view, exc)
    return _channel_page(view, found, new=False)


@router.post("/alerts/channels/{channel_id:int}")
@requires(Permission.ADMINISTER)
def save_channel(channel_id: int, request: Request, view: View, fields: Fields) -> Response:
    if not _valid_id(channel_id):
        return view.not_found("alerts", "There is no such channel.")
    try:
        stored = alerts_api.get_channel(channel_id, view.context)
    except ConsoleError as exc:
        return _refused(request, view, exc)
    kind = stored["kind"]  # the form changes a channel's settings, not its kind
    draft = _channel_draft(kind, fields, stored)
    try:
        body = _channel_body(kind, fields)
        alerts_api.replace_channel(channel_id, body, view.principal, view.context, view.remote)
    except ValidationError as exc:
        error = problem_of(exc, CHANNEL_LABELS[kind], tags=CHANNEL_KINDS)
        return _channel_page(view, draft, new=False, status=400, error=error)
    except NotFound as exc:
        return view.not_found("alerts", describe(exc))
    except ConsoleError as exc:
        return _channel_page(view, draft, new=False, status=exc.http_status, error=describe(exc))
    return redirect("/alerts?done=channel-saved")


@router.post("/alerts/channels/{channel_id:int}/delete")
@requires(Permission.ADMINISTER)
def delete_channel(channel_id: int, request: Request, view: View) -> Response:
    if not _valid_id(channel_id):
        return view.not_found("alerts", "There is no such channel.")
    try:
        alerts_api.delete_channel(channel_id, view.principal, view.context, view.remote)
    except ConsoleError as exc:
        return _refused(request, view, exc)
    return redirect("/alerts?done=channel-deleted")


@router.post("/alerts/channels/{channel_id:int}/test")
@requires(Permission.ADMINISTER)
def test_channel(channel_id: int, request: Request, view: View) -> Response:
    """Send a test message now and say how it went (on this page: nothing to redirect
    to that could carry a failure's reason)."""
    if not _valid_id(channel_id):
        return view.not_found("alerts", "There is no such channel.")
    try:
        found = alerts_api.get_channel(channel_id, view.context)
        alerts_api.test_channel(channel_id, view.principal, view.context, view.remote)
    except ConsoleError as exc:
        if isinstance(exc, NotFound):
            return view.not_found("alerts", describe(exc))
        error = "The test message was not delivered: " + describe(exc)
        return _overview(request, view, status=exc.http_status, error=error)
    notice = f"A test message was delivered to the channel “{found['name']}”."
    return _overview(request, view, notice=notice)


# --- rules ---


def _rule_draft(fields: FormFields) -> dict[str, Any]:
    labels: dict[str, str] = {}
    for line in fields.lines("labels"):
        name, _, pattern = line.partition("=")
        labels[name.strip()] = pattern.strip()
    channels = []
    for value in fields.all("channels"):
        if value.isdigit() and len(value) < 20:
            channels.append(int(value))
    return {
        "id": None,
        "name": fields.text("name"),
        "enabled": fields.checked("enabled"),
        "kinds": fields.words("kinds"),
        "minSeverity": fields.text("minSeverity") or "info",
        "labels": labels,
        "channels": channels,
        "aggregateSeconds": fields.text("aggregateSeconds") or "0",
    }


def _label_problem(fields: FormFields) -> str:
    for number, line in enumerate(fields.lines("labels"), start=1):
        name, equals, pattern = line.partition("=")
        if not equals or not name.strip() or not pattern.strip():
            return f"Labels (line {number}): write each as NAME=GLOB, such as namespace=prod-*."
    return ""


def _rule_page(
    view: Viewer, rule: dict[str, Any], *, new: bool, status: int = 200, error: str = ""
) -> Response:
    return view.page(
        "alert_rule.html",
        active="alerts",
        title="New alert rule" if new else f"Alert rule {rule['name']}",
        status=status,
        error=error,
        rule=rule,
        new=new,
        channels=alerts_api.list_channels(view.context)["items"],
        severities=SEVERITIES,
        event_kinds=EVENT_KINDS,
    )


def _save_rule(view: Viewer, fields: FormFields, rule_id: int | None) -> tuple[str, int]:
    draft = _rule_draft(fields)
    if error := _label_problem(fields):
        return error, 400
    body = {k: v for k, v in draft.items() if k != "id"}
    try:
        checked = alerts_api.RuleIn.model_validate(body)
        if rule_id is None:
            alerts_api.create_rule(checked, view.principal, view.context, view.remote)
        else:
            alerts_api.replace_rule(rule_id, checked, view.principal, view.context, view.remote)
    except ValidationError as exc:
        return problem_of(exc, RULE_LABELS, patterns=RULE_PATTERNS), 400
    except ConsoleError as exc:
        return describe(exc), exc.http_status
    return "", 200


@router.get("/alerts/rules/new")
@requires(Permission.ADMINISTER)
def new_rule(view: View) -> Response:
    empty: dict[str, Any] = {
        "id": None,
        "name": "",
        "enabled": True,
        "kinds": ["policy.*.block"],
        "minSeverity": "info",
        "labels": {},
        "channels": [],
        "aggregateSeconds": 60,
    }
    return _rule_page(view, empty, new=True)


@router.post("/alerts/rules")
@requires(Permission.ADMINISTER)
def create_rule(view: View, fields: Fields) -> Response:
    error, status = _save_rule(view, fields, None)
    if error:
        return _rule_page(view, _rule_draft(fields), new=True, status=status, error=error)
    return redirect("/alerts?done=rule-created")


@router.get("/alerts/rules/{rule_id:int}")
@requires(Permission.READ)
def rule(rule_id: int, request: Request, view: View) -> Response:
    if not _valid_id(rule_id):
        return view.not_found("alerts", "There is no such rule.")
    try:
        found = alerts_api.get_rule(rule_id, view.context)
    except ConsoleError as exc:
        return _refused(request, view, exc)
    return _rule_page(view, found, new=False)


@router.post("/alerts/rules/{rule_id:int}")
@requires(Permission.ADMINISTER)
def save_rule(rule_id: int, view: View, fields: Fields) -> Response:
    if not _valid_id(rule_id):
        return view.not_found("alerts", "There is no such rule.")
    error, status = _save_rule(view, fields, rule_id)
    if status == 404:
        return view.not_found("alerts", error)
    if error:
        draft = {**_rule_draft(fields), "id": rule_id}
        return _rule_page(view, draft, new=False, status=status, error=error)
    return redirect("/alerts?done=rule-saved")


@router.post("/alerts/rules/{rule_id:int}/delete")
@requires(Permission.ADMINISTER)
def delete_rule(rule_id: int, request: Request, view: View) -> Response:
    if not _valid_id(rule_id):
        return view.not_found("alerts", "There is no such rule.")
    try:
        alerts_api.delete_rule(rule_id, view.principal, view.context, view.remote)
    except ConsoleError as exc:
        return _refused(request, view, exc)
    return redirect("/alerts?done=rule-deleted")


# --- deliveries ---


@router.post("/alerts/deliveries/{delivery_id:int}/retry")
@requires(Permission.OPERATE)
def retry_delivery(delivery_id: int, request: Request, view: View) -> Response:
    if not _valid_id(delivery_id):
        return view.not_found("alerts", "There is no such delivery.")
    try:
        alerts_api.retry_alert_delivery(delivery_id, view.principal, view.context, view.remote)
    except ConsoleError as exc:
        return _refused(request, view, exc)
    return redirect("/alerts?done=retried#deliveries")
