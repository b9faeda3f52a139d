"""The proxy's settings: one frozen record, read from a YAML file and command-line options.

Every value is checked where it enters (:func:`load_config`, :func:`parse_size`…) and a
bad one raises :class:`ProxyConfigError` naming the key, so the proxy never starts half
configured.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit

import yaml

from stockade.waf.errors import WafError
from stockade.waf.proxy.h1 import HeadLimits

__all__ = [
    "ProxyConfig",
    "ProxyConfigError",
    "Upstream",
    "load_config",
    "parse_listen",
    "parse_size",
    "parse_upstream",
]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
BodyLimitAction = Literal["reject", "partial"]

_SIZE: Final = re.compile(r"(\d+)\s*([kmg]i?b?|b)?", re.IGNORECASE)
_UNITS: Final = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


class ProxyConfigError(WafError):
    """A proxy setting is missing or wrong; the message names it."""


@dataclass(frozen=True, slots=True)
class Upstream:
    scheme: Literal["http", "https"]
    host: str
    port: int

    @property
    def authority(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    upstream: Upstream
    listen_host: str = "127.0.0.1"
    listen_port: int = 8080
    workers: int = 1
    tls_cert: Path | None = None
    tls_key: Path | None = None
    head_limits: HeadLimits = field(default_factory=HeadLimits)
    inspect_limit: int = 1024 * 1024
    """Request body bytes the decider sees."""
    body_limit_action: BodyLimitAction = "reject"
    """A larger body: ``reject`` (413, ModSecurity's Reject) or ``partial`` (the decider
    sees the first ``inspect_limit`` bytes, the rest streams through uninspected)."""
    inspect_responses: bool = True
    response_inspect_limit: int = 512 * 1024
    response_inspect_types: tuple[str, ...] = (
        "text/plain",
        "text/html",
        "text/xml",
        "application/json",
    )
    header_timeout: float = 10.0
    """Seconds for a whole request head, from its first byte (and for the first one on a
    new connection, from the connect)."""
    keepalive_timeout: float = 30.0
    body_timeout: float = 15.0
    """Seconds without a byte while a request body is read."""
    body_min_rate: int = 500
    """Bytes per second a request body must average after ``body_timeout`` (slow POST)."""
    send_timeout: float = 60.0
    upstream_connect_timeout: float = 5.0
    upstream_timeout: float = 60.0
    upstream_idle_timeout: float = 4.0
    upstream_max_idle: int = 64
    websocket_idle_timeout: float = 600.0
    max_connections: int = 1024
    fail_open: bool = False
    audit_log: str | None = "-"
    block_page: Path | None = None
    ban_seconds: float = 600.0
    """Ban length when a decision bans without saying for how long."""
    trusted_proxies: tuple[Network, ...] = ()
    """Peers whose X-Forwarded-For is believed when finding the client's address."""
    shutdown_grace: float = 10.0

    def replace(self, **changes: Any) -> ProxyConfig:
        return dataclasses.replace(self, **changes)

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None


def parse_size(value: object, *, key: str = "size") -> int:
    """``1048576``, ``1MiB``, ``512k``, ``2 GB`` (binary multiples) to bytes."""
    if isinstance(value, bool):
        raise ProxyConfigError(f"{key}: {value!r} is not a size")
    if isinstance(value, int):
        if value < 0:
            raise ProxyConfigError(f"{key}: a size cannot be negative")
        return value
    match = _SIZE.fullmatch(str(value).strip())
    if match is None:
        raise ProxyConfigError(f"{key}: {value!r} is not a size (e.g. 1048576, 512KiB, 1MiB)")
    unit = (match.group(2) or "").lower()[:1]
    return int(match.group(1)) * _UNITS[unit]


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ProxyConfigError(f"listen: {value!r} is not HOST:PORT (e.g. 127.0.0.1:8080)")
    return host.strip("[]") or "0.0.0.0", int(port)  # noqa: S104 - the user asked for any


def parse_upstream(value: str) -> Upstream:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProxyConfigError(
            f"upstream: {value!r} is not an http:// or https:// URL (e.g. http://127.0.0.1:9000)"
        )
    if parts.path not in ("", "/") or parts.query or parts.username:
        raise ProxyConfigError(f"upstream: {value!r} must be scheme://host[:port] alone")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise ProxyConfigError(f"upstream: {value!r} has a bad port") from exc
    scheme: Literal["http", "https"] = "https" if parts.scheme == "https" else "http"
    return Upstream(scheme, parts.hostname, port)


def _networks(values: object) -> tuple[Network, ...]:
    if not isinstance(values, list | tuple):
        raise ProxyConfigError("trusted_proxies: expected a list of addresses or networks")
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(str(value), strict=False))
        except ValueError as exc:
            raise ProxyConfigError(f"trusted_proxies: {value!r} is not an address") from exc
    return tuple(networks)


