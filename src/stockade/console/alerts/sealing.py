"""Channel secrets at rest: each value sealed with Fernet (AES-128-CBC, HMAC-SHA256)
under a key file in the Console's data dir, so a stolen database or backup alone yields
no webhook token or SMTP password.

The key (``alert-secrets.key``, mode 0600) is made on first use. A backup must carry it
too, and every Console process sharing one PostgreSQL needs the same file; without it a
channel's messages fail with an error saying so (set the secrets again to recover).
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from cryptography.fernet import Fernet, InvalidToken

from stockade.console.errors import ConsoleError

__all__ = ["KEY_FILE", "SecretBox", "SecretsUnavailable", "box_for"]

KEY_FILE = "alert-secrets.key"


class SecretsUnavailable(ConsoleError):
    """Channel secrets cannot be sealed or opened (the key file is missing, unreadable,
    or not the one they were sealed with)."""

    http_status: ClassVar[int] = 500
    title: ClassVar[str] = "Channel secrets unavailable"


class SecretBox:
    """Seals and opens secret values with the key in ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / KEY_FILE
        self._fernet: Fernet | None = None
        self._lock = threading.Lock()

    def seal(self, value: str) -> str:
        return self._cipher(create=True).encrypt(value.encode()).decode("ascii")

    def open(self, sealed: str) -> str:
        try:
            return self._cipher(create=False).decrypt(sealed.encode("ascii")).decode()
        except (InvalidToken, ValueError) as exc:
            raise SecretsUnavailable(
                f"alert channel secrets cannot be decrypted with {self.path}",
                "restore the key file they were sealed with (backups must include it; every "
                "Console on one database needs the same file), or set the secrets again",
            ) from exc

    def open_all(self, sealed: Mapping[str, object]) -> dict[str, str]:
        return {name: self.open(str(value)) for name, value in sealed.items()}

    def _cipher(self, *, create: bool) -> Fernet:
        with self._lock:
            if self._fernet is None:
                self._fernet = Fernet(self._load_key(create=create))
            return self._fernet

    def _load_key(self, *, create: bool) -> bytes:
        try:
            return self.path.read_bytes().strip()
        except FileNotFoundError:
            if not create:
                raise SecretsUnavailable(
                    f"the alert secrets key {self.path} is missing",
                    "restore it from the backup, or set the channels' secrets again",
                ) from None
        except OSError as exc:
            raise SecretsUnavailable(f"cannot read {self.path}: {exc.strerror}") from exc
        return self._create_key()

    def _create_key(self) -> bytes:
        key = Fernet.generate_key()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
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
            raise SecretsUnavailable(
                f"cannot create the alert secrets key {self.path}: {exc.strerror}",
                "make the Console's data directory writable",
            ) from exc


@functools.cache
def box_for(data_dir: Path) -> SecretBox:
    """One box per data dir in a process (the key is read once)."""
    return SecretBox(data_dir)
