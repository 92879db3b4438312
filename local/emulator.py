"""The embedded AWS emulator: moto in server mode, as a child process on a loopback port.

It answers one request at a time, so overlapping requests keep DynamoDB's (and SQS', EventBridge's,
Cognito's) guarantees (see `local.consistency`). By default it enforces IAM as AWS does (see
`local.enforcement`): every key but the operator's must belong to a role or user in the emulator, and
gets only what its policies allow. Run as `python -m local.emulator -H <host> -p <port>` it is that
server.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

HOST = "127.0.0.1"
REGION = "us-east-1"
OPERATOR = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}  # full access, never a function


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def local_opener() -> urllib.request.OpenerDirector:
    """urllib without proxies: a proxy configured for the laptop must never see loopback calls."""
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def serving(process: subprocess.Popen, url: str, timeout: float, name: str, port: int) -> bool:
    """Whether the server `process` started answers `url` (any HTTP answer) within `timeout` seconds; raises if it
    exits first."""
    opener = local_opener()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with code {process.returncode} (is port {port} taken?)")
        try:
            opener.open(url, timeout=1).close()
            return True
        except urllib.error.HTTPError:
            return True  # any HTTP answer means it is serving
        except OSError:
            time.sleep(0.1)
    return False


class Emulator:
    """`Emulator().start()` ... `.stop()`, or `with Emulator() as aws:`; the port comes from MOTO_PORT if set.

    Every `AccessDenied ...` line the emulator logs is kept in `denials` and passed to `on_denial`
    (make run prints them). With `state`, a folder, the emulator restores what the folder holds and
    keeps its state there (see `local.persistence`); what it says about it goes to `on_state`.
    """

    def __init__(self, port: int | None = None, log_path: str | None = None, *, enforce_iam: bool = True,
                 on_denial: Callable[[str], None] | None = None, state: str | os.PathLike | None = None,
                 on_state: Callable[[str], None] | None = None):
        env_port = os.environ.get("MOTO_PORT")
        self.port = port or (int(env_port) if env_port else free_port())
        self.url = f"http://{HOST}:{self.port}"
        self.enforce_iam = enforce_iam
        self.state = state
        self._log_path = log_path
        self._on_denial = on_denial
        self._on_state = on_state
        self.denials: list[str] = []
        self._process: subprocess.Popen | None = None
        self._pump: threading.Thread | None = None
        self._saved = threading.Event()
        self.state_said: list[str] = []

    def start(self, timeout: float = 30) -> Emulator:
        env = {**os.environ, "AWS_ACCESS_KEY_ID": OPERATOR["aws_access_key_id"],
               "AWS_SECRET_ACCESS_KEY": OPERATOR["aws_secret_access_key"], "AWS_DEFAULT_REGION": REGION}
        for name in ("AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE",
                     "INITIAL_NO_AUTH_ACTION_COUNT", "LOCAL_EMULATOR_STATE"):
            env.pop(name, None)
        if self.enforce_iam:
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"
        else:
            env["LOCAL_ENFORCE_IAM"] = "off"
        if self.state is not None:
            env["LOCAL_EMULATOR_STATE"] = str(self.state)
            # The user pools' signing keys live and are forgotten with the rest of the state.
            env.setdefault("LOCAL_SIGNING_KEYS_DIR", os.path.join(str(self.state), "signing-keys"))
        # A TOTP code is checked against the user's secret, as Cognito does (moto accepts any otherwise).
        env["MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP"] = "true"
        # Its own session: Ctrl-C in the terminal reaches only the orchestrator, which stops the
        # emulator last, after the server and the worker have let go of it.
        self._process = subprocess.Popen([sys.executable, "-m", "local.emulator", "-H", HOST, "-p", str(self.port)],
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=env, cwd=_ROOT, start_new_session=True)
        self._pump = threading.Thread(target=self._copy_output, name="emulator-log", daemon=True)
        self._pump.start()
        if serving(self._process, f"{self.url}/moto-api/", timeout, "the emulator", self.port):
            return self
        self.stop()
        raise RuntimeError(f"the emulator did not answer on {self.url} within {timeout} s")

    def _copy_output(self) -> None:
        """The emulator's output into its log file; denials also to `on_denial`."""
        log = open(self._log_path, "ab") if self._log_path else None  # noqa: SIM115 (closed below)
        try:
            for line in self._process.stdout:
                if log:
                    log.write(line)
                    log.flush()
                if line.startswith(b"[state] saved"):
                    self._saved.set()
                elif line.startswith(b"[state] "):  # what it restored, or could not write: said on the terminal
                    self.state_said.append(line.decode("utf-8", "replace").rstrip())
                    if self._on_state:
                        self._on_state(self.state_said[-1])
                if line.startswith(b"AccessDenied "):
                    denial = line.decode("utf-8", "replace").rstrip()
                    self.denials.append(denial)
                    if self._on_denial:
                        self._on_denial(denial)
        finally:
            if log:
                log.close()

    def save(self, timeout: float = 30) -> None:
        """The emulator's state on disk as it is now (with `state` only): returns once it is written."""
        if self.state is None or not self.running:
            raise RuntimeError("the emulator keeps no state, or is not running")
        self._saved.clear()
        self._process.send_signal(signal.SIGUSR1)
        if not self._saved.wait(timeout):
            raise RuntimeError(f"the emulator did not save its state within {timeout} s")

    @property
    def returncode(self) -> int | None:
        return self._process.poll() if self._process is not None else None

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
        if self._pump is not None:
            self._pump.join(timeout)
            self._pump = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _exit_with_parent(persistence: Any) -> None:
    """An orphaned emulator would hold its port forever: leave when whoever started it is gone."""
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(1)
    if persistence is not None:
        persistence.stop()
    os._exit(0)


def main(argv: list[str] | None = None) -> None:
    """moto's server answering one request at a time, with IAM enforced as AWS enforces it, and its state
    kept in the folder LOCAL_EMULATOR_STATE names (if it does)."""
    from local import apigateway, consistency, enforcement, signing_keys

    enforcement.check_version()
    consistency.install()
    if os.environ.get("LOCAL_ENFORCE_IAM") != "off":
        enforcement.install()
    apigateway.install()  # `chalice deploy` imports its API as Swagger 2.0
    signing_keys.install()  # each user pool signs with its own key, not the one inside moto's package
    persistence = None
    if os.environ.get("LOCAL_EMULATOR_STATE"):
        from local.persistence import Persistence

        persistence = Persistence(os.environ["LOCAL_EMULATOR_STATE"])
        restored = persistence.start()
        print(f"[state] restored {restored}" if restored else "[state] nothing to restore: starting empty",
              flush=True)

        def save_now(*_args: Any) -> None:  # Emulator.save(): what is there now, on disk before it returns
            persistence.save()
            print("[state] saved", flush=True)

        signal.signal(signal.SIGUSR1, save_now)
    threading.Thread(target=_exit_with_parent, args=(persistence,), name="parent-watch", daemon=True).start()
    import moto.server

    moto.server.MotoRequestHandler = consistency.keep_alive(moto.server.MotoRequestHandler)
    try:
        moto.server.main(argv if argv is not None else sys.argv[1:])
    finally:
        if persistence is not None:
            persistence.stop()


if __name__ == "__main__":
    main()
