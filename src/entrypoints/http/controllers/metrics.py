"""`GET /metrics`: Prometheus text format (METRICS_ENABLED), behind a bearer token when METRICS_TOKEN
is set. Not in the API's OpenAPI document: Prometheus scrapes it, no API client calls it."""

from __future__ import annotations

import hmac
import logging
from typing import Any

from dishka.integrations.litestar import FromDishka, inject
from litestar import Request, Response, get
from litestar.handlers import HTTPRouteHandler

from adapters.metrics import QueueState, read_queue, scrape
from entrypoints.http.auth import bearer_token
from entrypoints.settings import Settings
from incidentcore.errors import AuthenticationFailed
from incidentcore.ports import Clock, UnitOfWork

logger = logging.getLogger("incidentcore.metrics")

METRICS_PATH = "/metrics"
# The classic text format, which every Prometheus version reads (Litestar adds the charset).
EXPOSITION_MEDIA_TYPE = "text/plain; version=0.0.4"


def metrics_handler(settings: Settings) -> HTTPRouteHandler:
    @get(METRICS_PATH, include_in_schema=False)
    @inject
    async def metrics(
        request: Request[Any, Any, Any], uow: FromDishka[UnitOfWork], clock: FromDishka[Clock]
    ) -> Response[bytes]:
        if settings.metrics_token is not None:
            given = bearer_token(request.headers.get("authorization")) or ""
            if not hmac.compare_digest(given.encode(), settings.metrics_token.encode()):
                raise AuthenticationFailed("a valid bearer token (METRICS_TOKEN) is required")
        queue: QueueState | None = None
        try:
            queue = await read_queue(uow, clock)
        except Exception:  # the process's own metrics are still worth a scrape; absent gauges tell
            logger.warning("metrics: the escalation lag and outbox could not be read", exc_info=True)
        return Response(scrape(queue), media_type=EXPOSITION_MEDIA_TYPE)

    return metrics
