"""Issue 14 part 5: no plaintext secret kept in memory by the password check cache."""

from __future__ import annotations

import gc

from gateway import passwords


def test_the_check_cache_holds_a_keyed_hash_not_the_password() -> None:
    password = "correct horse " + passwords.new_password()
    stored = passwords.hash_password(password)
    assert passwords.verify_password(password, stored)
    assert not passwords.verify_password(password + "x", stored)
    assert passwords.verify_password(password, stored)  # from the cache
    for (cached_stored, tag), _result in passwords._cache.items():
        assert isinstance(tag, bytes) and len(tag) == 32
        assert password.encode() not in tag and password not in cached_stored
    # nothing the cache refers to is the password string
    for referent in gc.get_referents(passwords._cache):
        assert password not in repr(referent)
