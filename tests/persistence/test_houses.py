"""The house repository's identifiers (persistence/houses.py)."""

from __future__ import annotations

import uuid

from persistence.houses import new_guid


def test_new_guids_are_random_uuids_in_their_canonical_text() -> None:
    guids = [new_guid() for _ in range(2000)]
    assert len(set(guids)) == len(guids)
    for guid in guids:
        parsed = uuid.UUID(guid)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert str(parsed) == guid
    # every random bit varies: none is stuck at 0 or 1 across the sample
    bits = [uuid.UUID(g).int for g in guids]
    fixed = (0xF << 76) | (0x3 << 62)  # the version and variant bits
    for bit in range(128):
        if not fixed >> bit & 1:
            assert 0 < sum(b >> bit & 1 for b in bits) < len(bits), bit
