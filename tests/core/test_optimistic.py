"""Read, decide, write conditioned on the read; on a lost race, read again (a bounded number of times)."""
from __future__ import annotations

import pytest

from chalicelib.core.optimistic import read_then_write


class Lost(Exception):
    pass


class GaveUp(Exception):
    pass


def writer(losses: int, log: list):
    def write(seen):
        log.append(("write", seen))
        if sum(1 for entry in log if entry[0] == "write") <= losses:
            raise Lost()
        return f"wrote from {seen}"

    return write


def reader(log: list):
    def read():
        log.append(("read",))
        return len([entry for entry in log if entry[0] == "read"])

    return read


def test_a_write_that_lost_a_race_is_decided_again_from_a_fresh_read():
    log: list = []
    result = read_then_write(reader(log), writer(2, log), lost=Lost, attempts=3, gave_up=GaveUp)
    assert result == "wrote from 3"
    assert log == [("read",), ("write", 1), ("read",), ("write", 2), ("read",), ("write", 3)]


def test_after_the_last_attempt_it_gives_up():
    log: list = []
    with pytest.raises(GaveUp):
        read_then_write(reader(log), writer(5, log), lost=Lost, attempts=3, gave_up=GaveUp)
    assert [entry[0] for entry in log].count("write") == 3


def test_a_read_the_caller_made_serves_the_first_attempt():
    log: list = []
    result = read_then_write(reader(log), writer(1, log), lost=Lost, attempts=3, gave_up=GaveUp, seen=0)
    assert result == "wrote from 1" and log == [("write", 0), ("read",), ("write", 1)]


def test_anything_but_a_lost_race_ends_it_at_once():
    log: list = []

    def refuse(seen):
        log.append(("write", seen))
        raise ValueError("not allowed")

    with pytest.raises(ValueError):
        read_then_write(reader(log), refuse, lost=Lost, attempts=3, gave_up=GaveUp)
    assert log == [("read",), ("write", 1)]


def test_a_lost_race_that_hands_back_the_item_is_decided_again_from_it_without_a_read():
    class LostWith(Exception):
        def __init__(self, current):
            self.current = current

    log: list = []

    def write(seen):
        log.append(("write", seen))
        if seen < 2:
            raise LostWith(seen + 1)
        return f"wrote from {seen}"

    result = read_then_write(reader(log), write, lost=LostWith, attempts=3, gave_up=GaveUp,
                             seen_in=lambda race: race.current)
    assert result == "wrote from 2" and log == [("read",), ("write", 1), ("write", 2)]
