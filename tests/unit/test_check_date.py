"""The Date window reads a time as written (RequestHeader/Date) or already read (SigningTime)
alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from gateway.errors import HeaderInvalid, SignatureInvalid
from gateway.header import check_date

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
WINDOW = timedelta(hours=24)
MSK = timezone(timedelta(hours=3))


@pytest.mark.parametrize(
    "sent, inside",
    [
        (NOW - timedelta(hours=23), True),
        (NOW + timedelta(hours=23), True),
        (NOW - timedelta(hours=25), False),
        (NOW + timedelta(hours=25), False),
        (datetime(2026, 12, 2, 15, 1, tzinfo=MSK), True),  # 12:01 UTC the day before
        (datetime(2026, 12, 2, 14, 59, tzinfo=MSK), False),  # 11:59 UTC
        (datetime(2026, 12, 2, 12, 1), True),  # no offset: read as UTC
        (datetime(2026, 12, 2, 11, 59), False),
    ],
)
def test_a_time_and_its_text_are_judged_alike(sent: datetime, inside: bool) -> None:
    for date in (sent, sent.isoformat()):
        if inside:
            check_date(date, NOW, WINDOW)
        else:
            with pytest.raises(HeaderInvalid, match="more than 24 h away"):
                check_date(date, NOW, WINDOW)


def test_the_refusal_names_the_time_and_takes_the_error_given() -> None:
    sent = NOW - timedelta(days=2)
    with pytest.raises(SignatureInvalid, match=r"SigningTime 2026-12-01T12:00:00\+00:00 is"):
        check_date(sent, NOW, WINDOW, "The signature's SigningTime", SignatureInvalid)


def test_unreadable_text_is_refused() -> None:
    with pytest.raises(HeaderInvalid, match="is not an xs:dateTime"):
        check_date("yesterday", NOW, WINDOW)
