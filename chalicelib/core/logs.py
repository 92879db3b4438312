"""Structured JSON logs (Powertools Logger) carrying the request and correlation ids of their cause."""
from __future__ import annotations

import logging
import sys
from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
correlation_id_var: ContextVar[str | None] = ContextVar("correlation_id", default=None)

SERVICE = "shop"


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever sys.stdout is now (Lambda, chalice local and test capture all swap it)."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stdout

    @stream.setter
    def stream(self, _value):
        pass


class _Ids(logging.Filter):
    """Stamps every line with the ids in scope: set per HTTP request, or from the event being handled."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.requestId = request_id_var.get()
        record.correlationId = correlation_id_var.get()
        record.logger = record.name
        return True


_configured = False


def _configure() -> None:
    global _configured
    from aws_lambda_powertools import Logger

    from chalicelib.core.settings import settings

    handler = _StdoutHandler()
    handler.addFilter(_Ids())
    # Powertools owns the "shop" logger (Chalice's app.log too): one JSON format for every line.
    Logger(service=SERVICE, level=settings().log_level.upper(), logger_handler=handler, utc=True)
    shop = logging.getLogger(SERVICE)
    shop.handlers[:] = [handler]  # drop the plain-text handler Chalice puts on its app logger
    shop.propagate = False
    _configured = True


def get_logger(name: str = SERVICE) -> logging.Logger:
    """A logger under "shop", configured on first use at the stage's level."""
    if not _configured:
        _configure()
    return logging.getLogger(name if name.startswith(SERVICE) else f"{SERVICE}.{name}")
