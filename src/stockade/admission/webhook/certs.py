"""TLS for the webhook: a private CA and a server certificate for the Service's names.

The API server calls a webhook over HTTPS only and checks its certificate against the
``caBundle`` of the webhook configuration. :func:`ensure_certificates` makes (once) a
self-signed CA and a server certificate for ``NAME.NAMESPACE.svc`` (and the other names
the Service answers to) in a folder, and reuses them on later starts while they are
valid for those names and not about to expire, so the ``caBundle`` stays valid across
restarts. The key files are written with mode 0600, atomically.

Needs the ``cryptography`` package.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from stockade.admission.webhook.errors import CertificateError

__all__ = ["CA_FILE", "CERT_FILE", "KEY_FILE", "TlsFiles", "ensure_certificates", "service_names"]

CA_FILE: Final = "ca.crt"
CA_KEY_FILE: Final = "ca.key"
CERT_FILE: Final = "tls.crt"
KEY_FILE: Final = "tls.key"
CA_DAYS: Final = 3650
SERVER_DAYS: Final = 365
RENEW_BEFORE: Final = dt.timedelta(days=30)


@dataclass(frozen=True, slots=True)
class TlsFiles:
    cert: Path
    key: Path
    ca: Path | None = None
    """The CA that signed ``cert``, for the webhook's ``caBundle`` (None: not ours)."""
    generated: bool = False
    """Whether this run made new files (else they were reused)."""

    def ca_bundle(self) -> bytes:
        """The PEM text of the CA (or, for user-supplied files, of the certificate)."""
        path = self.ca or self.cert
        try:
            return path.read_bytes()
        except OSError as exc:
            raise CertificateError(f"cannot read {path}: {exc.strerror or exc}") from exc


def service_names(name: str, namespace: str) -> list[str]:
    """Every DNS name a Service is reached by from inside the cluster."""
    return [
        name,
        f"{name}.{namespace}",
        f"{name}.{namespace}.svc",
        f"{name}.{namespace}.svc.cluster.local",
    ]


def ensure_certificates(
    directory: Path, names: Sequence[str], *, now: dt.datetime | None = None
) -> TlsFiles:
    """The CA and server certificate in ``directory``: reused when still good, else made.

    ``names`` are DNS names or IP addresses (``127.0.0.1`` for tests); the first is the
    certificate's common name.
    """
    if not names:
        raise CertificateError("a server certificate needs at least one name")
    now = now or dt.datetime.now(dt.UTC)
    files = TlsFiles(cert=directory / CERT_FILE, key=directory / KEY_FILE, ca=directory / CA_FILE)
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        if _still_good(files, names, now):
            return files
        ca = _load_ca(directory, now)
        if ca is None:
            ca = _make_ca(now)
            ca_key, ca_cert = ca
            _write(directory / CA_KEY_FILE, _key_pem(ca_key), private=True)
            _write(directory / CA_FILE, ca_cert.public_bytes(Encoding.PEM), private=False)
        ca_key, ca_cert = ca
        key, cert = _make_server(ca_key, ca_cert, names, now)
        _write(directory / KEY_FILE, _key_pem(key), private=True)
        _write(directory / CERT_FILE, cert.public_bytes(Encoding.PEM), private=False)
    except OSError as exc:
        raise CertificateError(
            f"cannot write certificates to {directory}: {exc.strerror or exc}"
        ) from exc
    except ValueError as exc:
        raise CertificateError(f"cannot make a certificate: {exc}") from exc
    return TlsFiles(cert=files.cert, key=files.key, ca=files.ca, generated=True)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


def _write(path: Path, data: bytes, *, private: bool) -> None:
    """Write ``data`` to ``path`` whole or not at all, 0600 for keys from the start."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600 if private else 0o644)
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_CA = tuple[ec.EllipticCurvePrivateKey, x509.Certificate]


def _load_ca(directory: Path, now: dt.datetime) -> _CA | None:
    try:
        cert = x509.load_pem_x509_certificate((directory / CA_FILE).read_bytes())
        key = load_pem_private_key((directory / CA_KEY_FILE).read_bytes(), password=None)
    except (OSError, ValueError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return None
    if cert.not_valid_after_utc - RENEW_BEFORE < now:
        return None
    return key, cert


def _still_good(files: TlsFiles, names: Sequence[str], now: dt.datetime) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
        ca = x509.load_pem_x509_certificate(files.ca.read_bytes()) if files.ca else None
        files.key.stat()
    except (OSError, ValueError):
        return False
    if ca is None or cert.issuer != ca.subject:
        return False
    if cert.not_valid_after_utc - RENEW_BEFORE < now:
        return False
    if ca.not_valid_after_utc - RENEW_BEFORE < now:
        return False
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    have = {str(n) for n in san.get_values_for_type(x509.DNSName)}
    have |= {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    return set(names) <= have


def _make_ca(now: dt.datetime) -> _CA:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stockade admission webhook CA")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _make_server(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    names: Sequence[str],
    now: dt.datetime,
) -> _CA:
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0][:64])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=SERVER_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert
