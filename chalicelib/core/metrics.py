"""Business metrics as CloudWatch embedded metric format (Powertools Metrics), flushed per invocation."""
from __future__ import annotations

import functools
from typing import Any

NAMESPACE = "Shop"


@functools.lru_cache(maxsize=1)
def _metrics() -> Any:
    from aws_lambda_powertools import Metrics

    return Metrics(namespace=NAMESPACE, service="shop")


def count(name: str, value: int = 1) -> None:
    """Add to a business counter (checkouts, orders created, duplicates suppressed, …)."""
    from aws_lambda_powertools.metrics import MetricUnit

    _metrics().add_metric(name=name, unit=MetricUnit.Count, value=value)


def flush() -> None:
    """Write what this invocation counted as one EMF log line (nothing if it counted nothing)."""
    metrics = _metrics()
    if metrics.metric_set:
        metrics.flush_metrics(raise_on_empty_metrics=False)
