"""Registry credentials at rest: sealed with Fernet under a key file in the data dir.

The key (``registry-credentials.key``, mode 0600) is made on first use. The database
holds only the sealed token, so a stolen database or backup alone yields no registry
password; the price is that a backup must carry the key file too, and every Console
process sharing one PostgreSQL needs the same key file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from cryptography.fernet import Fernet, InvalidToken

from stockade.console.errors import ConsoleError

__all__ = ["KEY_FILE", "CredentialBox", "CredentialsError", "RegistryCredentials"]

KEY_FILE = "registry-credentials.key"


class CredentialsError(ConsoleError):
    """Registry credentials cannot be sealed or unsealed (the key file is missing,
    unreadable, or not the one they were sealed with)."""

    http_status: ClassVar[int] = 500
    title: ClassVar[str] = "Credentials unavailable"


@dataclass(frozen=True, slots=True)
class RegistryCredentials:
    username: str = field(repr=False)
    password: str = field(repr=False)


class CredentialBox:
    """Seals and opens credentials with the key in ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / KEY_FILE
        self._fernet: Fernet | None = None

    def seal(self, credentials: RegistryCredentials) -> str:
        plain = json.dumps({"u": credentials.username, "p": credentials.password})
        return self._cipher(create=True).encrypt(plain.encode()).decode("ascii")

    def open(self, sealed: str) -> RegistryCredentials:
        try:
            plain = self._cipher(create=False).decrypt(sealed.encode("ascii"))
            document = json.loads(plain)
            return RegistryCredentials(str(document["u"]), str(document["p"]))
        except (InvalidToken, ValueError, KeyError, TypeError) as exc:
            raise CredentialsError(
                f"the stored registry credentials cannot be decrypted with {self.path}",
                "restore the key file this Console sealed them with (backups must include "
                "it; every Console on one database needs the same file), or set the "
                "credentials again",
            ) from exc

    def _cipher(self, *, create: bool) -> Fernet:
        if self._fernet is None:
            self._fernet = Fernet(self._load_key(create=create))
        return self._fernet

    def _load_key(self, *, create: bool) -> bytes:
        try:
            return self.path.read_bytes().strip()
        except FileNotFoundError:
            if not create:
                raise CredentialsError(
                    f"the registry credentials key {self.path} is missing",
                    "restore it from the backup, or set the registries' credentials again",
                ) from None
        except OSError as exc:
            raise CredentialsError(f"cannot read {self.path}: {exc.strerror}") from exc
        return self._create_key()

    def _create_key(self) -> bytes:
        key = Fernet.generate_key()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, staging = tempfile.mkstemp(prefix=".key-", dir=self.path.parent)
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(key + b"\n")
                os.chmod(staging, 0o600)
                # link() fails when the file exists: of processes racing, one key wins.
                with contextlib.suppress(FileExistsError):
                    os.link(staging, self.path)
            finally:
                os.unlink(staging)
            return self.path.read_bytes().strip()
        except OSError as exc:
            raise CredentialsError(
                f"cannot create the registry credentials key {self.path}: {exc.strerror}",
                "make the Console's data directory writable",
            ) from exc
