"""Generated TLS material and the ValidatingWebhookConfiguration."""

from __future__ import annotations

import base64
import datetime as dt
import stat
from pathlib import Path

import pytest
from cryptography import x509

from stockade.admission.webhook.certs import ensure_certificates, service_names
from stockade.admission.webhook.manifest import RULES, ManifestSettings, webhook_configuration
from stockade.core.errors import UsageError


def test_certificates_are_made_for_the_service_names_and_signed_by_the_ca(tmp_path: Path) -> None:
    names = service_names("stockade-admission", "stockade-system")
    files = ensure_certificates(tmp_path, names)
    assert files.generated
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    ca = x509.load_pem_x509_certificate(files.ca_bundle())
    cert.verify_directly_issued_by(ca)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "stockade-admission.stockade-system.svc" in san.get_values_for_type(x509.DNSName)
    assert stat.S_IMODE(files.key.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "ca.key").stat().st_mode) == 0o600


def test_good_certificates_are_reused_and_renewed_when_names_or_time_change(tmp_path: Path) -> None:
    first = ensure_certificates(tmp_path, ["a.b.svc"])
    ca_pem = first.ca_bundle()
    cert_pem = first.cert.read_bytes()
    again = ensure_certificates(tmp_path, ["a.b.svc"])
    assert not again.generated
    assert again.cert.read_bytes() == cert_pem
    wider = ensure_certificates(tmp_path, ["a.b.svc", "127.0.0.1"])
    assert wider.generated
    assert wider.cert.read_bytes() != cert_pem
    assert wider.ca_bundle() == ca_pem  # same CA: the caBundle stays valid
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=340)
    renewed = ensure_certificates(tmp_path, ["a.b.svc", "127.0.0.1"], now=later)
    assert renewed.generated
    assert renewed.ca_bundle() == ca_pem


def test_the_manifest_registers_every_checked_kind(tmp_path: Path) -> None:
    ca = ensure_certificates(tmp_path, ["x"]).ca_bundle()
    document = webhook_configuration(ManifestSettings(ca_bundle=ca, timeout=3.0))
    assert document["apiVersion"] == "admissionregistration.k8s.io/v1"
    assert document["kind"] == "ValidatingWebhookConfiguration"
    (hook,) = document["webhooks"]
    assert base64.b64decode(hook["clientConfig"]["caBundle"]) == ca
    assert hook["clientConfig"]["service"] == {
        "name": "stockade-admission",
        "namespace": "stockade-system",
        "path": "/validate",
        "port": 443,
    }
    assert hook["failurePolicy"] == "Fail"
    assert hook["sideEffects"] == "None"
    assert hook["timeoutSeconds"] == 5
    assert hook["admissionReviewVersions"] == ["v1"]
    expression = hook["namespaceSelector"]["matchExpressions"][0]
    assert expression["operator"] == "NotIn"
    assert expression["values"] == ["kube-system", "stockade-system"]
    resources = {r for rule in hook["rules"] for r in rule["resources"]}
    for needed in (
        "pods",
        "deployments",
        "cronjobs",
        "services",
        "ingresses",
        "clusterroles",
        "rolebindings",
    ):
        assert needed in resources
    assert len(hook["rules"]) == len(RULES)


def test_the_manifest_can_point_at_a_url_and_fail_open(tmp_path: Path) -> None:
    ca = ensure_certificates(tmp_path, ["x"]).ca_bundle()
    (hook,) = webhook_configuration(
        ManifestSettings(
            ca_bundle=ca, url="https://hooks.example.com/validate", fail_open=True, timeout=9
        )
    )["webhooks"]
    assert hook["clientConfig"]["url"] == "https://hooks.example.com/validate"
    assert "service" not in hook["clientConfig"]
    assert hook["failurePolicy"] == "Ignore"
    assert hook["timeoutSeconds"] == 11
    with pytest.raises(UsageError, match="https"):
        webhook_configuration(ManifestSettings(ca_bundle=ca, url="http://insecure"))
    with pytest.raises(UsageError, match="PEM"):
        webhook_configuration(ManifestSettings(ca_bundle=b"garbage"))
