"""Structured JSON logs carrying the request and correlation ids of their cause.

One JSON object per line, in the shape Powertools' Logger writes (level, location, message, timestamp,
service, the line's extra keys, the exception with its frames, the X-Ray trace id), made by a formatter
on the standard library: Powertools' package imports its tracer, metrics and JMESPath helpers with its
logger, about 10 ms of a cold start that a log line does not need (docs/decisions.md)."""
from __future__ import annotations

import json
import logging
import os
import sys
import time
import traceback
from contextvars import ContextVar
from typing import Any

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
correlation_id_var: ContextVar[str | None] = ContextVar("correlation_id", default=None)

SERVICE = "shop"

# What a LogRecord holds of its own; every other attribute is a key the line was given (`extra=`).
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


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


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON; keys whose value is None are left out, values JSON cannot hold are text."""

    converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {"level": record.levelname, "location": f"{record.funcName}:{record.lineno}",
                                "message": _message(record), "timestamp": self.formatTime(record),
                                "service": SERVICE}
        line.update((key, value) for key, value in vars(record).items() if key not in _RECORD_ATTRIBUTES)
        exc_info = record.exc_info
        if isinstance(exc_info, tuple) and exc_info[0] is not None:
            kind, error, trace = exc_info
            line.setdefault("exception", self.formatException(exc_info))
            line.setdefault("exception_name", kind.__name__)
            line.setdefault("exception_notes", getattr(error, "__notes__", None))
            line["stack_trace"] = {"type": kind.__name__, "value": error, "module": type(error).__module__,
                                   "frames": [{"file": frame.filename, "line": frame.lineno, "function": frame.name,
                                               "statement": frame.line} for frame in traceback.extract_tb(trace)]}
        trace_header = os.environ.get("_X_AMZN_TRACE_ID")
        if trace_header:
            line["xray_trace_id"] = trace_header.split(";")[0].replace("Root=", "")
        return json.dumps({key: value for key, value in line.items() if value is not None}, default=str,
                          separators=(",", ":"), ensure_ascii=False)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        # 2026-12-07 14:16:35,008+0000: UTC, milliseconds before the offset
        return time.strftime(f"%Y-%m-%d %H:%M:%S,{int(record.msecs):03d}+0000", self.converter(record.created))


def _message(record: logging.LogRecord) -> Any:
    message = record.msg
    if record.args:
        return record.getMessage()
    if isinstance(message, str) and message[:1] in ("{", "["):  # a JSON text is logged as what it holds
        try:
            return json.loads(message)
        except ValueError:
            pass
    return message


_configured = False


def _configure() -> None:
    global _configured
    from chalicelib.core.settings import settings

    handler = _StdoutHandler()
    handler.addFilter(_Ids())
    handler.setFormatter(JsonFormatter())
    # The "shop" logger (Chalice's app.log too): one JSON format for every line.
    shop = logging.getLogger(SERVICE)
    shop.setLevel(settings().log_level.upper())
    shop.handlers[:] = [handler]  # drop the plain-text handler Chalice puts on its app logger
    shop.propagate = False
    _configured = True


def get_logger(name: str = SERVICE) -> logging.Logger:
    """A logger under "shop", configured on first use at the stage's level."""
    if not _configured:
        _configure()
    return logging.getLogger(name if name.startswith(SERVICE) else f"{SERVICE}.{name}")