def _number(section: Mapping[str, Any], key: str, *, minimum: float = 0.0) -> float:
    value = section[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise ProxyConfigError(f"{key}: expected a number of at least {minimum}, got {value!r}")
    return float(value)


def _section(document: Mapping[str, Any], name: str, known: set[str]) -> dict[str, Any]:
    section = document.get(name) or {}
    if not isinstance(section, dict):
        raise ProxyConfigError(f"{name}: expected a mapping")
    unknown = set(section) - known
    if unknown:
        raise ProxyConfigError(f"{name}: unknown setting(s) {', '.join(sorted(unknown))}")
    return section


_TOP = {
    "listen",
    "upstream",
    "workers",
    "tls",
    "audit_log",
    "block_page",
    "fail_open",
    "trusted_proxies",
    "ban_seconds",
    "limits",
    "timeouts",
    "crs",
}
_LIMITS = {
    "inspect_body",
    "body_limit_action",
    "inspect_responses",
    "inspect_response",
    "response_types",
    "head_bytes",
    "header_line",
    "headers",
    "connections",
    "upstream_idle_connections",
}
_TIMEOUTS = {
    "header": "header_timeout",
    "keepalive": "keepalive_timeout",
    "body": "body_timeout",
    "send": "send_timeout",
    "upstream_connect": "upstream_connect_timeout",
    "upstream": "upstream_timeout",
    "upstream_idle": "upstream_idle_timeout",
    "websocket_idle": "websocket_idle_timeout",
    "shutdown_grace": "shutdown_grace",
}


def read_config_file(path: Path) -> dict[str, Any]:
    """The YAML document of a config file, checked to be a mapping of known sections."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ProxyConfigError(f"cannot read {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ProxyConfigError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise ProxyConfigError(f"{path}: expected a mapping of settings")
    unknown = set(document) - _TOP
    if unknown:
        raise ProxyConfigError(f"{path}: unknown setting(s) {', '.join(sorted(unknown))}")
    return document


def load_config(document: Mapping[str, Any], *, base: Path | None = None) -> ProxyConfig:
    """A :class:`ProxyConfig` from a config document (see docs/waf.md); relative paths
    are read from ``base`` (the config file's folder)."""

    def path(value: object) -> Path:
        candidate = Path(str(value)).expanduser()
        return candidate if candidate.is_absolute() or base is None else base / candidate

    if "upstream" not in document:
        raise ProxyConfigError("upstream: missing (e.g. upstream: http://127.0.0.1:9000)")
    changes: dict[str, Any] = {"upstream": parse_upstream(str(document["upstream"]))}
    if "listen" in document:
        changes["listen_host"], changes["listen_port"] = parse_listen(str(document["listen"]))
    if "workers" in document:
        changes["workers"] = int(_number(document, "workers", minimum=1))
    tls = _section(document, "tls", {"cert", "key"})
    if tls:
        if set(tls) != {"cert", "key"}:
            raise ProxyConfigError("tls: give both cert and key")
        changes["tls_cert"], changes["tls_key"] = path(tls["cert"]), path(tls["key"])
    if "audit_log" in document:
        value = document["audit_log"]
        changes["audit_log"] = (
            None if value in (None, False, "") else str(value if value == "-" else path(value))
        )
    if document.get("block_page"):
        changes["block_page"] = path(document["block_page"])
    if "fail_open" in document:
        if not isinstance(document["fail_open"], bool):
            raise ProxyConfigError("fail_open: expected true or false")
        changes["fail_open"] = document["fail_open"]
    if "trusted_proxies" in document:
        changes["trusted_proxies"] = _networks(document["trusted_proxies"])
    if "ban_seconds" in document:
        changes["ban_seconds"] = _number(document, "ban_seconds")
    limits = _section(document, "limits", _LIMITS)
    head = HeadLimits()
    if "inspect_body" in limits:
        changes["inspect_limit"] = parse_size(limits["inspect_body"], key="inspect_body")
    if "body_limit_action" in limits:
        action = limits["body_limit_action"]
        if action not in ("reject", "partial"):
            raise ProxyConfigError("body_limit_action: expected reject or partial")
        changes["body_limit_action"] = action
    if "inspect_responses" in limits:
        changes["inspect_responses"] = bool(limits["inspect_responses"])
    if "inspect_response" in limits:
        changes["response_inspect_limit"] = parse_size(
            limits["inspect_response"], key="inspect_response"
        )
    if "response_types" in limits:
        types = limits["response_types"]
        if not isinstance(types, list):
            raise ProxyConfigError("response_types: expected a list of media types")
        changes["response_inspect_types"] = tuple(str(t).lower() for t in types)
    if "head_bytes" in limits:
        head = dataclasses.replace(
            head, max_head_bytes=parse_size(limits["head_bytes"], key="head_bytes")
        )
    if "header_line" in limits:
        head = dataclasses.replace(
            head, max_line_bytes=parse_size(limits["header_line"], key="header_line")
        )
    if "headers" in limits:
        head = dataclasses.replace(head, max_headers=int(_number(limits, "headers", minimum=1)))
    changes["head_limits"] = head
    if "connections" in limits:
        changes["max_connections"] = int(_number(limits, "connections", minimum=1))
    if "upstream_idle_connections" in limits:
        changes["upstream_max_idle"] = int(_number(limits, "upstream_idle_connections"))
    timeouts = _section(document, "timeouts", {*_TIMEOUTS, "body_min_rate"})
    for key, attribute in _TIMEOUTS.items():
        if key in timeouts:
            changes[attribute] = _number(timeouts, key, minimum=0.001)
    if "body_min_rate" in timeouts:
        changes["body_min_rate"] = int(_number(timeouts, "body_min_rate"))
    return ProxyConfig(**changes)
