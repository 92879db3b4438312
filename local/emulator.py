"""The embedded AWS emulator: moto in server mode, as a child process on a loopback port."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

HOST = "127.0.0.1"
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def local_opener() -> urllib.request.OpenerDirector:
    """urllib without proxies: a proxy configured for the laptop must never see loopback calls."""
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Emulator:
    """`Emulator().start()` ... `.stop()`, or `with Emulator() as aws:`; the port comes from MOTO_PORT if set."""

    def __init__(self, port: int | None = None, log_path: str | None = None):
        env_port = os.environ.get("MOTO_PORT")
        self.port = port or (int(env_port) if env_port else free_port())
        self.url = f"http://{HOST}:{self.port}"
        self._log_path = log_path
        self._process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return self.url

    def start(self, timeout: float = 30) -> Emulator:
        log = open(self._log_path, "ab") if self._log_path else subprocess.DEVNULL
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": REGION}
        env.pop("AWS_ENDPOINT_URL", None)
        # Its own session: Ctrl-C in the terminal reaches only the orchestrator, which stops the
        # emulator last, after the server and the worker have let go of it.
        self._process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(self.port)],
                                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                         start_new_session=True)
        if log is not subprocess.DEVNULL:
            log.close()  # the child holds its own handle
        opener = local_opener()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the emulator exited with code {self._process.returncode}"
                                   f" (is port {self.port} taken?)")
            try:
                opener.open(f"{self.url}/moto-api/", timeout=1).close()
                return self
            except urllib.error.HTTPError:
                return self  # any HTTP answer means it is serving
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the emulator did not answer on {self.url} within {timeout} s")

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self, timeout: float = 5) -> None:
        process, self._process = self._process, None
        if process and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
