"""Keeps secrets that may travel in a query string out of the access log.

The Elastic webhook accepts its integration key as `?key=` (for connectors that cannot set a header),
and uvicorn's access log prints every request line with its query string. The filter installed on
the "uvicorn.access" logger replaces such values with `[redacted]` before any handler sees the record.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

ACCESS_LOGGER = "uvicorn.access"
SECRET_QUERY_PARAMETERS = frozenset({"key"})
REDACTED = "[redacted]"

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
