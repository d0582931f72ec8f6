"""fsl.io.ahead.read_ahead: an import reads its file in a thread of its own while the store
writes; the caller sees the same items, the same exception at the same place, and no thread
outlives the loop, however it ends."""
from __future__ import annotations

import threading
from contextlib import closing

import pytest

from fsl.io.ahead import read_ahead


def _threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name == "fsl-read-ahead"]


def test_the_items_come_in_order_and_the_thread_ends():
    with closing(read_ahead(iter(range(1000)), depth=3)) as items:
        assert list(items) == list(range(1000))
    assert _threads() == []


def test_an_exception_while_reading_is_raised_where_it_would_have_been():
    def broken():
        yield 1
        yield 2
        raise ValueError("line 7: unreadable")

    got = []
    with pytest.raises(ValueError, match="line 7"):
        with closing(read_ahead(broken())) as items:
            for item in items:
                got.append(item)
    assert got == [1, 2] and _threads() == []


def test_a_caller_that_stops_early_stops_the_reading():
    """The reader is at most `depth` items (and the one it is reading) ahead; once the caller
    stops, it reads nothing more and its thread is gone."""
    read: list[int] = []

    def counted():
        for i in range(100):
            read.append(i)
            yield i

    with closing(read_ahead(counted(), depth=2)) as items:
        for item in items:
            if item == 5:
                break
    assert _threads() == []
    assert 5 < len(read) <= 5 + 1 + 2 + 1


def test_a_failing_caller_stops_the_reading_too():
    with pytest.raises(RuntimeError, match="store down"):
        with closing(read_ahead(iter(range(10**6)))) as items:
            for item in items:
                if item == 3:
                    raise RuntimeError("store down")
    assert _threads() == []


def test_the_items_are_read_in_a_thread_of_their_own():
    seen: list[str] = []

    def where():
        for i in range(3):
            seen.append(threading.current_thread().name)
            yield i

    with closing(read_ahead(where())) as items:
        assert list(items) == [0, 1, 2]
    assert set(seen) == {"fsl-read-ahead"}
