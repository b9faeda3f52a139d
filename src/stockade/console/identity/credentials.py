"""Random secrets and their digests: tokens and session ids are stored as SHA-256 only.

A token is 256 random bits, so a fast hash is enough to make the stored digest useless
to a thief (no dictionary to try); passwords, which people choose, get argon2 instead.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["TOKEN_PREFIX", "digest", "matches", "new_secret", "new_token"]

TOKEN_PREFIX = "stk_"  # noqa: S105  # a marker, not a secret
"""Marks Stockade API tokens, so secret scanners (ours included) can recognise a leak."""


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def matches(secret: str, expected_digest: str) -> bool:
    return hmac.compare_digest(digest(secret), expected_digest)
