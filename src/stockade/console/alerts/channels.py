"""Channel settings per kind, validated where they enter; secrets kept apart.

Each kind's settings are one pydantic model. Fields named in ``SECRETS`` are write-only:
they are stored sealed (:mod:`.sealing`) in the channel's ``secrets`` column, answered as
``{"set": true}`` and taken out of every error message (:func:`redact`). On a change,
a secret that is left out keeps its stored value; ``null`` removes it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from stockade.console.alerts.interface import AlertConfigError
from stockade.console.errors import ConsoleError

__all__ = [
    "CONFIG_TYPES",
    "ChannelConfig",
    "ChannelKind",
    "EmailConfig",
    "SlackConfig",
    "SyslogConfig",
    "WebhookConfig",
    "check_complete",
    "load_config",
    "merge_secrets",
    "parse_address",
    "public_view",
    "redact",
    "secret_values",
    "split_config",
]

ChannelKind = Literal["webhook", "slack", "syslog", "email"]
Facility = Literal[
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "audit",
    "alert",
    "clock",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
]

PEM_MAX = 64 * 1024
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)
_ADDRESS = re.compile(r"^[^\s@<>(),;:\"\[\]\\]{1,64}@[A-Za-z0-9.-]{1,253}$")


def _check_host(host: str) -> str:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _HOSTNAME.match(host):
            raise ValueError("not a host name or IP address") from None
    return host


def parse_address(address: str) -> tuple[str, int]:
    """``host:port`` or ``[IPv6]:port`` to a host and a port, or ValueError."""
    if address.startswith("["):
        host, sep, port = address[1:].partition("]:")
        if not sep:
            raise ValueError("an IPv6 address is written [ADDRESS]:PORT")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError("not an IPv6 address in brackets") from None
    else:
        host, sep, port = address.rpartition(":")
        if not sep or not host:
            raise ValueError("expected HOST:PORT")
        _check_host(host)
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError("the port must be a number from 1 to 65535")
    return host, int(port)


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("only http and https URLs are accepted")
    try:
        host = parts.hostname
        parts.port  # noqa: B018  # raises on a port that is not a number
    except ValueError:
        raise ValueError("the URL's host or port is not valid") from None
    if not host:
        raise ValueError("the URL has no host")
    _check_host(host)
    return url


def _check_certificates(pem: str) -> str:
    try:
        if not x509.load_pem_x509_certificates(pem.encode()):
            raise ValueError("no certificate")
    except ValueError:
        raise ValueError("not one or more PEM certificates") from None
    return pem


def _check_key(pem: str) -> str:
    try:
        load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise ValueError("not an unencrypted PEM private key") from None
    return pem


def _check_email(address: str) -> str:
    if not _ADDRESS.match(address):
        raise ValueError("not an e-mail address (local@domain)")
    return address


def _check_address(address: str) -> str:
    parse_address(address)
    return address


def _check_header_text(text: str) -> str:
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise ValueError("control characters are not allowed")
    return text


HttpUrl = Annotated[str, Field(max_length=2048), AfterValidator(_check_url)]
Host = Annotated[str, Field(min_length=1, max_length=253), AfterValidator(_check_host)]
Certificates = Annotated[str, Field(max_length=PEM_MAX), AfterValidator(_check_certificates)]
PrivateKey = Annotated[str, Field(max_length=PEM_MAX), AfterValidator(_check_key)]
EmailAddress = Annotated[str, Field(min_length=3, max_length=320), AfterValidator(_check_email)]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")
    SECRETS: ClassVar[tuple[str, ...]] = ()
    REQUIRED_SECRETS: ClassVar[tuple[str, ...]] = ()


class WebhookConfig(_Config):
    """A JSON POST; with ``secret``, signed with HMAC-SHA256 (``X-Stockade-Signature``)."""

    SECRETS = ("url", "secret")
    REQUIRED_SECRETS = ("url",)
    url: HttpUrl | None = Field(
        default=None, description="http or https; write-only (it may hold a token)"
    )
    secret: str | None = Field(
        default=None,
        min_length=16,
        max_length=512,
        description="HMAC-SHA256 key shared with the receiver; write-only",
    )


class SlackConfig(_Config):
    """A Slack incoming webhook (or anything that takes Slack's ``text`` and ``blocks``)."""

    SECRETS = ("url",)
    REQUIRED_SECRETS = ("url",)
    url: HttpUrl | None = Field(
        default=None, description="the incoming webhook URL; write-only (it is the token)"
    )


class SyslogConfig(_Config):
    """RFC 5424 messages over UDP (RFC 5426), TCP (RFC 6587 octet counting) or TLS
    (RFC 5425)."""

    SECRETS = ("clientKey",)
    address: Annotated[str, Field(max_length=300), AfterValidator(_check_address)] = Field(
        description="HOST:PORT or [IPv6]:PORT"
    )
    transport: Literal["udp", "tcp", "tls"] = "udp"
    facility: Facility = "local0"
    appName: str = Field(default="stockade", pattern=r"^[!-~]{1,48}$")
    hostname: str | None = Field(
        default=None, pattern=r"^[!-~]{1,255}$", description="default: this machine's name"
    )
    caCertificate: Certificates | None = Field(
        default=None, description="PEM; default: the system's trust store"
    )
    serverName: Host | None = Field(default=None, description="name to verify; default: the host")
    clientCertificate: Certificates | None = None
    clientKey: PrivateKey | None = Field(default=None, description="write-only")

    @model_validator(mode="after")
    def _tls_only(self) -> SyslogConfig:
        tls_fields = ("caCertificate", "serverName", "clientCertificate", "clientKey")
        if self.transport != "tls" and any(getattr(self, f) is not None for f in tls_fields):
            raise ValueError("caCertificate, serverName and client certificates need transport tls")
        return self


class EmailConfig(_Config):
    """SMTP, with STARTTLS (default) or implicit TLS, and an optional login."""

    SECRETS = ("password",)
    host: Host
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = Field(default=None, min_length=1, max_length=256)
    password: str | None = Field(
        default=None, min_length=1, max_length=1024, description="write-only"
    )
    sender: EmailAddress = Field(description="the From address")
    recipients: list[EmailAddress] = Field(min_length=1, max_length=50)
    subjectPrefix: Annotated[str, AfterValidator(_check_header_text)] = Field(
        default="[Stockade]", max_length=50
    )
    caCertificate: Certificates | None = None
    heloName: Host | None = Field(
        default=None, description="name given in EHLO; default: this machine's"
    )

    @model_validator(mode="after")
    def _login_needs_tls(self) -> EmailConfig:
        if self.security == "none" and (self.username is not None or self.password is not None):
            raise ValueError("a login is only sent over TLS: use security starttls or tls")
        if self.security == "none" and self.caCertificate is not None:
            raise ValueError("caCertificate needs security starttls or tls")
        return self


ChannelConfig = WebhookConfig | SlackConfig | SyslogConfig | EmailConfig

CONFIG_TYPES: dict[str, type[_Config]] = {
    "webhook": WebhookConfig,
    "slack": SlackConfig,
    "syslog": SyslogConfig,
    "email": EmailConfig,
}


def split_config(config: _Config) -> tuple[dict[str, Any], dict[str, Any]]:
    """What may be shown, and the secrets (only those that are set)."""
    data = config.model_dump(mode="json")
    public = {k: v for k, v in data.items() if k not in config.SECRETS}
    secrets = {k: data[k] for k in config.SECRETS if data.get(k) is not None}
    return public, secrets


def merge_secrets(
    config: _Config, stored: Mapping[str, Any] | None, seal: Callable[[str], str]
) -> dict[str, Any]:
    """The (sealed) secrets after a change: given ones are sealed and replace, ``null``
    removes, left out keeps ``stored`` (None when the kind changed: nothing carries
    over)."""
    merged: dict[str, Any] = {}
    for name in config.SECRETS:
        if name in config.model_fields_set:
            value = getattr(config, name)
            if value is not None:
                merged[name] = seal(value)
        elif stored is not None and stored.get(name) is not None:
            merged[name] = stored[name]
    return merged


def load_config(kind: str, public: Mapping[str, Any], secrets: Mapping[str, Any]) -> ChannelConfig:
    model = CONFIG_TYPES[kind].model_validate({**public, **secrets})
    if not isinstance(model, WebhookConfig | SlackConfig | SyslogConfig | EmailConfig):
        raise TypeError(kind)
    return model


def check_complete(kind: str, public: Mapping[str, Any], secrets: Mapping[str, Any]) -> None:
    """Refuse a channel that lacks a secret it needs (after merging what was stored)."""
    config_type = CONFIG_TYPES[kind]
    missing = [f"config.{n}" for n in config_type.REQUIRED_SECRETS if n not in secrets]
    if missing:
        raise AlertConfigError(f"a {kind} channel needs {', '.join(missing)}")
    if kind == "email" and public.get("username") is not None and "password" not in secrets:
        raise AlertConfigError("an e-mail channel with a username needs config.password")
    if kind == "syslog" and (public.get("clientCertificate") is None) != (
        "clientKey" not in secrets
    ):
        raise AlertConfigError(
            "config.clientCertificate and config.clientKey go together",
            "give both for TLS client authentication, or neither",
        )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme.lower()}://{host}{port}"


