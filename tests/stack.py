"""The stack inside in-process moto, as in AWS: resources from the merge template, IAM enforced per function.

Every function of the app gets a role holding its stage's policy file; the test client runs
HTTP requests as `api_handler` and `lambda_.invoke(name, ...)` as `name`, so a call a function's
policy does not allow fails in the test as it would in AWS. Test code itself (setting up data,
reading results) runs as the emulator's operator.
"""
from __future__ import annotations

import contextlib
import functools
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

from chalice.local import LambdaContext
from chalice.test import Client, FunctionNotFoundError, InvokeResponse, TestHTTPClient, TestLambdaClient

from local import identities

_ROOT = pathlib.Path(__file__).resolve().parents[1]


@functools.lru_cache(maxsize=1)
def _operator_session() -> Any:
    """Test code's own session (the emulator's keys), shared by every test: building one loads the models."""
    import boto3

    return boto3.session.Session()


def create_stack(replacing: dict[str, dict] | None = None, parameters: dict[str, str] | None = None) -> dict:
    """Resources and function identities; `replacing` swaps some functions' policy files (written as the
    files are, references unresolved) for other documents; `parameters` sets template parameters the policies
    name (e.g. `EmailIdentity`), which otherwise keep their defaults."""
    from local.bootstrap import bootstrap_stack
    from local.enforcement import install

    install()
    _keys_made_once()
    session = _operator_session()
    stack = bootstrap_stack("local", None, session=session)
    resolved = identities.policies("local", stack, parameters=parameters, replacing=replacing)
    identities.bind(identities.create_identities("local", stack, session=session,
                                                 endpoint_url=None, documents=resolved))
    return {**stack.summary(), "stack": stack}


@functools.cache
def _keys_made_once() -> None:
    """Keys the emulator makes for each stack, made once per process instead: every moto user pool parses the one
    signing key moto bundles (RSA's primes recovered, 0.2 s), and every KMS key, symmetric ones included, gets a
    new 2048-bit RSA key (0.1 s): together most of a test's stack. Tests only read these keys."""
    from joserfc.jwk import RSAKey
    from moto.kms import models as kms

    parse = RSAKey.import_key.__func__
    parsed: dict[str, Any] = {}

    def import_key(cls: type, value: Any, *args: Any, **kwargs: Any) -> Any:
        if args or kwargs or not isinstance(value, dict):
            return parse(cls, value, *args, **kwargs)
        text = json.dumps(value, sort_keys=True)
        if text not in parsed:
            parsed[text] = parse(cls, value)
        return parsed[text]

    RSAKey.import_key = classmethod(import_key)
    kms.generate_private_key = functools.cache(kms.generate_private_key)


class _HTTP(TestHTTPClient):
    def request(self, *args: Any, **kwargs: Any) -> Any:
        with identities.running_as("api_handler"):
            return super().request(*args, **kwargs)


class _Lambda(TestLambdaClient):
    """Invokes a function as Lambda would: under its own role, with its configured timeout as its clock
    (Chalice's own test client gives every function 3 s, which a loaded machine can spend before a
    time-bounded handler such as the sweeper has started its first item)."""

    def invoke(self, function_name: str, payload: Any = None) -> Any:
        scoped = self._config.scope(self._config.chalice_stage, function_name)
        if function_name not in self._app.handler_map:
            raise FunctionNotFoundError(function_name)
        context = LambdaContext(function_name, memory_size=scoped.lambda_memory_size,
                                max_runtime_ms=scoped.lambda_timeout * 1000)
        with identities.running_as(function_name), self._patched_env_vars(scoped.environment_variables):
            return InvokeResponse(payload=self._app.handler_map[function_name](payload or {}, context))


class FunctionClient(Client):
    """Chalice's test client with every function under its own IAM role."""

    @property
    def http(self) -> TestHTTPClient:
        if self._http_client is None:
            self._http_client = _HTTP(self._app, self._chalice_config)
        return self._http_client

    @property
    def lambda_(self) -> TestLambdaClient:
        if self._lambda_client is None:
            self._lambda_client = _Lambda(self._app, self._chalice_config)
        return self._lambda_client


@contextlib.contextmanager
def local_run(log: pathlib.Path, **env: str) -> Iterator[str]:
    """`python -m local.run` (what `make run` starts) on a free port: its base URL once /health answers.

    The stack makes its own emulator and credentials (no AWS_* variable is passed on) and keeps its state
    in a folder of its own beside the log, starting empty; `env` adds settings such as the demo logins.
    Stopped, with everything it started, on leaving.
    """
    from local.emulator import free_port

    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    environment.update(PORT=str(port), LOCAL_STACK_DIR=str(log.parent / "local-stack"), **env)
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "-m", "local.run"], cwd=_ROOT, env=environment, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while not _answers(base + "/health"):
            assert process.poll() is None, log.read_text()
            if time.monotonic() > deadline:
                raise AssertionError("the local stack did not answer /health:\n" + log.read_text())
            time.sleep(0.2)
        yield base
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(20)


def _answers(url: str) -> bool:
    with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
        return response.status == 200
    return False
