"""The WAF policy: the :class:`~stockade.waf.decision.Decider` the proxy calls.

A :class:`WafPolicy` is loaded from a YAML policy file (format in ``docs/waf.md``,
"Policy file") and decides each request in this order, cheapest first:

1. client IP (the peer, or the right-most untrusted ``X-Forwarded-For`` hop when the
   peer is a trusted proxy);
2. allow-listed clients pass uninspected; banned clients and deny-listed clients get 403;
3. rate limits (429, or a ban in mode ``ban``);
4. the native protections, the OpenAPI description and CRS (through the SecLang engine),
   each with its mode (``disabled``, ``alert``, ``prevent``, ``ban``) and the policy's
   exceptions (by path glob, parameter, header or cookie name, per protection or rule id).

The strongest mode among what was found decides: ban > prevent > alert. CRS matches are
scored as CRS scores them (critical 5, error 4, warning 3, notice 2) after exceptions; at
or above the anomaly threshold CRS's mode applies, below it they only alert. Every
decision with detections carries a short random incident id. Hostile input never makes
the policy raise anything but :class:`~stockade.waf.errors.WafError` (an internal fault,
which the proxy turns into fail-open or fail-closed).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import html
import posixpath
import secrets
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from stockade.waf.decision import Action, Decision, Detection, Mode
from stockade.waf.errors import WafError
from stockade.waf.openapi import ApiProtection, OpenApiError, OpenApiSpec
from stockade.waf.protections import (
    NATIVE_PROTECTIONS,
    CodeInjection,
    CommandInjection,
    CrossSiteScripting,
    FileInclusion,
    Protection,
    ProtocolSettings,
    ProtocolValidation,
    RequestView,
    ScannerDetection,
    Shellshock,
    SqlInjection,
    default_user_agents,
)
from stockade.waf.protections.interface import redact, snippet
from stockade.waf.protections.lfi import DEFAULT_ALLOWED_HIDDEN
from stockade.waf.protections.view import DEFAULT_BODY_LIMIT, percent_decode
from stockade.waf.ratelimit import IpList, RateLimiter, RateLimitError, RateLimitRule, parse_ip
from stockade.waf.request import HttpRequest, HttpResponse
from stockade.waf.seclang.engine import MatchedRule, Plan, Transaction

__all__ = [
    "CrsSettings",
    "PolicyConfig",
    "PolicyError",
    "PolicyException",
    "WafPolicy",
]

PROTECTION_IDS: Final = (*NATIVE_PROTECTIONS, "crs", "openapi", "ratelimit")
DEFAULT_MODES: Final = {
    "protocol": Mode.ALERT,
    "scanner": Mode.PREVENT,
    "shellshock": Mode.PREVENT,
    "lfi": Mode.PREVENT,
    "sqli": Mode.PREVENT,
    "xss": Mode.PREVENT,
    "cmdi": Mode.PREVENT,
    "code": Mode.PREVENT,
}
_RANK: Final = {Mode.DISABLED: 0, Mode.ALERT: 1, Mode.PREVENT: 2, Mode.BAN: 3}
_ACTION: Final = {
    Mode.DISABLED: Action.ALLOW,
    Mode.ALERT: Action.ALERT,
    Mode.PREVENT: Action.DENY,
    Mode.BAN: Action.BAN,
}
CRS_SEVERITY_SCORES: Final = {"CRITICAL": 5, "ERROR": 4, "WARNING": 3, "NOTICE": 2}
"""What CRS adds to the anomaly score per matched rule (crs-setup.conf defaults)."""
MAX_PENDING_RESPONSES: Final = 512
"""CRS transactions kept between a request and its response (for response rules)."""
DEFAULT_BLOCK_PAGE: Final = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Request blocked</title></head>
<body><h1>Request blocked</h1>
<p>This request was refused by the web application firewall (status {{status}}).</p>
<p>If you think this is a mistake, contact the site's operators and quote incident
<strong>{{incident_id}}</strong>.</p></body></html>
"""
CRS_BODY_PROCESSORS: Final = """
SecRule REQUEST_HEADERS:Content-Type "@rx ^(?:application(?:/soap\\+|/)|text/)xml" \\
    "id:200000,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML"
SecRule REQUEST_HEADERS:Content-Type "@rx ^application/json" \\
    "id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRule REQUEST_HEADERS:Content-Type "@rx ^application/[a-z0-9.-]+[+]json" \\
    "id:200006,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
"""


class PolicyError(WafError):
    """A policy file is invalid: says which key and why."""


def _evaluation_rule(rule_id: int) -> bool:
    """CRS's own bookkeeping and scoring rules (949/959 blocking, 980 reporting)."""
    return 949000 <= rule_id < 950000 or 959000 <= rule_id < 960000 or rule_id >= 980000


