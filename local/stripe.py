"""The local Stripe: localstripe (a fake, stateful Stripe API server from PyPI) as a child process on a loopback port.

`make run` starts one for the stack's functions; tests start their own (`tests/stripe_server.py`). It accepts any
`sk_test_...` key and sends webhooks signed as Stripe signs them to the URLs registered with `register_webhook`,
one second after the event.

Run as `python -m local.stripe --port N` it is localstripe's own server (`localstripe --port N --from-scratch`)
with two differences: it listens on the loopback address only (localstripe's command listens on every interface,
where anyone on the network could use it), and it keeps its objects in memory only (the command writes its whole
store to /tmp/localstripe.pickle after every write, one file for every instance on the machine, and starts from
it unless told `--from-scratch`).

The test keys below are what `make run` puts into the stack's Stripe secret: fixed, so that a developer can
sign an event by hand with the webhook secret and the README can name them.
"""
from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterable
from typing import Self

from local.emulator import HOST, free_port, local_opener, serving

ROOT = pathlib.Path(__file__).resolve().parent.parent

SECRET_KEY = "sk_test_local_shop"
WEBHOOK_SECRET = "whsec_local_shop"
PUBLISHABLE_KEY = "pk_test_local_shop"


class LocalStripe:
    """`LocalStripe().start()` ... `.stop()`, or `with LocalStripe() as stripe:`; `stripe.url` is the API base.

    The port comes from the argument, else LOCAL_STRIPE_PORT if set, else a free one. Its access log goes to
    `log_path` if given (appended), else nowhere.
    """

    def __init__(self, port: int | None = None, log_path: str | os.PathLike | None = None):
        env_port = os.environ.get("LOCAL_STRIPE_PORT")
        self.port = port or (int(env_port) if env_port else free_port())
        self.url = f"http://{HOST}:{self.port}"
        self._log_path = log_path
        self._process: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self, timeout: float = 20) -> LocalStripe:
        log = open(self._log_path, "ab") if self._log_path else subprocess.DEVNULL  # noqa: SIM115 (closed below)
        try:
            # Its own session: Ctrl-C in the terminal reaches only the orchestrator, which stops it.
            self._process = subprocess.Popen(
                [sys.executable, "-m", "local.stripe", "--port", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT, start_new_session=True)
        finally:
            if log is not subprocess.DEVNULL:
                log.close()
        # Unauthenticated: 401 in Stripe's error shape, which means it is serving.
        if serving(self._process, f"{self.url}/v1/customers", timeout, "localstripe", self.port):
            return self
        self.stop()
        raise RuntimeError(f"localstripe did not answer on {self.url} within {timeout} s")

    def register_webhook(self, url: str, secret: str = WEBHOOK_SECRET, *, name: str = "shop",
                         events: Iterable[str] | None = None) -> None:
        """Send events (all, or only `events`' types) to `url`, signed with `secret`; a second call with the
        same `name` replaces the first."""
        fields: list[tuple[str, str]] = [("url", url), ("secret", secret)]
        fields += [("events[]", event) for event in events or ()]
        self._call("POST", f"/_config/webhooks/{urllib.parse.quote(name, safe='')}",
                   urllib.parse.urlencode(fields).encode())

    def clear(self) -> None:
        """Forget every object (customers, intents, refunds...); the registered webhooks stay."""
        self._call("DELETE", "/_config/data")

    def _call(self, method: str, path: str, body: bytes | None = None) -> None:
        request = urllib.request.Request(f"{self.url}{path}", data=body, method=method)
        if body is not None:
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        local_opener().open(request, timeout=10).close()

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        try:
            os.killpg(self._process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait(timeout=10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    import argparse
    import logging

    from aiohttp import web
    from localstripe import resources, server

    parser = argparse.ArgumentParser(prog="python -m local.stripe", description="localstripe on the loopback address")
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args(argv).port
    resources.Store.dump_to_disk = lambda _store: None  # memory only: nothing written, nothing restored
    access = logging.getLogger("aiohttp.access")  # its requests and its webhooks' deliveries, as the command logs
    access.setLevel(logging.DEBUG)
    access.addHandler(logging.StreamHandler())
    web.run_app(server.app, host=HOST, port=port, access_log=access, print=None)


if __name__ == "__main__":
    main()
