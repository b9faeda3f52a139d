"""What an alert says on each channel: JSON for webhooks, Slack blocks, one RFC 5424 line
for syslog, a plain-text e-mail. Pure: digests in, payloads out."""

from __future__ import annotations

import datetime as dt
import json
import re
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from stockade import __version__
from stockade.console.alerts.interface import Digest
from stockade.console.events import ConsoleEvent

__all__ = [
    "EVENT_DETAIL_MAX_BYTES",
    "SYSLOG_FACILITIES",
    "email_message",
    "event_from_json",
    "event_line",
    "event_to_json",
    "headline",
    "slack_payload",
    "summary_line",
    "syslog_message",
    "syslog_severity",
    "text_body",
    "webhook_payload",
]

EVENT_DETAIL_MAX_BYTES = 16 * 1024
"""An event's ``detail`` larger than this (as JSON) is replaced by a note saying so."""

SYSLOG_FACILITIES = {
    "kern": 0,
    "user": 1,
    "mail": 2,
    "daemon": 3,
    "auth": 4,
    "syslog": 5,
    "lpr": 6,
    "news": 7,
    "uucp": 8,
    "cron": 9,
    "authpriv": 10,
    "ftp": 11,
    "ntp": 12,
    "audit": 13,
    "alert": 14,
    "clock": 15,
    **{f"local{i}": 16 + i for i in range(8)},
}

_SYSLOG_SEVERITY = {"critical": 2, "high": 3, "medium": 4, "low": 5, "info": 6}
"""Stockade's words to RFC 5424 severities: crit, err, warning, notice, informational."""

