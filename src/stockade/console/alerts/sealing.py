"""Channel secrets at rest: each value sealed under ``alert-secrets.key`` in the
Console's data dir (:mod:`stockade.console.keyfile`), so a stolen database or backup alone
yields no webhook token or SMTP password. Without the key a channel's messages fail with
an error saying so (set the secrets again to recover).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from stockade.console.errors import ConsoleError
from stockade.console.keyfile import SealingKey

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
        self._key = SealingKey(
            self.path,
            what="alert channel secrets",
            error=SecretsUnavailable,
            redo="set the channels' secrets again",
        )

    def seal(self, value: str) -> str:
        return self._key.seal(value.encode())

    def open(self, sealed: str) -> str:
        try:
            return self._key.open(sealed).decode()
        except UnicodeDecodeError as exc:
            raise self._key.undecryptable() from exc

    def open_all(self, sealed: Mapping[str, object]) -> dict[str, str]:
        return {name: self.open(str(value)) for name, value in sealed.items()}


@functools.cache
def box_for(data_dir: Path) -> SecretBox:
    """One box per data dir in a process (the key is read once)."""
    return SecretBox(data_dir)
