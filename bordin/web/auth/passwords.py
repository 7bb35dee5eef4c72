"""Password hashing with Argon2id (argon2-cffi).

Parameters are the OWASP Password Storage Cheat Sheet minimum for Argon2id
(m = 19 MiB, t = 2, p = 1), which ASVS 11.4.2 accepts; a hash made with weaker
parameters is re-hashed at the next successful login.
"""

from __future__ import annotations

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = ["MEMORY_KIB", "TIME_COST", "hash_password", "needs_rehash", "verify_password"]

MEMORY_KIB = 19456
TIME_COST = 2

_hasher = PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_KIB, parallelism=1,
                         hash_len=32, salt_len=16, type=Type.ID)
# Verified against when the username is unknown, so that the response time does not
# tell whether an account exists.
_DUMMY = _hasher.hash("bordin-dummy-password")


def hash_password(password: str) -> str:
    """Return the Argon2id hash (PHC string, ``$argon2id$...``) of ``password``."""
    return _hasher.hash(password)


def verify_password(*, password: str, password_hash: str | None) -> bool:
    """Whether ``password`` matches ``password_hash``; ``None`` burns the same time."""
    try:
        return _hasher.verify(password_hash or _DUMMY, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with other parameters than the current ones."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True