SD_ID = "stockade@32473"
"""Structured data id: 32473 is the enterprise number RFC 5612 reserves for examples."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


def _one_line(text: str) -> str:
    return _CONTROL.sub(" ", text).strip()


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def _iso(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def event_to_json(event: ConsoleEvent) -> dict[str, Any]:
    """The event as JSON; a ``detail`` that is not JSON is made so (``str``), and one
    too large is replaced by a note."""
    detail: Any = json.loads(json.dumps(event.detail, default=str))
    size = len(json.dumps(detail))
    if size > EVENT_DETAIL_MAX_BYTES:
        detail = {"omitted": f"detail of {size} bytes left out"}
    return {
        "kind": event.kind,
        "severity": event.severity,
        "title": event.title,
        "subject": event.subject,
        "at": _iso(event.at),
        "detail": detail,
        "labels": {str(k): str(v) for k, v in event.labels.items()},
    }


def event_from_json(data: dict[str, Any]) -> ConsoleEvent:
    return ConsoleEvent(
        kind=str(data["kind"]),
        severity=str(data["severity"]),
        title=str(data["title"]),
        subject=str(data["subject"]),
        at=dt.datetime.fromisoformat(str(data["at"]).replace("Z", "+00:00")),
        detail=dict(data.get("detail") or {}),
        labels={str(k): str(v) for k, v in (data.get("labels") or {}).items()},
    )


def headline(digest: Digest) -> str:
    """One line a person reads first: ``[HIGH] Image blocked by policy`` or
    ``[HIGH] 100 alerts from rule prod-blocks``."""
    level = digest.severity.upper()
    if digest.test:
        return "[TEST] Stockade alert channel test"
    if digest.count == 1 and digest.events:
        return _one_line(f"[{level}] {digest.events[0].title}")
    return _one_line(f"[{level}] {digest.count} alerts from rule {digest.rule}")


def event_line(event: ConsoleEvent) -> str:
    return _one_line(f"[{event.severity}] {event.kind}: {event.title} — {event.subject}")


def _kinds(digest: Digest) -> str:
    ordered = sorted(digest.kind_counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{count} x {kind}" for kind, count in ordered)


def summary_line(digest: Digest) -> str:
    """Everything on one line (syslog, chat fallbacks)."""
    if digest.count == 1 and digest.events:
        event = digest.events[0]
        return _one_line(f"{headline(digest)} — {event.subject} ({event.kind}, rule {digest.rule})")
    listed = "; ".join(_one_line(f"{e.title} — {e.subject}") for e in digest.events)
    more = f"; and {digest.more} more" if digest.more else ""
    return _one_line(f"{headline(digest)} ({_kinds(digest)}): {listed}{more}")


def text_body(digest: Digest) -> str:
    """Plain text for e-mail: the events listed, then what was left out."""
    lines = [headline(digest), ""]
    if digest.test:
        lines += ["This is a test message: the channel works.", ""]
    else:
        window = f"{_iso(digest.first_at)} to {_iso(digest.last_at)}"
        lines += [
            f"Rule: {digest.rule}",
            f"Events: {digest.count} ({_kinds(digest)})",
            f"Between: {window}",
            "",
        ]
    for event in digest.events:
        lines.append(event_line(event))
        lines.append(f"    at {_iso(event.at)}")
        for name, value in sorted(event.labels.items()):
            lines.append(f"    {_one_line(name)}: {_one_line(value)}")
        if event.detail:
            detail = json.dumps(event.detail, indent=2, sort_keys=True, default=str)
            lines += ["    " + line for line in _clip(detail, 4000).splitlines()]
        lines.append("")
    if digest.more:
        lines.append(f"… and {digest.more} more events not listed.")
    if digest.delivery_id is not None:
        lines.append(f"Stockade delivery {digest.delivery_id}.")
    return "\n".join(lines).rstrip() + "\n"


def webhook_payload(digest: Digest) -> dict[str, Any]:
    return {
        "source": "stockade",
        "version": __version__,
        "test": digest.test,
        "delivery": digest.delivery_id,
        "rule": digest.rule,
        "title": headline(digest),
        "summary": summary_line(digest),
        "severity": digest.severity,
        "count": digest.count,
        "omitted": digest.more,
        "kinds": dict(digest.kind_counts),
        "firstAt": _iso(digest.first_at),
        "lastAt": _iso(digest.last_at),
        "events": [event_to_json(e) for e in digest.events],
    }


def _slack_escape(text: str) -> str:
    # Slack's mrkdwn treats these three as control characters; nothing else is escaped.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


SLACK_HEADER_MAX = 150
SLACK_SECTION_MAX = 3000


def slack_payload(digest: Digest) -> dict[str, Any]:
    """An incoming-webhook body: ``text`` (notifications, fallbacks) and ``blocks``."""
    items = []
    for event in digest.events:
        items.append(
            _clip(
                f"• *{_slack_escape(event.severity)}* "
                f"`{_slack_escape(_one_line(event.kind))}` "
                f"{_slack_escape(_one_line(event.title))} — "
                f"{_slack_escape(_one_line(event.subject))}",
                600,
            )
        )
    if digest.more:
        items.append(f"… and {digest.more} more")
    if digest.test:
        items = ["This is a test message: the channel works."]
    context = (
        f"Rule *{_slack_escape(digest.rule)}* · {digest.count} event"
        f"{'' if digest.count == 1 else 's'} · {_iso(digest.first_at)} to {_iso(digest.last_at)}"
    )
    if digest.delivery_id is not None:
        context += f" · delivery {digest.delivery_id}"
    return {
        "text": _clip(summary_line(digest) if not digest.test else headline(digest), 3000),
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": _clip(headline(digest), SLACK_HEADER_MAX)},
            },
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _clip("\n".join(items), SLACK_SECTION_MAX)},
            },
            {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(context, 3000)}]},
        ],
    }


def syslog_severity(severity: str) -> int:
    return _SYSLOG_SEVERITY.get(severity, 6)


def _printusascii(text: str, limit: int) -> str:
    kept = "".join(c if 33 <= ord(c) <= 126 else "-" for c in text)[:limit]
    return kept or "-"


def _sd_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def syslog_message(
    digest: Digest,
    *,
    facility: int,
    hostname: str,
    app_name: str,
    procid: str,
    now: dt.datetime,
    max_bytes: int,
) -> bytes:
    """One RFC 5424 message (no transport framing), at most ``max_bytes`` octets: the
    text is cut, never the header or structured data."""
    pri = facility * 8 + syslog_severity(digest.severity)
    kinds = set(digest.kind_counts) or {e.kind for e in digest.events}
    msgid = "test" if digest.test else (next(iter(kinds)) if len(kinds) == 1 else "digest")
    timestamp = now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    params = {"rule": digest.rule, "count": str(digest.count), "severity": digest.severity}
    if digest.delivery_id is not None:
        params["delivery"] = str(digest.delivery_id)
    structured = (
        f"[{SD_ID} " + " ".join(f'{k}="{_sd_value(_one_line(v))}"' for k, v in params.items()) + "]"
    )
    head = (
        f"<{pri}>1 {timestamp} {_printusascii(hostname, 255)} {_printusascii(app_name, 48)} "
        f"{_printusascii(procid, 128)} {_printusascii(msgid, 32)} {structured} "
    ).encode()
    bom = b"\xef\xbb\xbf"
    room = max_bytes - len(head) - len(bom)
    if room <= 0:
        raise ValueError("the syslog header alone exceeds the message size limit")
    text = summary_line(digest).encode()
    if len(text) > room:
        text = text[: room - 3].decode("utf-8", errors="ignore").encode() + b"..."
    return head + bom + text


def _header_text(text: str, limit: int = 200) -> str:
    return _clip(_one_line(text), limit)


def email_message(
    digest: Digest,
    *,
    sender: str,
    recipients: tuple[str, ...],
    subject_prefix: str,
    now: dt.datetime,
) -> EmailMessage:
    message = EmailMessage()
    prefix = _header_text(subject_prefix, 50)
    message["Subject"] = _header_text(f"{prefix} {headline(digest)}".strip(), 250)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(now.astimezone(dt.UTC))
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message["X-Stockade-Rule"] = _header_text(digest.rule)
    if digest.delivery_id is not None:
        message["X-Stockade-Delivery"] = str(digest.delivery_id)
    message.set_content(text_body(digest))
    return message
