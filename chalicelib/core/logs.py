"""JSON log lines carrying the request and correlation ids of whatever caused them."""
from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
correlation_id_var: ContextVar[str | None] = ContextVar("correlation_id", default=None)

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "requestId": request_id_var.get(),
            "correlationId": correlation_id_var.get(),
        }
        # Structured fields passed as `extra=` become top-level keys.
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever sys.stdout is now (Lambda, chalice local and test capture all swap it)."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stdout

    @stream.setter
    def stream(self, _value):
        pass


_configured = False


def get_logger(name: str = "shop") -> logging.Logger:
    """The project's logger; configured once, on first use, at the stage's level."""
    global _configured
    if not _configured:
        from chalicelib.core.settings import settings

        root = logging.getLogger("shop")
        handler = _StdoutHandler()
        handler.setFormatter(JsonFormatter())
        root.handlers[:] = [handler]
        root.setLevel(settings().log_level.upper())
        root.propagate = False
        _configured = True
    return logging.getLogger(name if name.startswith("shop") else f"shop.{name}")
