"""The buffered worker's lane: a getState runs on a thread of its own at the process's
priority, the packets on pool threads that run nicer."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from gateway.http_worker import _POOL_NICE, _SHORT_MAX_BYTES, _is_short, _nicer

GET_STATE = [(b"Host", b"x"), (b"SOAPAction", b'"urn:getState"')]


def test_a_get_state_by_its_soap_action_is_short() -> None:
    assert _is_short(GET_STATE, 900)
    assert _is_short([(b"soapaction", b"urn:GETSTATE ")], 900)


def test_other_actions_and_none_are_not_short() -> None:
    assert not _is_short([(b"SOAPAction", b'"urn:importHouseUOData"')], 900)
    assert not _is_short([(b"SOAPAction", b'"urn:getStateOfSomethingElse"')], 900)
    assert not _is_short([(b"Host", b"x")], 900)


def test_a_large_body_is_not_short_whatever_its_action() -> None:
    assert _is_short(GET_STATE, _SHORT_MAX_BYTES)
    assert not _is_short(GET_STATE, _SHORT_MAX_BYTES + 1)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
def test_a_pool_thread_runs_nicer_and_the_rest_of_the_process_does_not() -> None:
    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    seen: list[int] = []

    def pool_thread() -> None:
        _nicer(_POOL_NICE)
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    thread = threading.Thread(target=pool_thread)
    thread.start()
    thread.join()
    assert seen == [min(before + _POOL_NICE, 19)]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before
    assert os.getpriority(os.PRIO_PROCESS, 0) == before
