"""What reaches the log: no secret from a query string, no control character from user data.

The alert webhooks accept their integration key as `?key=` (for connectors that cannot set a header),
and uvicorn's access log prints every request line with its query string: the filter installed on the
"uvicorn.access" logger replaces such values with `[redacted]` before any handler sees the record.

Titles, names, paths and addresses reach log lines as arguments; a newline or an ESC sequence in one
would forge a line or rewrite a terminal. Every record's string arguments have their control
characters escaped (`\n` becomes the two characters backslash and n) as the record is made, whatever
logger or handler it goes to. Our own format strings are left as they are.

Every record made while a request is handled carries that request's id (`request_id`), so its lines
can be told from others'; LOG_FORMAT=json writes each record as one JSON object per line.
"""

from __future__ import annotations

import logging
import re
from contextvars import ContextVar
from typing import Any
from urllib.parse import unquote_plus

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

ACCESS_LOGGER = "uvicorn.access"
SECRET_QUERY_PARAMETERS = frozenset({"key", "access_token"})
REDACTED = "[redacted]"

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_QUERY = re.compile(r"\?([^\s\"#]*)")
_SEPARATOR = re.compile(r"([&;])")


def redact_query_secrets(text: str) -> str:
    """`text` with the value of every secret query parameter (`key=`, however its name is encoded) masked."""
    if "?" not in text:
        return text
    return _QUERY.sub(lambda match: "?" + _redact_query(match.group(1)), text)


def _redact_query(query: str) -> str:
    parts = _SEPARATOR.split(query)  # parameters at even indexes, separators between them
    for index in range(0, len(parts), 2):
        name, equals, _ = parts[index].partition("=")
        if equals and unquote_plus(name).strip().lower() in SECRET_QUERY_PARAMETERS:
            parts[index] = f"{name}={REDACTED}"
    return "".join(parts)


class RedactQuerySecrets(logging.Filter):
    """Masks secret query parameters in a record's arguments (uvicorn passes the path as one) and message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(redact_query_secrets(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str) and not record.args:
            record.msg = redact_query_secrets(record.msg)
        return True


def install_access_log_redaction(logger_name: str = ACCESS_LOGGER) -> None:
    """Idempotent. Survives uvicorn's own logging set-up (dictConfig adds filters, never removes them)."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(existing, RedactQuerySecrets) for existing in logger.filters):
        logger.addFilter(RedactQuerySecrets())


def escape_control_characters(text: str) -> str:
    return _CONTROL.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _ESCAPES.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def _escaped(value: Any) -> Any:
    return escape_control_characters(value) if isinstance(value, str) else value


def install_log_argument_escaping() -> None:
    """Idempotent: wraps the log record factory once, so every record, from any library, is covered."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "escapes_control_characters", False):
        return

    def make_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        if isinstance(record.args, tuple):
            record.args = tuple(_escaped(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _escaped(v) for k, v in record.args.items()}
        return record

    make_record.escapes_control_characters = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(make_record)


REQUEST_ID: ContextVar[str | None] = ContextVar("incidentcore_request_id", default=None)


def install_request_ids() -> None:
    """Idempotent: every record made while a request is handled gets its id as `record.request_id`."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "adds_request_ids", False):
        return

    def make_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        request_id = REQUEST_ID.get()
        if request_id is not None and not hasattr(record, "request_id"):
            record.request_id = request_id
        return record

    make_record.adds_request_ids = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(make_record)


def json_formatter() -> logging.Formatter:
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, then whatever the record
    carries besides (request_id; an access line's method, path, route, status, duration_ms, client;
    exc_info with the traceback)."""
    return JsonFormatter(
        ["levelname", "name", "message"],
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp="time",
        reserved_attrs=[*RESERVED_ATTRS, "color_message"],  # uvicorn's ANSI-coloured copy of the message
    )
