"""Log lines: plain text for a terminal, or JSON lines for production (one object per line).

Every line carries the id of the request it was written for (`berth.core.request_ids`), "" when
it was written outside a request. A JSON line holds ``time`` (ISO 8601, UTC), ``level``,
``logger``, ``message``, ``request_id``, the fields passed with ``extra={...}``, and
``exception`` when there is one.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from berth.core.request_ids import REQUEST_ID

LOG_FORMATS: Final = ("text", "json")
TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"

_STANDARD: Final = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys() | {"message", "asctime", "request_id"}
)
"""LogRecord attributes every record has: anything else came from ``extra=``."""


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on each record (``record.request_id``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or REQUEST_ID.get(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in line:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(line, default=str).decode()


def log_handler(log_format: str) -> logging.Handler:
    """A stderr handler writing `log_format` ("text" or "json") lines with the request id."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log_format is one of {LOG_FORMATS}, not {log_format!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    return handler


def configure_logging(level: str, log_format: str = "text") -> None:
    """Root logging of a server process: `level`, lines in `log_format`, on stderr."""
    logging.basicConfig(level=level.upper(), handlers=[log_handler(log_format)], force=True)
    logging.getLogger("alembic").setLevel(logging.WARNING)
