"""Password hashing (argon2id) and the password policy (ASVS 5, V6)."""

from __future__ import annotations

import functools
import re
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_babel import lazy_gettext as _l
from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

MIN_LENGTH = 12
MAX_LENGTH = 128

# OWASP Password Storage Cheat Sheet minimum for argon2id (m=19 MiB, t=2, p=1), which ASVS 5
# points to. Stronger parameters can be set later: hashes are upgraded at the next login.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32)
# Verifying against this when the account does not exist keeps timing the same.
_DUMMY_HASH = HASHER.hash("dummy password for timing equalisation")


class PasswordPolicyError(ValueError):
    """The new password does not meet the policy; the message is shown to the user."""


def hash_password(password: str) -> str:
    """Hash a password with argon2id."""
    return HASHER.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True if `password` matches; runs a full verification even without a stored hash."""
    try:
        return HASHER.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True if the hash was made with weaker parameters than the current ones."""
    try:
        return HASHER.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


@functools.cache
def _common_passwords() -> frozenset[str]:
    return frozenset(p.lower() for p in FREQUENCY_LISTS["passwords"])


@functools.cache
def _german_base_words() -> frozenset[str]:
    text = resources.files("crm").joinpath("data/common_passwords_de.txt").read_text("utf-8")
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def check_password_policy(password: str, *, user_inputs: tuple[str, ...] = ()) -> None:
    """Raise PasswordPolicyError if `password` is too short, too long or commonly used."""
    if len(password) < MIN_LENGTH:
        raise PasswordPolicyError(
            _l("The password must have at least %(n)d characters.", n=MIN_LENGTH)
        )
    if len(password) > MAX_LENGTH:
        raise PasswordPolicyError(
            _l("The password may have at most %(n)d characters.", n=MAX_LENGTH)
        )
    lowered = password.lower()
    base = re.sub(r"[\d\W_]+", "", lowered)
    if lowered in _common_passwords() or base in _german_base_words():
        raise PasswordPolicyError(
            _l("This password is too common. Please choose another, e.g. a short sentence.")
        )
    compact = re.sub(r"[\W_]+", "", lowered)
    for given in user_inputs:
        own = re.sub(r"[\W_]+", "", (given or "").lower().split("@")[0])
        if len(own) >= 5 and own in compact:
            raise PasswordPolicyError(
                _l("The password must not contain your name or e-mail address.")
            )
    # zxcvbn also catches repetitions, keyboard walks and the user's own name or e-mail.
    # zxcvbn refuses inputs over 72 characters; the first 72 decide the guessability anyway.
    words = [w for u in user_inputs if u for w in [u, *re.split(r"[\W_]+", u)] if len(w) > 2]
    result = zxcvbn(password[:72], user_inputs=words)
    if result["score"] < 3:
        raise PasswordPolicyError(
            _l(
                "This password is too easy to guess. Please choose a longer one, e.g. a short "
                "sentence."
            )
        )
