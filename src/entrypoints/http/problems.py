"""Every error as RFC 9457 problem details: domain errors, framework errors and the unexpected.

Also the body check: Litestar converts request bodies leniently ("5" becomes 5) and decodes any
content type as JSON, so JSON routes refuse other content types (415) and JSON bodies are first
converted strictly to the handler's Struct; a mismatch is a 400 that names the field.
"""

from __future__ import annotations

import logging
import re
import uuid
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.types import ExceptionHandlersMap
from litestar.utils.scope.state import ScopeState
from sqlalchemy.exc import OperationalError

from adapters.sql.engine import DatabaseBusy
from entrypoints.http.wire import FieldProblem, Problem
from entrypoints.log_hygiene import REQUEST_ID
from incidentcore.errors import (
    AuthenticationFailed,
    Conflict,
    DomainError,
    FieldError,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    RateLimited,
    StaleState,
    ValidationFailed,
)

logger = logging.getLogger("incidentcore.http")

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:incidentcore:problem:"

_DOMAIN_STATUS: list[tuple[type[DomainError], int, str]] = [
    # Most specific first: InvalidTransition and StaleState are Conflicts.
    (ValidationFailed, 400, "validation-failed"),
    (AuthenticationFailed, 401, "authentication-failed"),
    (PermissionDenied, 403, "permission-denied"),
    (NotFound, 404, "not-found"),
    (InvalidTransition, 409, "invalid-transition"),
    (StaleState, 409, "stale-state"),
    (Conflict, 409, "conflict"),
    (RateLimited, 429, "rate-limited"),
]

_HTTP_SLUG = {
    400: "bad-request",
    401: "authentication-failed",
    403: "permission-denied",
    404: "not-found",
    405: "method-not-allowed",
    413: "request-too-large",
    415: "unsupported-media-type",
    429: "rate-limited",
}


