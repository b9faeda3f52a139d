"""Password hashing with argon2id (argon2-cffi's recommended parameters)."""

from __future__ import annotations

import argon2

from stockade.console.errors import SetupError

__all__ = ["MIN_PASSWORD_LENGTH", "check_password_strength", "hash_password", "verify_password"]

MIN_PASSWORD_LENGTH = 12
_HASHER = argon2.PasswordHasher()
_DUMMY = _HASHER.hash("stockade: a password nobody has")


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise SetupError(
            f"the password is too short (at least {MIN_PASSWORD_LENGTH} characters)",
            "a passphrase of a few random words is long and easy to type",
        )


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """Whether ``password`` matches; with no hash (no such user) it takes as long anyway."""
    try:
        return _HASHER.verify(password_hash or _DUMMY, password) and password_hash is not None
    except argon2.exceptions.VerificationError:
        return False
    except argon2.exceptions.InvalidHashError:
        return False
