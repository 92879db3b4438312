"""The functions' processes, each started again when it exits, as Lambda starts a new environment.

A function process that exits (a crash, `kill -9`, an out-of-memory kill) is started again after a
pause that doubles while it keeps exiting soon after starting (1 s, 2 s, 4 s ... at most 30 s) and
starts over at 1 s once it has run a minute. Each exit and each return is said on the terminal.
What it was doing is what Lambda would lose too: an HTTP request in flight fails, and the messages
it had received come back once their visibility timeout passes (SQS does that, here as in AWS).
"""
from __future__ import annotations

import pathlib
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

FIRST_PAUSE, LONGEST_PAUSE, SETTLED_SECONDS = 1.0, 30.0, 60.0


@dataclass
class _Function:
    name: str
    environment: dict[str, str]
    ready_file: pathlib.Path
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    pause: float = FIRST_PAUSE
    restart_at: float | None = None  # when it exited: the time it is started again
    restarts: int = 0
    back: bool = True  # its ready file seen since it was last started


class Supervisor:
    """`add()` each function, `start()`, then `watch()` every half second until stopping, and `stop()`."""

    def __init__(self, root: pathlib.Path, say: Callable[[str], None] = lambda line: print(line, flush=True),
                 clock: Callable[[], float] = time.monotonic,
                 command: Callable[[str], list[str]] = lambda name: [sys.executable, "-m", "local.function", name]):
        self.root, self.say, self.clock, self.command = root, say, clock, command
        self.functions: dict[str, _Function] = {}

    def add(self, name: str, environment: Mapping[str, str], ready_file: pathlib.Path) -> None:
        self.functions[name] = _Function(name, {**environment, "LOCAL_READY_FILE": str(ready_file)}, ready_file)

    def start(self) -> None:
        for function in self.functions.values():
            self._launch(function)

    def all_ready(self) -> bool:
        return all(function.ready_file.exists() for function in self.functions.values())

    def first_exit(self) -> tuple[str, int] | None:
        """While starting: a function that has exited already (a bug at import: starting it again would not help)."""
        for function in self.functions.values():
            if function.process is not None and function.process.poll() is not None:
                return function.name, function.process.returncode
        return None

    def watch(self) -> None:
        """Start again what exited, once its pause is over; say which came back."""
        now = self.clock()
        for function in self.functions.values():
            if function.restart_at is None and function.process.poll() is not None:
                ran = now - function.started_at
                if ran >= SETTLED_SECONDS:
                    function.pause = FIRST_PAUSE
                function.restart_at = now + function.pause
                self.say(f"[run] the {function.name} process exited ({describe_exit(function.process.returncode)}) "
                         f"after {ran:.0f} s; starting it again in {function.pause:.0f} s")
                function.pause = min(LONGEST_PAUSE, function.pause * 2)
            elif function.restart_at is not None and now >= function.restart_at:
                function.restart_at = None
                function.restarts += 1
                self._launch(function)
            elif not function.back and function.ready_file.exists():
                function.back = True
                self.say(f"[run] the {function.name} process is back (pid {function.process.pid}, "
                         f"restart {function.restarts})")

    def stop(self, timeout: float = 10) -> None:
        running = [f.process for f in self.functions.values() if f.process is not None and f.process.poll() is None]
        for process in running:
            process.terminate()
        deadline = time.monotonic() + timeout
        for process in running:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        for function in self.functions.values():
            function.ready_file.unlink(missing_ok=True)  # it names a process that is gone

    def pid(self, name: str) -> int | None:
        process = self.functions[name].process
        return process.pid if process is not None and process.poll() is None else None

    def _launch(self, function: _Function) -> None:
        function.ready_file.unlink(missing_ok=True)
        function.back = function.restarts == 0  # the first start is reported by the banner
        function.started_at = self.clock()
        function.process = subprocess.Popen(self.command(function.name), cwd=self.root,
                                            env=function.environment, stdin=subprocess.DEVNULL,
                                            start_new_session=True)


def describe_exit(code: int) -> str:
    """How a process ended, in words: `exit code 1`, `killed by SIGKILL`."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"
