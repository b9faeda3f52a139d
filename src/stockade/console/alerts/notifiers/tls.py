"""TLS client contexts for syslog over TLS and SMTP: verified against the system's trust
store or the channel's own CA certificates, TLS 1.2 at least, an optional client
certificate."""

from __future__ import annotations

import os
import ssl
import tempfile
from pathlib import Path

__all__ = ["client_context"]


def client_context(
    ca_pem: str | None = None, cert_pem: str | None = None, key_pem: str | None = None
) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=ca_pem) if ca_pem else ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert_pem and key_pem:
        # ssl loads a certificate chain from files only: write both to a private
        # directory for the moment it takes, then remove them.
        with tempfile.TemporaryDirectory(prefix="stockade-tls-") as directory:
            cert, key = Path(directory, "client.crt"), Path(directory, "client.key")
            for path, data in ((cert, cert_pem), (key, key_pem)):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as out:
                    out.write(data)
            context.load_cert_chain(cert, key)
    return context
