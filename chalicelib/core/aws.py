"""AWS clients, created once per container on first use, each with a client span per call while tracing is on."""
from __future__ import annotations

import functools
import threading
from typing import Any

from chalicelib.core.observability import trace_calls
from chalicelib.core.settings import settings

_creating = threading.Lock()
_models: list[Any] = []  # the service models a renewed session keeps (renew_session)


@functools.lru_cache(maxsize=1)
def _session() -> Any:
    """One boto3 session per container: each new session loads the service models again (~100 ms)."""
    import boto3

    if not _models:
        return boto3.session.Session()
    import botocore.session

    core = botocore.session.Session()
    core.register_component("data_loader", _models[0])
    return boto3.session.Session(botocore_session=core)


@functools.lru_cache(maxsize=None)
def client(service: str) -> Any:
    from botocore.config import Config

    # Short timeouts and standard retries: a Lambda should fail fast, not hang its caller.
    # S3 signs with SigV4 (presigned POSTs too, which would otherwise be signed the legacy way in us-east-1).
    config = Config(retries={"max_attempts": 3, "mode": "standard"},
                    connect_timeout=3, read_timeout=10, **({"signature_version": "s3v4"} if service == "s3" else {}))
    with _creating:  # a session may not build clients from two threads at once (the local server is threaded)
        made = _session().client(service, region_name=settings().region, config=config)
    trace_calls(made.meta.events)
    return made


def reset_clients() -> None:
    """Forget cached clients (tests swap the environment between cases); the session and its models stay."""
    client.cache_clear()


def renew_session() -> None:
    """A new session and new clients on next use, as after a SnapStart restore: the snapshot's credentials
    and open connections are not reused; the service models the old session loaded (the slow part) are."""
    if _session.cache_info().currsize:
        _models[:] = [_session()._session.get_component("data_loader")]
    _session.cache_clear()
    reset_clients()


def error_code(exc: Exception) -> str:
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "")
