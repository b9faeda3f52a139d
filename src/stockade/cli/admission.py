"""``stockade admission …``: the Kubernetes validating admission webhook.

``serve`` runs the webhook over HTTPS until SIGINT or SIGTERM; ``manifest`` prints the
ValidatingWebhookConfiguration that registers it. Exit codes as everywhere: 0 done,
2 bad options or an unreadable policy, certificate or scan result, 3 a bug.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from stockade.cli.output import UI, write_atomically
from stockade.core.errors import UsageError

if TYPE_CHECKING:
    from stockade.admission.webhook.certs import TlsFiles

DEFAULT_LISTEN = "127.0.0.1:8443"
DEFAULT_SERVICE = "stockade-admission"
DEFAULT_NAMESPACE = "stockade-system"


def _service_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        (
            click.option(
                "--generate-cert",
                "cert_dir",
                type=click.Path(file_okay=False, path_type=Path),
                help="Make (or reuse) a private CA and a server certificate in DIR: "
                "ca.crt (the caBundle), tls.crt, tls.key.",
            ),
            click.option(
                "--service-name",
                default=DEFAULT_SERVICE,
                show_default=True,
                help="The webhook's Service (its DNS names go in the certificate).",
            ),
            click.option(
                "--service-namespace",
                default=DEFAULT_NAMESPACE,
                show_default=True,
                help="The Service's namespace (never sent to the webhook itself).",
            ),
            click.option(
                "--fail-open/--fail-closed",
                default=False,
                help="When evaluation fails or times out: allow (failurePolicy Ignore) or "
                "deny (Fail, the default).",
            ),
            click.option(
                "--timeout",
                type=click.FloatRange(min=0.1, max=9.0),
                default=3.0,
                show_default=True,
                help="Seconds to answer one review in (the manifest's timeoutSeconds is "
                "this plus 2).",
            ),
        )
    ):
        command = option(command)
    return command


@click.group()
def admission() -> None:
    """Kubernetes validating admission webhook: built-in checks, image and
    vulnerability policy, Gatekeeper constraints."""


def _tls(
    ui: UI,
    cert: Path | None,
    key: Path | None,
    cert_dir: Path | None,
    names: Sequence[str],
) -> TlsFiles:
    from stockade.admission.webhook.certs import TlsFiles

    if cert_dir is not None and (cert or key):
        raise UsageError("give either --cert and --key or --generate-cert, not both")
    if cert_dir is not None:
        try:
            from stockade.admission.webhook.certs import ensure_certificates
        except ImportError as exc:
            raise UsageError(
                "--generate-cert needs the cryptography package",
                hint="install it, or pass --cert and --key",
            ) from exc
        files = ensure_certificates(cert_dir, names)
        ui.info(
            f"{'generated' if files.generated else 'reusing'} certificates in {cert_dir} "
            f"for {', '.join(names)}; CA bundle: {files.ca}"
        )
        return files
    if cert is None or key is None:
        raise UsageError(
            "the webhook needs a TLS certificate",
            hint="pass --cert FILE --key FILE, or --generate-cert DIR",
        )
    return TlsFiles(cert=cert, key=key)


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f"--listen {value!r} is not HOST:PORT", hint="e.g. 0.0.0.0:8443")
    return host.strip("[]") or "0.0.0.0", int(port)  # noqa: S104 - the user asked for any


@admission.command("serve")
@click.option(
    "--listen",
    default=DEFAULT_LISTEN,
    show_default=True,
    help="HOST:PORT to serve HTTPS on (0.0.0.0:8443 in a cluster).",
)
@click.option("--cert", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--key", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--extra-name",
    "extra_names",
    multiple=True,
    help="Another DNS name or IP for the generated certificate (repeatable).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Policy file (YAML): what denies and warns, per namespace.",
)
@click.option(
    "--policy",
    "policy_paths",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Gatekeeper ConstraintTemplates and Constraints, files or folders (repeatable).",
)
@click.option(
    "--inventory",
    "inventory_paths",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Kubernetes objects (YAML/JSON files or folders, repeatable) that Gatekeeper "
    "templates see as data.inventory, as Gatekeeper's synced cache. Needs --policy.",
)
@click.option(
    "--scan-results",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Folder of `stockade scan -f json` results (overrides the policy's scanResults).",
)
@click.option("--audit", is_flag=True, help="Decide and log, never deny (warnings say what).")
@click.option(
    "--workers",
    type=click.IntRange(min=1, max=64),
    default=2,
    show_default=True,
    help="Processes evaluating Gatekeeper policies.",
)
@click.option(
    "--max-body",
    type=click.IntRange(min=1024),
    default=3 * 1024 * 1024,
    show_default=True,
    help="Largest AdmissionReview accepted, in bytes.",
)
@_service_options
@click.pass_obj
def serve(
    ui: UI,
    listen: str,
    cert: Path | None,
    key: Path | None,
    extra_names: Sequence[str],
    config_path: Path | None,
    policy_paths: Sequence[Path],
    inventory_paths: Sequence[Path],
    scan_results: Path | None,
    audit: bool,
    workers: int,
    max_body: int,
    cert_dir: Path | None,
    service_name: str,
    service_namespace: str,
    fail_open: bool,
    timeout: float,
) -> None:
    """Serve the validating webhook over HTTPS (POST /validate, /healthz, /readyz, /metrics).

    Decisions are logged to standard output as JSON lines.
    """
    import dataclasses

    from stockade.admission.webhook.certs import service_names
    from stockade.admission.webhook.config import DEFAULT_POLICY, load_policy
    from stockade.admission.webhook.images import load_scan_results
    from stockade.admission.webhook.server import (
        AdmissionWebhook,
        WebhookSettings,
        bind,
        create_app,
        serve,
    )

    host, port = _listen(listen)
    if inventory_paths and not policy_paths:
        raise UsageError(
            "--inventory is data for Gatekeeper policies", hint="pass --policy as well"
        )
    policy = load_policy(config_path) if config_path is not None else DEFAULT_POLICY
    if audit:
        policy = dataclasses.replace(policy, audit=True)
    folder = scan_results or policy.scan_results
    vulnerabilities = load_scan_results(folder) if folder is not None else None
    if vulnerabilities is not None:
        ui.info(f"loaded {len(vulnerabilities)} scan result(s) from {folder}")
    names = [*service_names(service_name, service_namespace), *extra_names]
    tls = _tls(ui, cert, key, cert_dir, names)

    pool = None
    if policy_paths:
        from stockade.admission.webhook.workers import WorkerPool, gatekeeper_factory

        pool = WorkerPool(gatekeeper_factory(policy_paths, inventory_paths), workers)
        ui.info(f"starting {workers} policy worker(s)")
        pool.start()
    try:
        try:
            sock = bind(host, port)
        except OSError as exc:
            raise UsageError(f"cannot listen on {listen}: {exc.strerror or exc}") from exc
        _decision_log()
        webhook = AdmissionWebhook(
            policy,
            WebhookSettings(fail_open=fail_open, timeout=timeout, max_body=max_body),
            pool=pool,
            vulnerabilities=vulnerabilities,
        )
        bound = sock.getsockname()
        ui.info(
            f"serving https://{bound[0]}:{bound[1]}/validate "
            f"({'audit mode, ' if policy.audit else ''}"
            f"{'fail open' if fail_open else 'fail closed'}, {timeout:g}s deadline)"
        )
        try:
            serve(create_app(webhook), sock, tls)
        finally:
            webhook.close()
            sock.close()
    finally:
        if pool is not None:
            pool.close()


def _decision_log() -> None:
    """Decision lines (already JSON) to standard output, one a line, nothing added."""
    logger = logging.getLogger("stockade.admission")
    if not any(getattr(h, "_stockade_decisions", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler._stockade_decisions = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


@admission.command("manifest")
@click.option(
    "--ca-bundle",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="PEM file of the CA that signed the server certificate.",
)
@click.option("--url", help="Call the webhook at this https:// URL instead of the Service.")
@click.option("--port", type=click.IntRange(1, 65535), default=443, show_default=True)
@click.option("--path", "url_path", default="/validate", show_default=True)
@click.option("--name", "webhook_name", help="Webhook name (default validate.stockade.io).")
@click.option(
    "--exclude-namespace",
    "excluded",
    multiple=True,
    help="Namespaces never sent to the webhook (default kube-system; the Service's own "
    "namespace is always excluded).",
)
@click.option("-f", "--format", "fmt", type=click.Choice(("yaml", "json")), default="yaml")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE."
)
@_service_options
@click.pass_obj
def manifest(
    ui: UI,
    ca_bundle: Path | None,
    url: str | None,
    port: int,
    url_path: str,
    webhook_name: str | None,
    excluded: Sequence[str],
    fmt: str,
    output: Path | None,
    cert_dir: Path | None,
    service_name: str,
    service_namespace: str,
    fail_open: bool,
    timeout: float,
) -> None:
    """Print the ValidatingWebhookConfiguration that registers the webhook."""
    from stockade.admission.webhook.manifest import (
        DEFAULT_WEBHOOK_NAME,
        ManifestSettings,
        webhook_configuration,
    )

    if (ca_bundle is None) == (cert_dir is None):
        raise UsageError(
            "give exactly one of --ca-bundle FILE and --generate-cert DIR",
            hint="use the same --generate-cert DIR as `stockade admission serve`",
        )
    if ca_bundle is not None:
        try:
            pem = ca_bundle.read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read {ca_bundle}: {exc.strerror or exc}") from exc
    else:
        from stockade.admission.webhook.certs import service_names

        names = service_names(service_name, service_namespace)
        pem = _tls(ui, None, None, cert_dir, names).ca_bundle()
    document = webhook_configuration(
        ManifestSettings(
            ca_bundle=pem,
            service_name=service_name,
            service_namespace=service_namespace,
            service_port=port,
            path=url_path,
            url=url,
            name=webhook_name or DEFAULT_WEBHOOK_NAME,
            fail_open=fail_open,
            timeout=timeout,
            exclude_namespaces=tuple(excluded) or ("kube-system",),
        )
    )

    def render(out: Any) -> None:
        if fmt == "json":
            out.write(json.dumps(document, indent=2) + "\n")
        else:
            import yaml

            out.write(yaml.safe_dump(document, sort_keys=False))

    if output is None:
        render(sys.stdout)
    else:
        write_atomically(output, render)
        ui.info(f"wrote {output}")
