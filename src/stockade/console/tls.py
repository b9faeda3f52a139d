"""TLS for the Console: the user's certificate and key, or a self-signed pair generated
once into the data dir (ECDSA P-256, for the listen address, ``localhost`` and the host
name), reused on later starts while valid for a month more. Keys are written 0600."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from stockade.console.errors import TlsError

__all__ = ["TlsFiles", "ensure_self_signed"]

CERT_FILE = "console.crt"
KEY_FILE = "console.key"
VALIDITY = dt.timedelta(days=825)
RENEW_BEFORE = dt.timedelta(days=30)


@dataclass(frozen=True, slots=True)
class TlsFiles:
    certificate: Path
    key: Path


def _names(listen_host: str) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    ips = {"127.0.0.1", "::1"}
    hostnames = {socket.gethostname()}
    try:
        ipaddress.ip_address(listen_host)
        if listen_host not in ("0.0.0.0", "::"):  # noqa: S104  # only compared, never bound
            ips.add(listen_host)
    except ValueError:
        hostnames.add(listen_host)
    names += [x509.DNSName(h) for h in sorted(hostnames) if h and h != "localhost"]
    names += [x509.IPAddress(ipaddress.ip_address(i)) for i in sorted(ips)]
    return names


def _still_good(path: Path, now: dt.datetime) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return False
    return cert.not_valid_after_utc - RENEW_BEFORE > now


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    tmp.replace(path)


def ensure_self_signed(directory: Path, listen_host: str) -> TlsFiles:
    files = TlsFiles(directory / CERT_FILE, directory / KEY_FILE)
    now = dt.datetime.now(dt.UTC)
    if files.key.exists() and _still_good(files.certificate, now):
        return files
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Stockade Console")])
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.SubjectAlternativeName(_names(listen_host)), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(key, hashes.SHA256())
        )
        key_pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        _write(files.key, key_pem, 0o600)
        _write(files.certificate, cert.public_bytes(Encoding.PEM), 0o644)
    except OSError as exc:
        raise TlsError(f"cannot write a TLS certificate in {directory}: {exc}") from exc
    return files
