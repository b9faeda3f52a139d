"""Registry credentials at rest: sealed under ``registry-credentials.key`` in the data
dir (:mod:`stockade.console.keyfile`). The database holds only the sealed token, so a
stolen database or backup alone yields no registry password.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from stockade.console.errors import ConsoleError
from stockade.console.keyfile import SealingKey

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
        self._key = SealingKey(
            self.path,
            what="registry credentials",
            error=CredentialsError,
            redo="set the registries' credentials again",
        )

    def seal(self, credentials: RegistryCredentials) -> str:
        plain = json.dumps({"u": credentials.username, "p": credentials.password})
        return self._key.seal(plain.encode())

    def open(self, sealed: str) -> RegistryCredentials:
        plain = self._key.open(sealed)
        try:
            document = json.loads(plain)
            return RegistryCredentials(str(document["u"]), str(document["p"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise self._key.undecryptable() from exc
