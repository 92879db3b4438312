"""A function process that exits is started again, as Lambda starts a new environment, with a growing pause."""
from __future__ import annotations

import os
import signal
import sys
import time

from local.supervisor import FIRST_PAUSE, LONGEST_PAUSE, SETTLED_SECONDS, Supervisor

# A stand-in for `python -m local.function <name>`: ready at once, then waits to be stopped.
FUNCTION = ("import os, pathlib, time; pathlib.Path(os.environ['LOCAL_READY_FILE']).touch(); "
            "[time.sleep(0.1) for _ in range(600)]")


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def until(condition, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def supervised(tmp_path, clock):
    said = []
    supervisor = Supervisor(tmp_path, say=said.append, clock=clock,
                            command=lambda name: [sys.executable, "-c", FUNCTION, name])
    for name in ("api_handler", "create_orders"):
        supervisor.add(name, dict(os.environ), tmp_path / f"{name}.ready")
    supervisor.start()
    until(supervisor.all_ready)
    return supervisor, said


def kill(supervisor, name: str) -> None:
    pid = supervisor.pid(name)
    os.kill(pid, signal.SIGKILL)
    until(lambda: supervisor.pid(name) is None)


def test_a_killed_function_is_started_again_and_said_to_be_back(tmp_path):
    clock = Clock()
    supervisor, said = supervised(tmp_path, clock)
    try:
        before = supervisor.pid("create_orders")
        kill(supervisor, "create_orders")
        supervisor.watch()
        assert said == ["[run] the create_orders process exited (killed by SIGKILL) after 0 s; starting it again in 1 s"]
        supervisor.watch()
        assert supervisor.pid("create_orders") is None  # its pause is not over
        clock.now += FIRST_PAUSE
        supervisor.watch()
        again = supervisor.pid("create_orders")
        assert again is not None and again != before
        until(lambda: (supervisor.watch(), said[-1].startswith("[run] the create_orders process is back"))[1])
        assert said[-1] == f"[run] the create_orders process is back (pid {again}, restart 1)"
        assert supervisor.pid("api_handler") is not None  # the others never stopped
    finally:
        supervisor.stop()


def test_a_function_that_keeps_exiting_waits_longer_each_time_up_to_a_limit(tmp_path):
    clock = Clock()
    supervisor, said = supervised(tmp_path, clock)
    try:
        pauses = []
        for _ in range(7):
            kill(supervisor, "api_handler")
            supervisor.watch()
            pauses.append(float(said[-1].rsplit("again in ", 1)[1].split(" ")[0]))
            clock.now += pauses[-1]
            supervisor.watch()
            until(lambda: supervisor.pid("api_handler") is not None)
        assert pauses == [1, 2, 4, 8, 16, LONGEST_PAUSE, LONGEST_PAUSE]
        # Once it has run a minute, a new exit is a new story: the pause starts over.
        clock.now += SETTLED_SECONDS
        kill(supervisor, "api_handler")
        supervisor.watch()
        assert said[-1].endswith("starting it again in 1 s")
    finally:
        supervisor.stop()


def test_stopping_ends_every_function_process_and_forgets_their_ids(tmp_path):
    supervisor, _ = supervised(tmp_path, Clock())
    pids = [supervisor.pid(name) for name in supervisor.functions]
    supervisor.stop()
    assert list(tmp_path.glob("*.ready")) == []  # a stale id must never be taken for a running function
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        raise AssertionError(f"{pid} still runs")
