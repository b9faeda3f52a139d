"""``stockade waf``: the web application firewall as a reverse proxy.

Settings come from ``--config FILE`` (YAML, see docs/waf.md) and the options; an option
given on the command line wins over the file. The decider is CRS alone for now
(``stockade.waf.proxy.crs_decider``); the proxy knows only the Decider protocol. Exit
codes as everywhere: 0 stopped by SIGTERM/SIGINT, 2 bad options, configuration, rules,
certificate or a port that cannot be bound, 3 a bug.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click

from stockade.cli.output import UI
from stockade.core.errors import UsageError

_MODES = ("alert", "prevent", "ban")


@click.command()
@click.option("--listen", help="HOST:PORT to serve on [default: 127.0.0.1:8080].")
@click.option("--upstream", help="The application: http://HOST:PORT or https://HOST:PORT.")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="YAML settings file (options given here win over it).",
)
@click.option(
    "--rules",
    "rules",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="SecLang file read after CRS: exclusions, your own rules (repeatable).",
)
@click.option(
    "--crs-setup",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Your crs-setup.conf, instead of the shipped crs-setup.conf.example.",
)
@click.option(
    "--paranoia",
    type=click.IntRange(1, 4),
    help="CRS paranoia level [default: 1, or what --crs-setup sets].",
)
@click.option(
    "--mode",
    type=click.Choice(_MODES),
    help="What a CRS block does: alert (log only), prevent (403), ban (403 and ban the "
    "client's address) [default: prevent].",
)
@click.option("--ban-seconds", type=click.FloatRange(min=1), help="Ban length [default: 600].")
@click.option("--workers", type=click.IntRange(min=1), help="Worker processes [default: 1].")
@click.option("--tls-cert", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--tls-key", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--audit-log", help="Audit events as JSON lines: a file, or - for stdout.")
@click.option(
    "--block-page",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="HTML for refused requests; {{incident_id}} and {{status}} are filled in.",
)
@click.option("--inspect-limit", help="Request body bytes inspected, e.g. 1MiB [default].")
@click.option(
    "--body-limit-action",
    type=click.Choice(("reject", "partial")),
    help="A body over the limit: reject (413, default) or partial (inspect the first "
    "part, stream the rest through uninspected).",
)
@click.option(
    "--fail-open/--fail-closed",
    default=None,
    help="When the decider fails: let the request through, or refuse it with 503 "
    "[default: closed].",
)
@click.option(
    "--trusted-proxy",
    "trusted_proxies",
    multiple=True,
    help="Address or network whose X-Forwarded-For names the client (repeatable).",
)
@click.option(
    "--policy",
    "policy_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="WAF policy file: native protections, OpenAPI, rate limits, IP lists and CRS, "
    "each with its mode and exceptions (instead of the CRS-only options).",
)
@click.pass_obj
def waf(ui: UI, /, **options: Any) -> None:
    """Web application firewall: a reverse proxy that inspects requests with OWASP CRS,
    or with the protections a --policy file chooses."""
    from stockade.waf.proxy import serve

    policy_path: Path | None = options.pop("policy_path")
    if policy_path is not None:
        clashing = [
            f"--{name.replace('_', '-')}"
            for name in ("rules", "crs_setup", "paranoia", "mode", "ban_seconds")
            if options.get(name)
        ]
        if clashing:
            raise UsageError(
                f"{', '.join(clashing)} cannot be combined with --policy",
                hint="set CRS, modes and bans in the policy file (docs/waf.md, Policy file)",
            )
    config, crs = _settings(options)
    decider = _policy(policy_path) if policy_path is not None else _decider(crs)
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )

    def ready(host: str, port: int) -> None:
        scheme = "https" if config.tls else "http"
        upstream = f"{config.upstream.scheme}://{config.upstream.authority}"
        level = crs["paranoia_level"] or ("from the setup" if crs["setup"] else 1)
        workers = f"{config.workers} worker{'s' if config.workers > 1 else ''}"
        protection = (
            f"policy {policy_path}"
            if policy_path is not None
            else f"CRS paranoia level {level}, mode {crs['mode']}"
        )
        ui.info(
            f"stockade waf: listening on {scheme}://{host}:{port}, protecting {upstream} "
            f"({workers}, {protection})"
        )

    try:
        serve(config, decider, on_ready=ready)
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {config.listen_host}:{config.listen_port}: {exc.strerror or exc}",
            hint="pick another --listen address or stop what holds it",
        ) from exc


def _settings(options: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The proxy config and the CRS settings, from the file and the options."""
    from stockade.waf.proxy.config import (
        load_config,
        parse_size,
        read_config_file,
    )

    path: Path | None = options["config_path"]
    document: dict[str, Any] = read_config_file(path) if path is not None else {}
    base = path.parent if path is not None else None
    if options["upstream"]:
        document["upstream"] = options["upstream"]
    if "upstream" not in document:
        raise UsageError(
            "no upstream to protect", hint="pass --upstream http://HOST:PORT or set it in --config"
        )
    for key in ("listen", "workers", "audit_log", "fail_open"):
        if options[key] is not None:
            document[key] = options[key]
    if options["block_page"] is not None:
        document["block_page"] = str(options["block_page"].resolve())
    if options["trusted_proxies"]:
        document["trusted_proxies"] = list(options["trusted_proxies"])
    if (options["tls_cert"] is None) != (options["tls_key"] is None):
        raise UsageError("give --tls-cert and --tls-key together")
    if options["tls_cert"] is not None:
        document["tls"] = {
            "cert": str(options["tls_cert"].resolve()),
            "key": str(options["tls_key"].resolve()),
        }
    limits = dict(document.get("limits") or {})
    if options["inspect_limit"] is not None:
        limits["inspect_body"] = parse_size(options["inspect_limit"], key="--inspect-limit")
    if options["body_limit_action"] is not None:
        limits["body_limit_action"] = options["body_limit_action"]
    document["limits"] = limits
    crs = _crs_settings(document.pop("crs", None) or {}, base)
    if options["paranoia"] is not None:
        crs["paranoia_level"] = options["paranoia"]
    if options["mode"] is not None:
        crs["mode"] = options["mode"]
    if options["ban_seconds"] is not None:
        crs["ban_seconds"] = options["ban_seconds"]
    if options["crs_setup"] is not None:
        crs["setup"] = options["crs_setup"]
    crs["rules"] = [*crs["rules"], *options["rules"]]
    config = load_config(document, base=base)
    return config, crs