def public_view(
    kind: str,
    public: Mapping[str, Any],
    sealed: Mapping[str, Any],
    open_secret: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """The settings as the API shows them: secrets as ``{"set": bool}``, a URL with its
    origin too (which holds no token) when ``open_secret`` can open it."""
    view = dict(public)
    for name in CONFIG_TYPES[kind].SECRETS:
        value = sealed.get(name)
        shown: dict[str, Any] = {"set": value is not None}
        if name == "url" and isinstance(value, str) and open_secret is not None:
            with contextlib.suppress(ConsoleError, ValueError):
                shown["origin"] = _origin(open_secret(value))
        view[name] = shown
    return view


def secret_values(secrets: Mapping[str, Any]) -> list[str]:
    """Strings an error message must never contain: each secret, and for URLs their
    path and query too (where webhook tokens live)."""
    values: list[str] = []
    for value in secrets.values():
        if not isinstance(value, str):
            continue
        values.append(value)
        if value.lower().startswith(("http://", "https://")):
            parts = urlsplit(value)
            values += [p for p in (parts.path, parts.query) if len(p) > 3]
            if "@" in parts.netloc:
                values.append(parts.netloc.rpartition("@")[0])
    return sorted({v for v in values if len(v) >= 4}, key=len, reverse=True)


def redact(text: str, values: Iterable[str]) -> str:
    for value in values:
        text = text.replace(value, "[secret]")
    return text