def problem(
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    errors: list[FieldProblem] | None = None,
    headers: dict[str, str] | None = None,
    request_id: str | None = None,
) -> Response[Problem]:
    phrase = HTTPStatus(status).phrase
    body = Problem(
        type=TYPE_PREFIX + (slug or _HTTP_SLUG.get(status) or phrase.lower().replace(" ", "-")),
        title=phrase,
        status=status,
        detail=detail,
        errors=errors,
        request_id=request_id,
    )
    return Response(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def domain_error_handler(request: Request[Any, Any, Any], error: DomainError) -> Response[Problem]:
    mapped = next(((status, slug) for kind, status, slug in _DOMAIN_STATUS if isinstance(error, kind)), None)
    if mapped is None:  # a DomainError subclass nobody mapped: the client cannot have caused it
        return unexpected_error_handler(request, error)
    status, slug = mapped
    headers: dict[str, str] = {}
    errors = None
    if isinstance(error, ValidationFailed):
        errors = [FieldProblem(e.field, e.message) for e in error.errors]
    elif isinstance(error, AuthenticationFailed):
        headers["WWW-Authenticate"] = "Bearer"
    elif isinstance(error, RateLimited):
        headers["Retry-After"] = str(error.retry_after)
    return problem(status, error.detail, slug=slug, errors=errors, headers=headers)


def http_exception_handler(request: Request[Any, Any, Any], error: HTTPException) -> Response[Problem]:
    status = error.status_code
    if status >= 500:
        return unexpected_error_handler(request, error)
    headers = dict(error.headers or {})
    if isinstance(error, ValidationException):
        errors = [_framework_field_problem(item) for item in error.extra or [] if isinstance(item, dict)]
        if not errors and (missing := _MISSING_PARAMETER.match(str(error.detail))):
            errors = [FieldProblem(missing.group("name"), f"is required (a {missing.group('kind')} parameter)")]
        detail = "; ".join(f"{e.field}: {e.message}" for e in errors) or str(error.detail)
        return problem(400, detail, slug="validation-failed", errors=errors or None, headers=headers)
    if status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    return problem(status, _http_detail(error), headers=headers)


def unexpected_error_handler(request: Request[Any, Any, Any], error: Exception) -> Response[Problem]:
    request_id = REQUEST_ID.get() or uuid.uuid4().hex  # the request's own id (X-Request-ID), as its log lines
    logger.error(
        "unexpected error %s handling %s %s",
        request_id,
        request.method,
        request.url.path,
        exc_info=(type(error), error, error.__traceback__),
    )
    return problem(
        500,
        f"An unexpected error occurred; it was logged with request id {request_id}.",
        slug="internal-error",
        headers={"X-Request-ID": request_id},  # also what the request observation adds
        request_id=request_id,
    )


def busy_database_handler(request: Request[Any, Any, Any], error: Exception) -> Response[Problem]:
    """SQLite's write lock not free within the busy timeout (queued in this process: DatabaseBusy;
    held by another process: SQLite's own "database is locked"): 503 and a retry, not an error."""
    if isinstance(error, OperationalError) and "database is locked" not in str(error.orig):
        return unexpected_error_handler(request, error)
    logger.warning("database busy: %s %s answered 503", request.method, request.url.path)
    return problem(
        503,
        "The database is busy with other writes; retry in a moment.",
        slug="database-busy",
        headers={"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)},
    )


BUSY_RETRY_AFTER_SECONDS = 1

EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    DomainError: domain_error_handler,
    HTTPException: http_exception_handler,
    DatabaseBusy: busy_database_handler,
    OperationalError: busy_database_handler,
    Exception: unexpected_error_handler,
}


# A route's own body limit, below the app's MAX_BODY_BYTES (the app's limit still applies above it).
MAX_BODY_BYTES_OPT = "max_body_bytes"


async def check_body(request: Request[Any, Any, Any]) -> None:
    """A `before_request` hook: the body a handler takes, decoded once and checked before Litestar sees it.

    A route whose `opt` sets `MAX_BODY_BYTES_OPT` refuses a larger body (413) before decoding it.

    JSON routes answer 415 to any other content type (Litestar would decode text/plain or a form as
    JSON, leniently). The JSON is decoded once, scanned for NUL characters (no database stores them)
    and converted strictly to the handler's Struct; Litestar then takes the decoded value from the
    connection state instead of decoding the body again. The OAuth2 login form is only scanned for NUL.
    """
    data_field = request.route_handler.parsed_data_field
    if data_field is None:
        return
    body = await request.body()
    limit = request.route_handler.opt.get(MAX_BODY_BYTES_OPT)
    if limit is not None and len(body) > limit:
        raise HTTPException(status_code=413, detail=f"The request body is larger than {limit} bytes, this endpoint's limit.")
    media_type = getattr(data_field.kwarg_definition, "media_type", RequestEncodingType.JSON)
    if media_type is not RequestEncodingType.JSON:
        if (b"%00" in body or b"\x00" in body) and contains_nul(dict(await request.form())):
            raise ValidationFailed(FieldError("body", "strings must not contain NUL characters"))
        return
    content_type = request.headers.get("content-type")
    if (content_type is not None or body) and not is_json_media_type(content_type):
        given = (content_type or "").split(";", 1)[0].strip() or "a body without a Content-Type"
        raise HTTPException(
            status_code=415, detail=f"This endpoint takes a JSON body (Content-Type: application/json), not {given}."
        )
    if not body:
        if not data_field.is_optional:  # else Litestar says only "'data'"
            raise ValidationFailed(FieldError("body", "is required: send a JSON object"))
        return
    try:
        value = msgspec.json.decode(body)
    except msgspec.DecodeError as error:
        raise ValidationFailed(FieldError("body", f"is not valid JSON ({error})")) from None
    except RecursionError:  # msgspec's decoder recurses once per level
        raise ValidationFailed(FieldError("body", TOO_DEEP)) from None
    if json_depth(value) > MAX_JSON_DEPTH:
        raise ValidationFailed(FieldError("body", TOO_DEEP))
    if b"\\u0000" in body and contains_nul(value):  # JSON can only spell a NUL as \u0000
        raise ValidationFailed(FieldError("body", "strings must not contain NUL characters"))
    body_type = data_field.annotation
    if isinstance(body_type, type) and issubclass(body_type, msgspec.Struct):
        try:
            msgspec.convert(value, type=body_type, strict=True)
        except msgspec.ValidationError as error:
            field, message = field_of(str(error))
            raise ValidationFailed(FieldError(field, message)) from None
    # Where `Request.json()` (and so the data extractor) looks before decoding the body itself.
    ScopeState.from_scope(request.scope).json = value


def is_json_media_type(content_type: str | None) -> bool:
    """`application/json` or a structured `application/...+json` type, whatever its parameters."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


# No body any client sends is deeper than a few levels; every deeper one is refused before anything
# (the NUL scan, alert data kept as JSON, the database's JSON columns) walks it.
MAX_JSON_DEPTH = 64
TOO_DEEP = f"is nested more than {MAX_JSON_DEPTH} levels deep"


def json_depth(value: Any) -> int:
    """How deeply arrays and objects nest in a decoded JSON value (a scalar is 0). Iterative: no input
    can exhaust the stack."""
    deepest = 0
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if depth > MAX_JSON_DEPTH:
                break
            pending.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def contains_nul(value: Any) -> bool:
    """Whether any string (or object key) in a decoded JSON value holds a NUL. Iterative."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


_MISSING_PARAMETER = re.compile(r"Missing required (?P<kind>\w+) parameter '(?P<name>[^']+)'")
_AT_PATH = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_NAMED_FIELD = re.compile(r"(?:unknown|missing required) field `(?P<name>[^`]+)`")


def field_of(error_text: str) -> tuple[str, str]:
    """Splits msgspec's "Expected `int`, got `str` - at `$.steps[0].delay_minutes`" into field and message."""
    match = _AT_PATH.match(error_text)
    message = match.group("message") if match else error_text
    path = (match.group("path") if match else None) or ""
    path = path.removeprefix(".")
    named = _NAMED_FIELD.search(message)
    if named:
        path = f"{path}.{named.group('name')}" if path else named.group("name")
    return (path or "body"), message


def _framework_field_problem(item: dict[str, Any]) -> FieldProblem:
    message = str(item.get("message", "is invalid"))
    key = str(item.get("key") or "")
    if item.get("source") == "body" or key == "data":
        field, message = field_of(message)
        if field == "body" and key not in ("", "data"):
            field = key
        return FieldProblem(field, message)
    return FieldProblem(key or "request", message)


def _http_detail(error: HTTPException) -> str:
    detail = str(error.detail or "")
    phrase = HTTPStatus(error.status_code).phrase
    if detail and detail != phrase:
        return detail
    return {
        404: "No resource at this address.",
        405: "This address does not accept that method.",
        413: "The request body is too large.",
        415: "This endpoint does not accept that content type.",
    }.get(error.status_code, phrase)


PROBLEM_DESCRIPTIONS = {
    400: "Malformed or invalid input",
    401: "Missing, invalid or expired token",
    403: "Authenticated but not allowed",
    404: "No such resource",
    409: "Conflicts with the current state",
    413: "Request body too large",
    415: "The body is not JSON (Content-Type must be application/json)",
    429: "Too many attempts",
}


def responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the problem responses an operation can answer."""
    return {
        status: ResponseSpec(
            data_container=Problem,
            description=PROBLEM_DESCRIPTIONS.get(status, HTTPStatus(status).phrase),
            media_type=PROBLEM_MEDIA_TYPE,
            generate_examples=False,
        )
        for status in statuses
    }
