"""Password storage and policy (ASVS 5, V6)."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from crm.accounts.passwords import (
    HASHER,
    MAX_LENGTH,
    PasswordPolicyError,
    check_password_policy,
    hash_password,
    verify_password,
)


def test_passwords_are_hashed_with_argon2id_at_owasp_strength():
    stored = hash_password("Elbe-Ufer-Radweg-2026")
    assert stored.startswith("$argon2id$")
    params = HASHER
    assert params.memory_cost >= 19 * 1024
    assert params.time_cost >= 2
    assert verify_password(stored, "Elbe-Ufer-Radweg-2026")
    assert not verify_password(stored, "Elbe-Ufer-Radweg-2027")


def test_weaker_hashes_are_flagged_for_rehash():
    from crm.accounts.passwords import needs_rehash

    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("x" * 12)
    assert needs_rehash(weak)
    assert not needs_rehash(hash_password("Elbe-Ufer-Radweg-2026"))


@pytest.mark.parametrize(
    "password",
    ["kurz123", "elf-zeichen"],
)
def test_passwords_shorter_than_12_characters_are_refused(password):
    with pytest.raises(PasswordPolicyError):
        check_password_policy(password)


def test_passwords_of_64_and_more_characters_are_accepted():
    check_password_policy("Ein langer Satz über die Elbe bei Magdeburg im Herbst " * 2)
    assert MAX_LENGTH >= 64


def test_passwords_longer_than_the_maximum_are_refused():
    with pytest.raises(PasswordPolicyError):
        check_password_policy("a" * (MAX_LENGTH + 1))


@pytest.mark.parametrize(
    "password",
    ["password1234", "qwertyuiop123", "passwort2026!", "Ichliebedich123", "123456789012"],
)
def test_common_passwords_are_refused(password):
    with pytest.raises(PasswordPolicyError):
        check_password_policy(password)


def test_a_password_made_of_the_users_own_email_is_refused():
    with pytest.raises(PasswordPolicyError):
        check_password_policy("bettina.beratung", user_inputs=("bettina.beratung@example.org",))


def test_verify_without_a_stored_hash_is_false_not_an_error():
    assert verify_password(None, "irgendwas-langes") is False