def _crs_settings(section: Any, base: Path | None) -> dict[str, Any]:
    from stockade.waf.proxy.config import ProxyConfigError

    if not isinstance(section, dict):
        raise ProxyConfigError("crs: expected a mapping")
    unknown = set(section) - {"paranoia_level", "mode", "ban_seconds", "setup", "rules"}
    if unknown:
        raise ProxyConfigError(f"crs: unknown setting(s) {', '.join(sorted(unknown))}")

    def path(value: object) -> Path:
        candidate = Path(str(value)).expanduser()
        return candidate if candidate.is_absolute() or base is None else base / candidate

    level = section.get("paranoia_level")
    if level is not None and level not in (1, 2, 3, 4):
        raise ProxyConfigError("crs.paranoia_level: expected 1, 2, 3 or 4")
    mode = section.get("mode", "prevent")
    if mode not in _MODES:
        raise ProxyConfigError(f"crs.mode: expected one of {', '.join(_MODES)}")
    rules = section.get("rules") or []
    if not isinstance(rules, list):
        raise ProxyConfigError("crs.rules: expected a list of files")
    return {
        "paranoia_level": level,
        "mode": mode,
        "ban_seconds": float(section.get("ban_seconds", 600)),
        "setup": path(section["setup"]) if section.get("setup") else None,
        "rules": [path(r) for r in rules],
    }


def _policy(path: Path) -> Any:
    from stockade.waf.policy import WafPolicy

    return WafPolicy.load(path)


def _decider(crs: dict[str, Any]) -> Any:
    from stockade.waf.decision import Mode
    from stockade.waf.proxy.crs_decider import CrsDecider

    return CrsDecider.load(
        paranoia_level=crs["paranoia_level"],
        mode=Mode(crs["mode"]),
        ban_seconds=crs["ban_seconds"],
        setup=crs["setup"],
        rules=crs["rules"],
    )
