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


def count_by(name: str, dimension: str, value: str, amount: int = 1) -> None:
    """A counter per `value` of one dimension (e.g. redemptions per promotion code), as its own EMF record so
    the dimension does not split the invocation's other metrics. Each value is a metric CloudWatch bills:
    only for dimensions staff bound (promotion codes), never for ones customers choose."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    with single_metric(name=name, unit=MetricUnit.Count, value=amount, namespace=NAMESPACE,
                       default_dimensions={"service": "shop"}) as metric:
        metric.add_dimension(name=dimension, value=value)


def flush() -> None:
    """Write what this invocation counted as one EMF log line (nothing if it counted nothing). Until something
    is counted in this container, Powertools is not even imported: a request that counts nothing never needs it."""
    if not _metrics.cache_info().currsize:
        return
    metrics = _metrics()
    if metrics.metric_set:
        metrics.flush_metrics(raise_on_empty_metrics=False)