@dataclass(frozen=True, slots=True)
class PolicyException:
    """Detections this exception lets through (they are still reported, as excepted).

    Every condition given must hold; a list condition holds when any of its globs does.
    ``parameters``, ``headers`` and ``cookies`` name where the detection was found."""

    name: str = ""
    protections: frozenset[str] = frozenset()
    rule_ids: frozenset[str] = frozenset()
    paths: tuple[str, ...] = ()
    parameters: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()
    cookies: tuple[str, ...] = ()

    def covers(self, found: Detection, path: str) -> bool:
        if self.protections and found.protection not in self.protections:
            return False
        if self.rule_ids and found.rule_id not in self.rule_ids:
            return False
        if self.paths and not any(fnmatch.fnmatchcase(path, glob) for glob in self.paths):
            return False
        if self.parameters or self.headers or self.cookies:
            collection, _, name = found.location.partition(":")
            if collection in {
                "ARGS",
                "ARGS_NAMES",
                "ARGS_GET",
                "ARGS_POST",
                "ARGS_GET_NAMES",
                "ARGS_POST_NAMES",
            }:
                return any(fnmatch.fnmatchcase(name, glob) for glob in self.parameters)
            if collection in {"REQUEST_HEADERS", "REQUEST_HEADERS_NAMES"}:
                lower = name.lower()
                return any(fnmatch.fnmatchcase(lower, glob.lower()) for glob in self.headers)
            if collection in {"REQUEST_COOKIES", "REQUEST_COOKIES_NAMES"}:
                return any(fnmatch.fnmatchcase(name, glob) for glob in self.cookies)
            return False
        return True


@dataclass(frozen=True, slots=True)
class CrsSettings:
    mode: Mode = Mode.DISABLED
    paranoia_level: int = 1
    anomaly_threshold: int = 5
    outbound_anomaly_threshold: int = 4
    inspect_responses: bool = False


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    """A validated policy file (see :meth:`from_mapping` for the keys)."""

    modes: Mapping[str, Mode] = field(default_factory=lambda: dict(DEFAULT_MODES))
    ban_seconds: float = 600.0
    max_bans: int = 100_000
    body_limit: int = DEFAULT_BODY_LIMIT
    body_limit_action: str = "partial"
    block_page: str = DEFAULT_BLOCK_PAGE
    block_status: int = 403
    trusted_proxies: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    rate_limits: tuple[RateLimitRule, ...] = ()
    rate_limit_mode: Mode = Mode.PREVENT
    max_clients: int = 100_000
    protocol: ProtocolSettings = field(default_factory=ProtocolSettings)
    scanner_user_agents: tuple[str, ...] | None = None
    scanner_extra_user_agents: tuple[str, ...] = ()
    lfi_allowed_hidden: tuple[str, ...] = DEFAULT_ALLOWED_HIDDEN
    crs: CrsSettings = field(default_factory=CrsSettings)
    openapi_spec: Path | None = None
    openapi_mode: Mode = Mode.PREVENT
    openapi_base_path: str | None = None
    openapi_reject_unknown_parameters: bool = False
    exceptions: tuple[PolicyException, ...] = ()

    @classmethod
    def from_mapping(cls, data: Any, *, base_dir: Path | None = None) -> PolicyConfig:
        """Validate a parsed policy file; relative file names resolve against
        ``base_dir``. Unknown keys are errors: a typo must not silently disable a
        protection."""
        return _Reader(base_dir or Path.cwd()).config(data)


