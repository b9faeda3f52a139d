"""Plain-text secrets in environment variables: names that say secret, with a value."""

from __future__ import annotations

import re
from typing import Final

from stockade.compliance.secrets.detect import redact

__all__ = ["looks_secret", "redact"]

# Words that, as a part of a variable name, say the value is a credential. Matched on
# name parts (split at _ . -) so MONKEY or KEYBOARD_LAYOUT do not count.
_SECRET_WORDS: Final = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "secret",
        "token",
        "key",
        "apikey",
        "credential",
        "credentials",
        "auth",
        "privatekey",
        "pass",
    }
)
# Parts that make a name about a key rather than a key: KEY_ID, PUBLIC_KEY, SECRET_ARN.
_NOT_SECRET_WORDS: Final = frozenset({"id", "public", "arn", "name", "path", "file", "url"})
_SPLIT: Final = re.compile(r"[_.\-]+|(?<=[a-z0-9])(?=[A-Z])")


def looks_secret(name: str, value: object) -> bool:
    """Whether ``name=value`` looks like a credential written in plain text."""
    if not isinstance(value, str) or not value.strip():
        return False
    parts = [p.lower() for p in _SPLIT.split(name) if p]
    if any(p in _NOT_SECRET_WORDS for p in parts):
        return False
    return any(p in _SECRET_WORDS for p in parts)
