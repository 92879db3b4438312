"""AWS clients and the table handle, created once per container on first use."""
from __future__ import annotations

import functools
from typing import Any

from chalicelib.core.settings import settings


@functools.lru_cache(maxsize=None)
def client(service: str) -> Any:
    import boto3
    from botocore.config import Config

    # Short timeouts and standard retries: a Lambda should fail fast, not hang its caller.
    config = Config(retries={"max_attempts": 3, "mode": "standard"},
                    connect_timeout=3, read_timeout=10)
    return boto3.session.Session().client(service, region_name=settings().region, config=config)


@functools.lru_cache(maxsize=None)
def table() -> Any:
    import boto3

    resource = boto3.session.Session().resource("dynamodb", region_name=settings().region)
    return resource.Table(settings().table_name)


def reset_clients() -> None:
    """Forget cached clients (tests swap the environment between cases)."""
    client.cache_clear()
    table.cache_clear()


def error_code(exc: Exception) -> str:
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "")