class _Reader:
    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir

    # small typed readers, each naming the key that is wrong
    @staticmethod
    def mapping(value: Any, where: str) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise PolicyError(f"policy: {where} must be a mapping")
        return value

    @staticmethod
    def keys(value: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
        unknown = sorted(set(value) - set(allowed))
        if unknown:
            raise PolicyError(
                f"policy: unknown key {unknown[0]!r} in {where}",
                hint="allowed keys: " + ", ".join(allowed),
            )

    @staticmethod
    def mode(value: Any, where: str) -> Mode:
        try:
            return Mode(str(value).lower()) if isinstance(value, str) else Mode(value)
        except ValueError:
            raise PolicyError(
                f"policy: {where} must be one of disabled, alert, prevent, ban (got {value!r})"
            ) from None

    @staticmethod
    def integer(value: Any, where: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise PolicyError(f"policy: {where} must be an integer from {low} to {high}")
        return value

    @staticmethod
    def number(value: Any, where: str, low: float, high: float) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise PolicyError(f"policy: {where} must be a number")
        if not low <= float(value) <= high:
            raise PolicyError(f"policy: {where} must be from {low} to {high}")
        return float(value)

    @staticmethod
    def boolean(value: Any, where: str) -> bool:
        if not isinstance(value, bool):
            raise PolicyError(f"policy: {where} must be true or false")
        return value

    @staticmethod
    def strings(value: Any, where: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
            raise PolicyError(f"policy: {where} must be a list of strings")
        return tuple(str(v) for v in value)

    def path(self, value: Any, where: str) -> Path:
        if not isinstance(value, str) or not value:
            raise PolicyError(f"policy: {where} must be a file name")
        path = Path(value)
        return path if path.is_absolute() else self.base_dir / path

    def config(self, data: Any) -> PolicyConfig:
        top = self.mapping(data, "the policy file")
        self.keys(
            top,
            (
                "version",
                "default_mode",
                "ban_seconds",
                "max_bans",
                "body_limit",
                "body_limit_action",
                "block_page",
                "block_status",
                "trusted_proxies",
                "ip_lists",
                "rate_limits",
                "protections",
                "crs",
                "openapi",
                "exceptions",
            ),
            "the policy file",
        )
        if top.get("version", 1) != 1:
            raise PolicyError("policy: version must be 1")
        values: dict[str, Any] = {}
        modes = dict(DEFAULT_MODES)
        if "default_mode" in top:
            default = self.mode(top["default_mode"], "default_mode")
            modes = dict.fromkeys(DEFAULT_MODES, default)
        if "ban_seconds" in top:
            values["ban_seconds"] = self.number(top["ban_seconds"], "ban_seconds", 1, 10**8)
        if "max_bans" in top:
            values["max_bans"] = self.integer(top["max_bans"], "max_bans", 1, 10**7)
        if "body_limit" in top:
            values["body_limit"] = self.integer(top["body_limit"], "body_limit", 0, 2**31)
        if "body_limit_action" in top:
            action = top["body_limit_action"]
            if action not in {"partial", "reject"}:
                raise PolicyError("policy: body_limit_action must be partial or reject")
            values["body_limit_action"] = action
        if "block_page" in top:
            page = self.path(top["block_page"], "block_page")
            try:
                values["block_page"] = page.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise PolicyError(f"policy: cannot read block_page {page}: {exc}") from exc
        if "block_status" in top:
            values["block_status"] = self.integer(top["block_status"], "block_status", 400, 599)
        values["trusted_proxies"] = self.networks(top.get("trusted_proxies"), "trusted_proxies")
        lists = self.mapping(top.get("ip_lists"), "ip_lists")
        self.keys(lists, ("allow", "deny"), "ip_lists")
        values["allow"] = self.networks(lists.get("allow"), "ip_lists.allow")
        values["deny"] = self.networks(lists.get("deny"), "ip_lists.deny")
        self.rate_limits(top.get("rate_limits"), values)
        self.protections(top.get("protections"), modes, values)
        values["modes"] = modes
        values["crs"] = self.crs(top.get("crs"))
        self.openapi(top.get("openapi"), values)
        values["exceptions"] = self.exceptions(top.get("exceptions"))
        return PolicyConfig(**values)

    def networks(self, value: Any, where: str) -> tuple[str, ...]:
        entries = self.strings(value, where)
        try:
            IpList(entries, name=where)
        except RateLimitError as exc:
            raise PolicyError(f"policy: {exc.message}") from exc
        return entries

    def rate_limits(self, value: Any, values: dict[str, Any]) -> None:
        section = self.mapping(value, "rate_limits")
        self.keys(section, ("mode", "max_clients", "rules"), "rate_limits")
        if "mode" in section:
            values["rate_limit_mode"] = self.mode(section["mode"], "rate_limits.mode")
        if "max_clients" in section:
            values["max_clients"] = self.integer(
                section["max_clients"], "rate_limits.max_clients", 1, 10**8
            )
        rules = section.get("rules") or []
        if not isinstance(rules, list):
            raise PolicyError("policy: rate_limits.rules must be a list")
        parsed: list[RateLimitRule] = []
        for index, raw in enumerate(rules):
            where = f"rate_limits.rules[{index}]"
            rule = self.mapping(raw, where)
            self.keys(rule, ("name", "rate", "burst", "path_prefix"), where)
            if "rate" not in rule or "burst" not in rule:
                raise PolicyError(f"policy: {where} needs rate and burst")
            try:
                parsed.append(
                    RateLimitRule(
                        name=str(rule.get("name", f"rule-{index + 1}")),
                        rate=self.number(rule["rate"], f"{where}.rate", 1e-6, 1e9),
                        burst=self.integer(rule["burst"], f"{where}.burst", 1, 10**9),
                        path_prefix=str(rule.get("path_prefix", "/")),
                    )
                )
            except RateLimitError as exc:
                raise PolicyError(f"policy: {where}: {exc.message}") from exc
        try:
            RateLimiter(parsed)
        except RateLimitError as exc:
            raise PolicyError(f"policy: rate_limits: {exc.message}") from exc
        values["rate_limits"] = tuple(parsed)

    def protections(self, value: Any, modes: dict[str, Mode], values: dict[str, Any]) -> None:
        section = self.mapping(value, "protections")
        self.keys(section, NATIVE_PROTECTIONS, "protections")
        options_allowed: dict[str, tuple[str, ...]] = {
            "protocol": (
                "mode",
                "allowed_methods",
                "allowed_versions",
                "allowed_content_types",
                "allowed_charsets",
                "restricted_headers",
                "max_header_length",
                "max_headers",
                "max_ranges",
                "max_args",
            ),
            "scanner": ("mode", "user_agents", "extra_user_agents"),
            "lfi": ("mode", "allowed_hidden_paths"),
        }
        for name, raw in section.items():
            where = f"protections.{name}"
            if not isinstance(raw, Mapping):
                modes[name] = self.mode(raw, where)
                continue
            options = self.mapping(raw, where)
            self.keys(options, options_allowed.get(name, ("mode",)), where)
            if "mode" in options:
                modes[name] = self.mode(options["mode"], f"{where}.mode")
            if name == "protocol":
                base = ProtocolSettings()
                settings: dict[str, Any] = {}
                for key in (
                    "allowed_methods",
                    "allowed_versions",
                    "allowed_content_types",
                    "allowed_charsets",
                    "restricted_headers",
                ):
                    if key in options:
                        settings[key] = self.strings(options[key], f"{where}.{key}")
                for key in ("max_header_length", "max_headers", "max_ranges", "max_args"):
                    if key in options:
                        settings[key] = self.integer(options[key], f"{where}.{key}", 1, 10**9)
                values["protocol"] = dataclasses.replace(base, **settings)
            elif name == "scanner":
                if "user_agents" in options:
                    values["scanner_user_agents"] = self.strings(
                        options["user_agents"], f"{where}.user_agents"
                    )
                values["scanner_extra_user_agents"] = self.strings(
                    options.get("extra_user_agents"), f"{where}.extra_user_agents"
                )
            elif name == "lfi" and "allowed_hidden_paths" in options:
                values["lfi_allowed_hidden"] = self.strings(
                    options["allowed_hidden_paths"], f"{where}.allowed_hidden_paths"
                )

    def crs(self, value: Any) -> CrsSettings:
        if isinstance(value, str):
            return CrsSettings(mode=self.mode(value, "crs"))
        section = self.mapping(value, "crs")
        self.keys(
            section,
            (
                "mode",
                "paranoia_level",
                "anomaly_threshold",
                "outbound_anomaly_threshold",
                "inspect_responses",
            ),
            "crs",
        )
        return CrsSettings(
            mode=self.mode(section.get("mode", "disabled"), "crs.mode"),
            paranoia_level=self.integer(
                section.get("paranoia_level", 1), "crs.paranoia_level", 1, 4
            ),
            anomaly_threshold=self.integer(
                section.get("anomaly_threshold", 5), "crs.anomaly_threshold", 1, 10_000
            ),
            outbound_anomaly_threshold=self.integer(
                section.get("outbound_anomaly_threshold", 4),
                "crs.outbound_anomaly_threshold",
                1,
                10_000,
            ),
            inspect_responses=self.boolean(
                section.get("inspect_responses", False), "crs.inspect_responses"
            ),
        )

    def openapi(self, value: Any, values: dict[str, Any]) -> None:
        if value is None:
            return
        section = self.mapping(value, "openapi")
        self.keys(section, ("spec", "mode", "base_path", "reject_unknown_parameters"), "openapi")
        if "spec" not in section:
            raise PolicyError("policy: openapi needs spec (the description's file name)")
        values["openapi_spec"] = self.path(section["spec"], "openapi.spec")
        if "mode" in section:
            values["openapi_mode"] = self.mode(section["mode"], "openapi.mode")
        if "base_path" in section:
            base = section["base_path"]
            if not isinstance(base, str):
                raise PolicyError("policy: openapi.base_path must be a path")
            values["openapi_base_path"] = base
        if "reject_unknown_parameters" in section:
            values["openapi_reject_unknown_parameters"] = self.boolean(
                section["reject_unknown_parameters"], "openapi.reject_unknown_parameters"
            )

    def exceptions(self, value: Any) -> tuple[PolicyException, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise PolicyError("policy: exceptions must be a list")
        out: list[PolicyException] = []
        for index, raw in enumerate(value):
            where = f"exceptions[{index}]"
            entry = self.mapping(raw, where)
            self.keys(
                entry,
                ("name", "protections", "rule_ids", "paths", "parameters", "headers", "cookies"),
                where,
            )
            protections = frozenset(self.strings(entry.get("protections"), f"{where}.protections"))
            unknown = sorted(protections - set(PROTECTION_IDS))
            if unknown:
                raise PolicyError(
                    f"policy: {where}.protections: unknown protection {unknown[0]!r}",
                    hint="protections: " + ", ".join(PROTECTION_IDS),
                )
            exception = PolicyException(
                name=str(entry.get("name", f"exception {index + 1}")),
                protections=protections,
                rule_ids=frozenset(self.strings(entry.get("rule_ids"), f"{where}.rule_ids")),
                paths=self.strings(entry.get("paths"), f"{where}.paths"),
                parameters=self.strings(entry.get("parameters"), f"{where}.parameters"),
                headers=self.strings(entry.get("headers"), f"{where}.headers"),
                cookies=self.strings(entry.get("cookies"), f"{where}.cookies"),
            )
            if not (
                exception.protections
                or exception.rule_ids
                or exception.paths
                or exception.parameters
                or exception.headers
                or exception.cookies
            ):
                raise PolicyError(
                    f"policy: {where} has no condition",
                    hint="an exception that matches everything would turn the WAF off; "
                    "name protections, rule_ids, paths, parameters, headers or cookies",
                )
            out.append(exception)
        return tuple(out)


def normalise_path(path: str) -> str:
    """``path`` with dot segments resolved and repeated slashes collapsed, as a back end
    would route it: exceptions by path glob match this, so ``/public/../admin`` cannot
    borrow ``/public/*``'s exception."""
    if not path.startswith("/"):
        path = "/" + path
    normal = posixpath.normpath(path.replace("\\", "/"))
    if normal.startswith("//"):
        normal = "/" + normal.lstrip("/")
    if path.endswith("/") and normal != "/":
        normal += "/"
    return normal


class _Pending:
    """CRS transactions waiting for their response, bounded."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.entries: OrderedDict[int, tuple[HttpRequest, Transaction, int]] = OrderedDict()

    def put(self, request: HttpRequest, transaction: Transaction, seen: int) -> None:
        self.entries[id(request)] = (request, transaction, seen)
        if len(self.entries) > self.limit:
            self.entries.popitem(last=False)

    def take(self, request: HttpRequest) -> tuple[Transaction, int] | None:
        entry = self.entries.pop(id(request), None)
        if entry is None or entry[0] is not request:
            return None
        return entry[1], entry[2]


class WafPolicy:
    """Decides requests and responses for the proxy (implements ``Decider``)."""

    def __init__(self, config: PolicyConfig | None = None, *, crs_plan: Plan | None = None) -> None:
        self.config = config = config or PolicyConfig()
        modes = {name: config.modes.get(name, DEFAULT_MODES[name]) for name in DEFAULT_MODES}
        self.modes: dict[str, Mode] = {
            **modes,
            "crs": config.crs.mode,
            "openapi": config.openapi_mode if config.openapi_spec else Mode.DISABLED,
            "ratelimit": config.rate_limit_mode if config.rate_limits else Mode.DISABLED,
        }
        self.protections: list[Protection] = [
            protection
            for protection in self._native(config)
            if self.modes[protection.name] is not Mode.DISABLED
        ]
        self.api: ApiProtection | None = None
        if config.openapi_spec is not None and self.modes["openapi"] is not Mode.DISABLED:
            try:
                spec = OpenApiSpec.load(config.openapi_spec)
            except OpenApiError as exc:
                raise PolicyError(f"policy: openapi.spec: {exc.message}", hint=exc.hint) from exc
            self.api = ApiProtection(
                spec,
                base_path=config.openapi_base_path,
                reject_unknown_parameters=config.openapi_reject_unknown_parameters,
            )
        self.allow = IpList(config.allow, name="ip_lists.allow")
        self.deny = IpList(config.deny, name="ip_lists.deny")
        self.trusted = IpList(config.trusted_proxies, name="trusted_proxies")
        self.limiter = RateLimiter(config.rate_limits, max_clients=config.max_clients)
        self.bans: OrderedDict[str, float] = OrderedDict()
        self.crs_plan: Plan | None = None
        if config.crs.mode is not Mode.DISABLED:
            self.crs_plan = crs_plan if crs_plan is not None else self.build_crs_plan(config.crs)
        self._pending = _Pending(MAX_PENDING_RESPONSES)

    # --- construction ------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path, *, crs_plan: Plan | None = None) -> WafPolicy:
        """Read a YAML policy file (relative file names inside resolve against its
        directory)."""
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise PolicyError(f"cannot read policy {file}: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise PolicyError(f"policy {file} is not UTF-8 text") from exc
        return cls.from_yaml(text, base_dir=file.resolve().parent, crs_plan=crs_plan)

    @classmethod
    def from_yaml(
        cls, text: str, *, base_dir: Path | None = None, crs_plan: Plan | None = None
    ) -> WafPolicy:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise PolicyError(f"policy is not valid YAML: {exc}") from exc
        return cls(PolicyConfig.from_mapping(data, base_dir=base_dir), crs_plan=crs_plan)

    @staticmethod
    def build_crs_plan(settings: CrsSettings) -> Plan:
        """CRS at the configured paranoia level, detection only: the policy scores and
        decides (so exceptions apply before the threshold)."""
        from stockade.waf.crs import crs_plan

        extra = CRS_BODY_PROCESSORS
        if settings.inspect_responses:
            extra += (
                "SecResponseBodyAccess On\n"
                "SecResponseBodyMimeType text/plain text/html text/xml application/json\n"
            )
        return crs_plan(
            paranoia_level=settings.paranoia_level, engine_mode="DetectionOnly", extra=extra
        )

    @staticmethod
    def _native(config: PolicyConfig) -> list[Protection]:
        user_agents = (
            config.scanner_user_agents
            if config.scanner_user_agents is not None
            else default_user_agents()
        )
        return [
            ProtocolValidation(config.protocol),
            ScannerDetection(user_agents, extra=config.scanner_extra_user_agents),
            Shellshock(),
            FileInclusion(allowed_hidden=config.lfi_allowed_hidden),
            SqlInjection(),
            CrossSiteScripting(),
            CommandInjection(),
            CodeInjection(),
        ]

    # --- the Decider -------------------------------------------------------------------

    def client_ip(self, request: HttpRequest) -> str:
        """The client's address: the peer, or behind trusted proxies the right-most
        ``X-Forwarded-For`` entry that is not itself a trusted proxy."""
        peer = request.remote_addr
        if not len(self.trusted) or peer not in self.trusted:
            return peer
        hops = [
            hop.strip()
            for value in request.header_values("x-forwarded-for")
            for hop in value.split(",")
        ]
        for hop in reversed(hops):
            address = parse_ip(hop)
            if address is None:
                break
            if address not in self.trusted:
                return str(address)
        return peer

    def decide_request(self, request: HttpRequest, *, now: float) -> Decision:
        try:
            return self._decide_request(request, now)
        except WafError:
            raise
        except Exception as exc:
            raise WafError("internal fault while deciding a request") from exc

    def decide_response(
        self, request: HttpRequest, response: HttpResponse, *, now: float
    ) -> Decision:
        try:
            return self._decide_response(request, response, now)
        except WafError:
            raise
        except Exception as exc:
            raise WafError("internal fault while deciding a response") from exc

    def _decide_request(self, request: HttpRequest, now: float) -> Decision:
        client = self.client_ip(request)
        extra: dict[str, object] = {"client": client}
        if len(self.allow) and client in self.allow:
            extra["allowlisted"] = True
            return Decision(Action.ALLOW, extra=extra)
        banned_until = self.bans.get(client)
        if banned_until is not None:
            if banned_until > now:
                extra["banned_until"] = banned_until
                found = Detection(
                    "ban",
                    "ban.active",
                    "client is banned",
                    location="REMOTE_ADDR",
                    matched=client,
                    severity="error",
                )
                return self._refuse(
                    action=Action.DENY,
                    status=self.config.block_status,
                    detections=(found,),
                    extra=extra,
                )
            del self.bans[client]
        if len(self.deny) and client in self.deny:
            found = Detection(
                "iplist",
                "iplist.deny",
                "client address is on the deny list",
                location="REMOTE_ADDR",
                matched=client,
            )
            return self._refuse(
                action=Action.DENY,
                status=self.config.block_status,
                detections=(found,),
                extra=extra,
            )
        detections: list[Detection] = []
        statuses: dict[int, int] = {}
        # The decoded, normalised path: only rate limits and exceptions need it.
        needs_route = bool(self.limiter.rules or self.config.exceptions)
        route = _route(request.uri.split("?", 1)[0]) if needs_route else ""
        if self.limiter.rules:
            verdict = self.limiter.hit(client, route, now=now)
            if not verdict.allowed and verdict.rule is not None:
                extra["retry_after"] = round(verdict.retry_after, 3)
                statuses[len(detections)] = 429
                detections.append(
                    Detection(
                        "ratelimit",
                        f"ratelimit.{verdict.rule.name}",
                        f"more than {verdict.rule.burst} requests at once or "
                        f"{verdict.rule.rate:g}/s on average",
                        location="REMOTE_ADDR",
                        matched=client,
                        severity="warning",
                    )
                )
                if self.modes["ratelimit"] in (Mode.PREVENT, Mode.BAN):
                    # Refused before any inspection: a flood costs no more than this.
                    return self._conclude(
                        detections=detections,
                        statuses=statuses,
                        score=0,
                        path=route,
                        extra=extra,
                        client=client,
                        now=now,
                    )
        config = self.config
        if config.body_limit_action == "reject" and len(request.body) > config.body_limit:
            statuses[len(detections)] = 413
            detections.append(
                Detection(
                    "protocol",
                    "protocol.body-limit",
                    f"request body larger than the {config.body_limit}-byte inspection limit",
                    location="REQUEST_BODY",
                    matched=f"{len(request.body)} bytes",
                    severity="error",
                )
            )
            return self._conclude(
                detections=detections,
                statuses=statuses,
                score=0,
                path=route,
                extra=extra,
                client=client,
                now=now,
            )
        view = RequestView.of(request, body_limit=config.body_limit)
        for protection in self.protections:
            detections.extend(protection.inspect(view))
        if self.api is not None:
            detections.extend(self.api.inspect(view))
        score = 0
        if self.crs_plan is not None:
            effective = self._effective(detections, route)
            if max((_RANK[self._mode_of(d)] for d in effective), default=0) < 2:
                crs_found = self._crs_request(request)
                detections.extend(crs_found)
                score = sum(
                    CRS_SEVERITY_SCORES.get(d.severity.upper(), 0)
                    for d in self._effective(crs_found, route)
                )
        return self._conclude(
            detections=detections,
            statuses=statuses,
            score=score,
            path=route,
            extra=extra,
            client=client,
            now=now,
        )

    def _decide_response(
        self, request: HttpRequest, response: HttpResponse, now: float
    ) -> Decision:
        if self.crs_plan is None or not self.config.crs.inspect_responses:
            self._pending.take(request)
            return Decision(Action.ALLOW)
        client = self.client_ip(request)
        extra: dict[str, object] = {"client": client}
        if len(self.allow) and client in self.allow:
            return Decision(Action.ALLOW, extra=extra)
        pending = self._pending.take(request)
        if pending is None:
            transaction = self._crs_transaction(request)
            seen = len(transaction.verdict().matched)
        else:
            transaction, seen = pending
        transaction.process_response_headers(response)
        transaction.process_response_body()
        transaction.process_logging()
        matched = transaction.verdict().matched[seen:]
        detections = [d for d in (self._crs_detection(m) for m in matched) if d is not None]
        path = _route(request.uri.split("?", 1)[0])
        effective = self._effective(detections, path)
        excepted = tuple(d for d in detections if d not in effective)
        if excepted:
            extra["excepted"] = excepted
        if not detections:
            return Decision(Action.ALLOW, extra=extra)
        score = sum(CRS_SEVERITY_SCORES.get(d.severity.upper(), 0) for d in effective)
        mode = Mode.DISABLED
        if effective:
            mode = (
                self.modes["crs"]
                if score >= self.config.crs.outbound_anomaly_threshold
                else Mode.ALERT
            )
        action = _ACTION[mode] if mode is not Mode.DISABLED else Action.ALLOW
        ban_seconds = 0.0
        if action is Action.BAN:
            ban_seconds = self.config.ban_seconds
            self._ban(client, now + ban_seconds)
            extra["banned_until"] = now + ban_seconds
        return self._build(
            action=action,
            status=self.config.block_status,
            detections=tuple(detections),
            score=score,
            extra=extra,
            ban_seconds=ban_seconds,
        )

    # --- CRS ---------------------------------------------------------------------------

    def _crs_transaction(self, request: HttpRequest) -> Transaction:
        if self.crs_plan is None:
            raise WafError("CRS is not enabled in this policy")
        if len(request.body) > self.config.body_limit:
            request = dataclasses.replace(request, body=request.body[: self.config.body_limit])
        transaction = Transaction(self.crs_plan, request)
        transaction.process_request_headers()
        transaction.process_request_body()
        return transaction

    def _crs_request(self, request: HttpRequest) -> list[Detection]:
        transaction = self._crs_transaction(request)
        verdict = transaction.verdict()
        if self.config.crs.inspect_responses:
            self._pending.put(request, transaction, len(verdict.matched))
        found = [self._crs_detection(m) for m in verdict.matched]
        return [d for d in found if d is not None]

    @staticmethod
    def _crs_detection(match: MatchedRule) -> Detection | None:
        if not match.logged or not match.rule_id or _evaluation_rule(match.rule_id):
            return None
        location = str(match.matched_var)
        name = location.partition(":")[2]
        return Detection(
            protection="crs",
            rule_id=str(match.rule_id),
            message=str(match.msg)[:200],
            location=location,
            matched=redact(name, snippet(str(match.matched_value))),
            severity=(str(match.severity) or "notice").lower(),
        )

    # --- folding -----------------------------------------------------------------------

    def _mode_of(self, found: Detection) -> Mode:
        if found.rule_id == "protocol.body-limit":
            return Mode.PREVENT
        return self.modes.get(found.protection, Mode.PREVENT)

    def _effective(self, detections: list[Detection], path: str) -> list[Detection]:
        exceptions = self.config.exceptions
        if not exceptions:
            return detections
        return [d for d in detections if not any(e.covers(d, path) for e in exceptions)]

    def _conclude(
        self,
        *,
        detections: list[Detection],
        statuses: dict[int, int],
        score: int,
        path: str,
        extra: dict[str, object],
        client: str,
        now: float,
    ) -> Decision:
        if not detections:
            return Decision(Action.ALLOW, extra=extra)
        effective_ids = {id(d) for d in self._effective(detections, path)}
        excepted = tuple(d for d in detections if id(d) not in effective_ids)
        if excepted:
            extra["excepted"] = excepted
        best = Mode.DISABLED
        status = self.config.block_status
        reason = ""
        for index, found in enumerate(detections):
            if id(found) not in effective_ids:
                continue
            mode = self._mode_of(found)
            if found.protection == "crs":
                mode = mode if score >= self.config.crs.anomaly_threshold else Mode.ALERT
            if _RANK[mode] > _RANK[best]:
                best = mode
                status = statuses.get(index, self.config.block_status)
                reason = found.message
        # Only excepted detections (or only disabled ones): let through, still reported.
        action = _ACTION[best] if best is not Mode.DISABLED else Action.ALLOW
        ban_seconds = 0.0
        if action is Action.BAN:
            ban_seconds = self.config.ban_seconds
            self._ban(client, now + ban_seconds)
            extra["banned_until"] = now + ban_seconds
        return self._build(
            action=action,
            status=status,
            detections=tuple(detections),
            score=score,
            extra=extra,
            ban_seconds=ban_seconds,
            reason=reason,
        )

    def _ban(self, client: str, until: float) -> None:
        bans = self.bans
        bans[client] = max(until, bans.get(client, 0.0))
        bans.move_to_end(client)
        while len(bans) > self.config.max_bans:
            bans.popitem(last=False)

    def _refuse(
        self,
        *,
        action: Action,
        status: int,
        detections: tuple[Detection, ...],
        extra: dict[str, object],
    ) -> Decision:
        return self._build(
            action=action,
            status=status,
            detections=detections,
            score=0,
            extra=extra,
            reason=detections[0].message if detections else "",
        )

    def _build(
        self,
        *,
        action: Action,
        status: int,
        detections: tuple[Detection, ...],
        score: int,
        extra: dict[str, object],
        ban_seconds: float = 0.0,
        reason: str = "",
    ) -> Decision:
        incident = secrets.token_hex(6) if detections else ""
        refused = action in (Action.DENY, Action.BAN)
        if refused:
            extra["block_page"] = self.render_block_page(incident, status, reason)
        return Decision(
            action=action,
            status=status if refused else 0,
            detections=detections,
            incident_id=incident,
            anomaly_score=score,
            ban_seconds=ban_seconds,
            extra=extra,
        )

    def render_block_page(self, incident_id: str, status: int, reason: str = "") -> bytes:
        """The configured block page with ``{{incident_id}}``, ``{{status}}`` and
        ``{{reason}}`` (the deciding detection's message) filled in, HTML-escaped, as
        UTF-8 bytes."""
        page = self.config.block_page.replace("{{incident_id}}", html.escape(incident_id))
        page = page.replace("{{reason}}", html.escape(reason))
        return page.replace("{{status}}", str(int(status))).encode("utf-8")


def _route(raw_path: str) -> str:
    """The path a rate-limit prefix is matched against: decoded and normalised, so
    ``/%6cogin`` and ``/a/../login`` count against ``/login``."""
    if "://" in raw_path:
        after = raw_path.split("://", 1)[1]
        slash = after.find("/")
        raw_path = after[slash:] if slash >= 0 else "/"
    return normalise_path(percent_decode(raw_path.split("#", 1)[0]))
