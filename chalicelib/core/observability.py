"""Middleware for every invocation (HTTP, queue, bus, schedule): logger ready, metrics flushed,
X-Ray subsegment when the stage turns tracing on (the SDK is imported only then)."""
from __future__ import annotations

import functools
from typing import Any

from chalicelib.core import metrics
from chalicelib.core.logs import get_logger


@functools.lru_cache(maxsize=1)
def _tracer() -> Any:
    from chalicelib.core.settings import settings

    if not settings().tracing:
        return None
    from aws_lambda_powertools import Tracer  # pulls in the X-Ray SDK: only where tracing is on

    return Tracer(service="shop")  # also patches botocore, so every AWS call is a subsegment


def observe(event: Any, get_response: Any) -> Any:
    get_logger()
    tracer = _tracer()
    try:
        if tracer is None:
            return get_response(event)
        with tracer.provider.in_subsegment(f"## {type(event).__name__}"):
            return get_response(event)
    finally:
        metrics.flush()
