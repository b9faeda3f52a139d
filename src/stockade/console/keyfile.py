"""A Fernet key (AES-128-CBC, HMAC-SHA256) kept in a file of the Console's data dir,
for values the database holds only sealed (alert channel secrets, registry credentials):
a stolen database or backup alone yields none of them.

The file (mode 0600) is made on first use; of processes racing to make it, one wins and
all use its key. A backup must carry it, and every Console process sharing one
PostgreSQL needs the same file. Each use names its own error type and its own advice.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from stockade.console.errors import ConsoleError

__all__ = ["SealingKey"]


class SealingKey:
    """Seals and opens bytes under the key in ``path``; failures raise ``error``
    (a :class:`ConsoleError` subclass) with messages that say ``what`` is sealed."""

    def __init__(self, path: Path, *, what: str, error: type[ConsoleError], redo: str) -> None:
        self.path = path
        self.what = what
        """What is sealed, for messages: "alert channel secrets"."""
        self.error = error
        self.redo = redo
        """How to recover without the key: "set the channels' secrets again"."""
        self._fernet: Fernet | None = None
        self._lock = threading.Lock()

    def seal(self, plain: bytes) -> str:
        return self._cipher(create=True).encrypt(plain).decode("ascii")

    def open(self, sealed: str) -> bytes:
        try:
            return self._cipher(create=False).decrypt(sealed.encode("ascii"))
        except (InvalidToken, ValueError) as exc:
            raise self.undecryptable() from exc

    def undecryptable(self) -> ConsoleError:
        """The error for a value this key cannot open (also for one that opens to
        something malformed)."""
        return self.error(
            f"the stored {self.what} cannot be decrypted with {self.path}",
            "restore the key file they were sealed with (backups must include it; every "
            f"Console on one database needs the same file), or {self.redo}",
        )

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
                raise self.error(
                    f"the {self.what} key {self.path} is missing",
                    f"restore it from the backup, or {self.redo}",
                ) from None
        except OSError as exc:
            raise self.error(f"cannot read {self.path}: {exc.strerror}") from exc
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
            raise self.error(
                f"cannot create the {self.what} key {self.path}: {exc.strerror}",
                "make the Console's data directory writable",
            ) from exc
